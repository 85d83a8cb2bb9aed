//! The bounds on what one frame may decode to, in one place. Every decoder of frames (today's
//! serde/prost decode in [`super::decode`]; any replacement transcoder) must enforce these same
//! constants, so that a body which fits `MAX_BODY_BYTES` cannot make the service allocate
//! hundreds of times its size.
//!
//! Why they exist: a 1 MB JSON body of 340 000 empty messages (`"players":[{},{},…]`) decoded
//! into ~230 MB of structs, because each `{}` becomes a whole `TeamMember`; the protobuf form
//! (two bytes an empty message) is worse. So before decoding, a cheap scan (one pass over the
//! bytes, no allocation) counts what the body would decode to and refuses it beyond:
//!
//! - [`MAX_DEPTH`] nesting levels: the schema is at most ~6 deep; deeper is not a frame (400).
//! - [`MAX_MESSAGES`] messages (JSON objects; protobuf length-delimited fields that parse as a
//!   message, map entries included): an honest frame has a few hundred (413).
//! - [`MAX_ELEMENTS`] values of any kind (array items, object members, scalars) in JSON, where
//!   `0,` (two bytes) decodes to eight (413). Protobuf scalars take at least a byte on the wire
//!   and decode to at most eight, so the body limit bounds them already.
//! - [`MAX_DOCUMENT_BYTES`] for the stored document, checked when it is built: MongoDB refuses
//!   a document over 16 MiB, and both stores keep the same documents (413).
//!
//! The scan of a protobuf body cannot know (without the schema) whether a length-delimited
//! field is a string or a message, so it counts it as a message when its bytes parse as one:
//! an over-count only, and never enough to refuse an honest frame: text does not parse as
//! thousands of nested messages (every counted message takes at least two bytes of the body).

use super::{Encoding, FrameError};

/// Deepest nesting of messages and arrays (the schema needs ~6; serde_json stops at 128).
pub const MAX_DEPTH: usize = 32;
/// Most messages one frame may hold (objects in JSON; sub-messages and map entries in
/// protobuf). Each decodes to a struct of up to ~1 KB, so this bounds a decode to a few MB.
pub const MAX_MESSAGES: usize = 8 * 1024;
/// Most values of any kind one frame may hold (an honest 30 KB frame has ~3 000).
pub const MAX_ELEMENTS: usize = 256 * 1024;
/// MongoDB's limit on one BSON document (16 MiB); the stored document must fit it.
pub const MAX_DOCUMENT_BYTES: usize = 16 * 1024 * 1024;

/// Which bound a body exceeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    #[error("frame nests deeper than {MAX_DEPTH} levels")]
    TooDeep,
    #[error("frame holds more than {MAX_MESSAGES} messages")]
    TooManyMessages,
    #[error("frame holds more than {MAX_ELEMENTS} values")]
    TooManyElements,
    #[error("the stored document would exceed {MAX_DOCUMENT_BYTES} bytes (MongoDB's limit)")]
    DocumentTooLarge,
}

/// Refuses a body that would decode past the bounds; cheap (one pass, no allocation).
pub fn check(body: &[u8], encoding: Encoding) -> Result<(), FrameError> {
    match encoding {
        Encoding::Json => check_json(body),
        Encoding::Protobuf => check_protobuf(body),
    }
    .map_err(FrameError::Limit)
}

/// Refuses a built document MongoDB could not store ([`MAX_DOCUMENT_BYTES`]); the embedded
/// store keeps the same bound, so both stores accept the same frames.
pub fn check_document(doc: &super::EventDocument) -> Result<(), FrameError> {
    if doc.size() > MAX_DOCUMENT_BYTES {
        return Err(FrameError::Limit(LimitError::DocumentTooLarge));
    }
    Ok(())
}

/// Counts `{`/`[` (containers), `{` (messages) and `,` (one more value each) outside strings.
/// Malformed JSON is left to the parser; this only bounds what it could build.
fn check_json(body: &[u8]) -> Result<(), LimitError> {
    let (mut depth, mut messages, mut elements) = (0usize, 0usize, 0usize);
    let mut in_string = false;
    let mut escaped = false;
    for &b in body {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                elements += 1;
                if b == b'{' {
                    messages += 1;
                }
                if depth > MAX_DEPTH {
                    return Err(LimitError::TooDeep);
                }
                if messages > MAX_MESSAGES {
                    return Err(LimitError::TooManyMessages);
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            b',' => elements += 1,
            _ => continue,
        }
        if elements > MAX_ELEMENTS {
            return Err(LimitError::TooManyElements);
        }
    }
    Ok(())
}

fn check_protobuf(body: &[u8]) -> Result<(), LimitError> {
    // A body that does not parse is left to prost to report.
    match scan_message(body, 1)? {
        Some(messages) if messages > MAX_MESSAGES => Err(LimitError::TooManyMessages),
        _ => Ok(()),
    }
}

/// A protobuf body shorter than this cannot hold more than [`MAX_MESSAGES`] messages, so the
/// pre-scan cannot refuse it for that: every message the scan counts is a distinct
/// length-delimited field whose key and length take at least two bytes of the body that no
/// other counted message's key or length uses (a nested message's are inside its parent's
/// payload, but not in the parent's own key or length). So `count ≤ len / 2`, and more than
/// `MAX_MESSAGES` needs at least `2 * (MAX_MESSAGES + 1)` bytes.
pub const PROTOBUF_FEW_MESSAGES_BYTES: usize = 2 * (MAX_MESSAGES + 1);

/// The fewest bytes a length-delimited payload the pre-scan reads at `depth` (the top body is
/// at depth 1) must have to nest too deep ([`LimitError::TooDeep`]): at depth `MAX_DEPTH` the
/// scan refuses a field whose payload is a non-empty message, which takes key + length + a
/// field of at least two bytes = 4; each level above adds a key and a length (2 bytes). A
/// payload read past `MAX_DEPTH` is refused when it is a non-empty message itself (2 bytes).
pub(crate) const fn min_too_deep_len(depth: usize) -> usize {
    if depth > MAX_DEPTH {
        2
    } else {
        4 + 2 * (MAX_DEPTH - depth)
    }
}

/// Whether the pre-scan, reading `payload` (a length-delimited field's bytes) at `depth`,
/// would find it nested too deep: the same verdict `check` reaches for this payload, so a
/// decoder that reads the body with the schema (and so knows which payloads are strings,
/// packed scalars or unknown fields the scan would still look into) can ask it of those
/// payloads only, and skip the whole-body scan when none is (see [`super::decode_document`]).
/// Most payloads are shorter than the fewest bytes that can nest that deep: one comparison.
pub(crate) fn payload_too_deep(payload: &[u8], depth: usize) -> bool {
    if payload.len() < min_too_deep_len(depth) {
        return false;
    }
    if depth > MAX_DEPTH {
        return is_flat_message(payload);
    }
    matches!(scan_message(payload, depth), Err(LimitError::TooDeep))
}

fn varint(buf: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let (&b, rest) = buf.split_first()?;
        *buf = rest;
        value |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return Some(value);
        }
    }
    None
}

/// One field: its wire type and, for a length-delimited one, its payload. `None`: not a field.
fn field<'a>(buf: &mut &'a [u8]) -> Option<(u64, &'a [u8])> {
    let tag = varint(buf)?;
    if tag >> 3 == 0 {
        return None;
    }
    match tag & 7 {
        0 => varint(buf).map(|_| (0, &[][..])),
        1 | 5 => {
            let n = if tag & 7 == 1 { 8 } else { 4 };
            let rest = buf.get(n..)?;
            *buf = rest;
            Some((tag & 7, &[][..]))
        }
        2 => {
            let len = usize::try_from(varint(buf)?).ok()?;
            let (inner, rest) = buf.split_at_checked(len)?;
            *buf = rest;
            Some((2, inner))
        }
        _ => None,
    }
}

/// The messages in `buf` read as a message (itself excluded), or `None` when the bytes are not
/// a message. Recursion stops at [`MAX_DEPTH`]; a message nested deeper is [`LimitError::TooDeep`].
/// Scalars are not counted: on the wire each takes at least a byte and decodes to at most
/// eight, so the body limit bounds them already.
fn scan_message(mut buf: &[u8], depth: usize) -> Result<Option<usize>, LimitError> {
    let mut messages = 0usize;
    while !buf.is_empty() {
        let Some((wire, inner)) = field(&mut buf) else {
            return Ok(None);
        };
        if wire != 2 {
            continue;
        }
        if inner.is_empty() {
            // An empty payload decodes to an empty message as far as memory goes.
            messages += 1;
        } else if depth >= MAX_DEPTH {
            if is_flat_message(inner) {
                return Err(LimitError::TooDeep);
            }
        } else if let Some(nested) = scan_message(inner, depth + 1)? {
            messages = messages.saturating_add(1 + nested);
        }
    }
    Ok(Some(messages))
}

/// Whether `buf` parses as a message, without looking inside its fields.
fn is_flat_message(mut buf: &[u8]) -> bool {
    while !buf.is_empty() {
        if field(&mut buf).is_none() {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_bounds() {
        let many = format!("{{\"a\":[{}]}}", vec!["{}"; MAX_MESSAGES + 1].join(","));
        assert_eq!(
            check_json(many.as_bytes()),
            Err(LimitError::TooManyMessages)
        );
        let deep = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        assert_eq!(check_json(deep.as_bytes()), Err(LimitError::TooDeep));
        let values = format!("[{}]", vec!["0"; MAX_ELEMENTS + 1].join(","));
        assert_eq!(
            check_json(values.as_bytes()),
            Err(LimitError::TooManyElements)
        );
        // Braces and commas inside strings are data.
        let strings = format!("[\"{}\"]", "{,[\\\"".repeat(MAX_ELEMENTS));
        assert_eq!(check_json(strings.as_bytes()), Ok(()));
    }

    #[test]
    fn protobuf_bounds() {
        // Field 1, an empty message, many times.
        let many = [0x0a, 0x00].repeat(MAX_MESSAGES + 1);
        assert_eq!(check_protobuf(&many), Err(LimitError::TooManyMessages));
        assert_eq!(check_protobuf(&many[..2 * MAX_MESSAGES]), Ok(()));
        let mut deep = vec![0x08, 0x01];
        for _ in 0..=MAX_DEPTH {
            let mut outer = vec![0x0a, u8::try_from(deep.len()).unwrap()];
            outer.extend(&deep);
            deep = outer;
        }
        assert_eq!(check_protobuf(&deep), Err(LimitError::TooDeep));
        // Not a message: left to prost. A long string of scalars' bytes: not counted.
        assert_eq!(check_protobuf(&[0xff]), Ok(()));
        let string = [&[0x1a, 0x80, 0x80, 0x04][..], &[b'p'; 65536]].concat();
        assert_eq!(check_protobuf(&string), Ok(()));
    }

    /// `payload_too_deep`'s length bound is exact: the shortest payload that nests too deep at
    /// each depth is refused by the whole-body scan, and one byte less cannot be.
    #[test]
    fn too_deep_length_bound_is_exact() {
        for depth in 1..=MAX_DEPTH + 1 {
            // The shortest too-deep payload read at `depth`: a chain of empty-keyed fields
            // down to depth MAX_DEPTH, whose field holds a 2-byte message (`08 00`).
            let mut payload = vec![0x08, 0x00];
            if depth <= MAX_DEPTH {
                for _ in depth..=MAX_DEPTH {
                    let mut outer = vec![0x0a, u8::try_from(payload.len()).unwrap()];
                    outer.extend(&payload);
                    payload = outer;
                }
            }
            assert_eq!(payload.len(), min_too_deep_len(depth), "depth {depth}");
            assert!(payload_too_deep(&payload, depth), "depth {depth}");
            // The same payload as the body's field at `depth - 1`: the whole scan agrees.
            if depth >= 2 {
                let mut body = vec![0x0a, u8::try_from(payload.len()).unwrap()];
                body.extend(&payload);
                assert_eq!(scan_message(&body, depth - 1), Err(LimitError::TooDeep));
            }
            assert!(!payload_too_deep(&payload[..payload.len() - 1], depth));
            // One level shallower fits.
            if depth <= MAX_DEPTH {
                assert!(!payload_too_deep(&payload[2..], depth), "depth {depth}");
            }
        }
    }
}
