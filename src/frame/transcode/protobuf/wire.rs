//! The protobuf wire format as prost reads it: varints, keys, wire types, value ranges,
//! skipped groups and the recursion budget. Only the input bytes; no schema beyond a field's
//! expected wire type.

use crate::frame::{FrameError, WireError};
use crate::proto::schema::{Cardinality, Field, WireType};

/// prost's recursion limit (nested messages and groups).
pub(super) const RECURSION_LIMIT: u32 = 100;

pub(super) type R<T> = Result<T, FrameError>;

pub(super) fn err(what: &'static str) -> FrameError {
    FrameError::Wire(WireError(what))
}

/// A varint at `*at`, with prost's rules (at most 10 bytes, no overflow past 64 bits).
#[inline]
pub(super) fn varint(b: &[u8], at: &mut usize) -> R<u64> {
    let mut value = 0u64;
    for count in 0..10 {
        let Some(&byte) = b.get(*at) else {
            return Err(err("invalid varint"));
        };
        *at += 1;
        value |= u64::from(byte & 0x7f) << (count * 7);
        if byte < 0x80 {
            if count == 9 && byte >= 0x02 {
                return Err(err("invalid varint"));
            }
            return Ok(value);
        }
    }
    Err(err("invalid varint"))
}

pub(super) fn wire_type(v: u64) -> R<u8> {
    match v & 7 {
        w @ 0..=5 => Ok(w as u8),
        _ => Err(err("invalid wire type")),
    }
}

/// The value's bytes after a key of wire type `wire` at `*at` (advanced past them).
pub(super) fn value_range(b: &[u8], at: &mut usize, wire: u8) -> R<(usize, usize)> {
    let start = *at;
    let len = match wire {
        0 => {
            varint(b, at)?;
            return Ok((start, *at));
        }
        1 => 8,
        5 => 4,
        2 => {
            let len = varint(b, at)?;
            let start = *at;
            if len > (b.len() - start) as u64 {
                return Err(err("buffer underflow"));
            }
            *at += len as usize;
            return Ok((start, *at));
        }
        _ => unreachable!("groups are skipped by the caller"),
    };
    if len > b.len() - start {
        return Err(err("buffer underflow"));
    }
    *at += len;
    Ok((start, *at))
}

/// Skips a group started with `tag` (its end group included), as prost's `skip_field` does.
pub(super) fn skip_group(b: &[u8], at: &mut usize, tag: u32, limit: u32) -> R<()> {
    if limit == 0 {
        return Err(err("recursion limit reached"));
    }
    loop {
        let (inner, wire) = key(b, at)?;
        match wire {
            4 if inner == tag => return Ok(()),
            4 => return Err(err("unexpected end group tag")),
            3 => skip_group(b, at, inner, limit - 1)?,
            w => {
                if limit - 1 == 0 {
                    return Err(err("recursion limit reached"));
                }
                value_range(b, at, w)?;
            }
        }
    }
}

/// The budget for the fields of a message nested in a field with budget `limit`.
pub(super) fn nested(limit: u32) -> R<u32> {
    limit
        .checked_sub(1)
        .filter(|_| limit > 0)
        .ok_or_else(|| err("recursion limit reached"))
}

/// A field key: (field number, wire type).
#[inline]
pub(super) fn key(b: &[u8], at: &mut usize) -> R<(u32, u8)> {
    let k = varint(b, at)?;
    if k > u64::from(u32::MAX) {
        return Err(err("invalid key"));
    }
    let wire = wire_type(k)?;
    let tag = (k as u32) >> 3;
    if tag == 0 {
        return Err(err("invalid tag value: 0"));
    }
    Ok((tag, wire))
}

/// The wire type a field's value may arrive with (a packable repeated field also as `Len`).
pub(super) fn accepts_wire(field: &Field, wire: u8) -> bool {
    let expected = field.kind.wire_type() as u8;
    wire == expected
        || (field.cardinality == Cardinality::Repeated
            && field.kind.is_packable()
            && wire == WireType::Len as u8)
}

/// `key` under another name where a local `key` variable shadows it.
#[inline]
pub(super) fn key_of(b: &[u8], at: &mut usize) -> R<(u32, u8)> {
    key(b, at)
}
