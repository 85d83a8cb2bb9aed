//! The bounds of `frame::limits` for protobuf bodies, which the transcoder does not pre-scan
//! when it can prove the scan would pass (a body under `PROTOBUF_FEW_MESSAGES_BYTES`, no
//! payload the scan reads without the schema nesting too deep): at each bound, in every kind of
//! payload the scan looks into without the schema (unknown fields, strings, packed scalars, map
//! entries, timestamps, a oneof's replaced member, a merged message), a body is accepted by
//! both paths (or refused for the same other reason) and one level past it refused by both as
//! too deep; and many empty messages, at and past the message bound.

use super::{Verdict, agree};
use crate::frame::Encoding;
use crate::frame::limits::{LimitError, MAX_DEPTH, MAX_MESSAGES, PROTOBUF_FEW_MESSAGES_BYTES};

const SESSION: &[u8] = b"892e23e2-8272-4b07-85e8-5e291ac85f93";

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A length-delimited field.
fn ld(field: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    varint(&mut out, u64::from(field) << 3 | 2);
    varint(&mut out, payload.len() as u64);
    out.extend_from_slice(payload);
    out
}

/// A message `08 00` wrapped in `wraps` levels of field 1: read at depth `e`, it nests too
/// deep from `wraps = MAX_DEPTH - e + 1` on.
fn deep(wraps: usize) -> Vec<u8> {
    let mut p = vec![0x08, 0x00];
    for _ in 0..wraps {
        p = ld(1, &p);
    }
    p
}

/// `p` padded with zeros to whole packed values of `width` bytes, so the transcoder accepts
/// it (every value finite: no byte of `deep` is over 0x7f) and only the bound can refuse it.
/// The scan meets the deep field before the padding, so the padding changes no verdict of it.
fn pad(p: &[u8], width: usize) -> Vec<u8> {
    let mut p = p.to_vec();
    p.resize(p.len().next_multiple_of(width), 0);
    p
}

fn session(extra: &[u8]) -> Vec<u8> {
    ld(4, &[ld(2, SESSION), extra.to_vec()].concat())
}

fn class(body: &[u8]) -> String {
    match agree(body, Encoding::Protobuf) {
        Verdict::Accepted { .. } => "accepted".into(),
        Verdict::Refused { class, .. } => class,
    }
}

/// Each case: its name, the depth the pre-scan reads the deep payload at, and the body with
/// that payload.
type Case = (&'static str, usize, fn(&[u8]) -> Vec<u8>);

const CASES: &[Case] = &[
    ("unknown top-level field", 2, |p| {
        [ld(99, p), session(&[])].concat()
    }),
    ("unknown field in the session", 3, |p| session(&ld(99, p))),
    ("string (sessionip)", 3, |p| session(&ld(5, p))),
    ("packed doubles (disc.position)", 4, |p| {
        session(&ld(8, &ld(1, &pad(p, 8))))
    }),
    ("packed floats (bone_t)", 4, |p| {
        [ld(5, &ld(1, &ld(1, &pad(p, 4)))), session(&[])].concat()
    }),
    ("map value (generic_event.data)", 5, |p| {
        let entry = [ld(1, b"k"), ld(2, p)].concat();
        [ld(3, &ld(60, &ld(2, &entry))), session(&[])].concat()
    }),
    ("unknown field in a map entry", 5, |p| {
        let entry = [ld(1, b"k"), ld(7, p)].concat();
        [ld(3, &ld(60, &ld(2, &entry))), session(&[])].concat()
    }),
    ("unknown field in the timestamp", 3, |p| {
        [ld(2, &ld(9, p)), session(&[])].concat()
    }),
    ("replaced oneof member", 4, |p| {
        let event = [ld(60, &ld(3, p)), ld(10, &[])].concat();
        [ld(3, &event), session(&[])].concat()
    }),
    ("merged session", 3, |p| {
        [session(&[]), ld(4, &ld(99, p))].concat()
    }),
    ("before a missing session", 2, |p| ld(99, p)),
];

#[test]
fn nesting_is_bounded_in_every_payload_the_scan_reads_without_the_schema() {
    let too_deep = format!("limit {}", LimitError::TooDeep);
    for &(what, depth, body) in CASES {
        let at = body(&deep(MAX_DEPTH - depth));
        let past = body(&deep(MAX_DEPTH - depth + 1));
        assert!(past.len() < PROTOBUF_FEW_MESSAGES_BYTES);
        let (at_class, past_class) = (class(&at), class(&past));
        println!("{what}: at the bound {at_class}; one past it {past_class}");
        assert_ne!(at_class, too_deep, "{what}: at the bound");
        assert_eq!(past_class, too_deep, "{what}: one past it");
        // Deeper still, and the deep payload twice: the same.
        assert_eq!(class(&body(&deep(MAX_DEPTH + 3))), too_deep, "{what}");
        assert_eq!(class(&[past.clone(), past].concat()), too_deep, "{what}");
    }
}

#[test]
fn messages_are_bounded_at_and_past_the_bound() {
    let too_many = format!("limit {}", LimitError::TooManyMessages);
    // Field 15, an empty message: two bytes each.
    let empties = |n: usize| [0x7a, 0x00].repeat(n);
    let body = |n: usize| [session(&[]), empties(n)].concat();
    // The session and (at most) its id as a message: a few under the bound is accepted.
    assert_eq!(class(&body(MAX_MESSAGES - 2)), "accepted");
    assert_eq!(class(&body(MAX_MESSAGES + 1)), too_many);
    assert_eq!(class(&empties(MAX_MESSAGES + 1)), too_many);
    // The largest body the transcoder does not pre-scan, and the smallest one it does: both
    // hold under MAX_MESSAGES messages (the session takes some of the bytes).
    for len in [PROTOBUF_FEW_MESSAGES_BYTES - 1, PROTOBUF_FEW_MESSAGES_BYTES] {
        let mut b = session(&[]);
        if (len - b.len()) % 2 == 1 {
            // Field 16, a varint: three bytes.
            b.extend([0x80, 0x01, 0x00]);
        }
        let n = (len - b.len()) / 2;
        b.extend(empties(n));
        assert_eq!(b.len(), len);
        assert_eq!(class(&b), "accepted", "{len}");
    }
}
