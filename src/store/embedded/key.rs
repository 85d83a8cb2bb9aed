//! Key layout of the `events` table: one match is one contiguous key range, in read order.
//!
//! ```text
//! match_id bytes | 0x00 | timestamp_ms | received_at_ms | _id
//!                          8 B, BE,       8 B, BE,          16 B, BE
//!                          sign flipped   sign flipped
//! ```
//!
//! Flipping the sign bit makes big-endian two's complement sort like the signed number, so byte
//! order is exactly `(match_id, timestamp, received_at, _id)`: the order reads serve and the
//! paging cursor encodes. A match id is visible ASCII and never holds 0x00, so the terminator
//! keeps `<uuid>.node` and `<uuid>.node.x` apart (0x00 sorts below every byte of a match id).

use std::ops::Bound;

use super::super::{Cursor, ReadQuery};
use crate::frame::EventId;

const TERMINATOR: u8 = 0x00;
/// Bytes after the terminator: timestamp, received_at, id.
const POSITION_LEN: usize = 8 + 8 + 16;

/// A signed number as 8 bytes that sort like the number.
pub(super) fn ordered_i64(v: i64) -> [u8; 8] {
    (v.cast_unsigned() ^ (1 << 63)).to_be_bytes()
}

/// The `events` key of one document, written into `out` (cleared first); `false` when the match
/// id holds the terminator byte and so cannot be filed (never the case for a parsed `MatchId`).
pub(super) fn event_key(
    out: &mut Vec<u8>,
    match_id: &str,
    timestamp_ms: i64,
    received_at_ms: i64,
    id: EventId,
) -> bool {
    out.clear();
    if match_id.as_bytes().contains(&TERMINATOR) {
        return false;
    }
    out.reserve(match_id.len() + 1 + POSITION_LEN);
    out.extend_from_slice(match_id.as_bytes());
    out.push(TERMINATOR);
    out.extend_from_slice(&ordered_i64(timestamp_ms));
    out.extend_from_slice(&ordered_i64(received_at_ms));
    out.extend_from_slice(&id.0.to_be_bytes());
    true
}

/// The part of `events` a read covers: from `lower` to `upper` (exclusive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct KeyRange {
    pub lower: Bound<Vec<u8>>,
    pub upper: Vec<u8>,
}

/// The key range of a read: the match, narrowed by `since`/`until` (inclusive, on the frame
/// timestamp) and started strictly after `after`. `None` when no key can fall inside.
pub(super) fn read_range(q: &ReadQuery) -> Option<KeyRange> {
    let match_id = q.match_id.as_str().as_bytes();
    if match_id.contains(&TERMINATOR) {
        return None;
    }
    let with_prefix = |tail: &[u8]| {
        let mut k = Vec::with_capacity(match_id.len() + 1 + tail.len());
        k.extend_from_slice(match_id);
        k.push(TERMINATOR);
        k.extend_from_slice(tail);
        k
    };

    // The tighter of `since` (inclusive) and `after` (exclusive). A position key extends the
    // 8-byte timestamp of a `since` key, so plain byte order picks the right one.
    let since = match q.since_ms {
        Some(since) => with_prefix(&ordered_i64(since)),
        None => with_prefix(&[]),
    };
    let lower = match q.after {
        Some(Cursor {
            timestamp_ms,
            received_at_ms,
            id,
        }) => {
            let mut tail = [0u8; POSITION_LEN];
            tail[..8].copy_from_slice(&ordered_i64(timestamp_ms));
            tail[8..16].copy_from_slice(&ordered_i64(received_at_ms));
            tail[16..].copy_from_slice(&id.0.to_be_bytes());
            let after = with_prefix(&tail);
            if after >= since {
                Bound::Excluded(after)
            } else {
                Bound::Included(since)
            }
        }
        None => Bound::Included(since),
    };

    // Everything up to the end of `until`'s millisecond, else up to the end of the match (the
    // terminator bumped to 0x01 sorts after every key of this match and before any other's).
    let upper = match q.until_ms {
        Some(until) if until < i64::MAX => with_prefix(&ordered_i64(until + 1)),
        _ => {
            let mut k = match_id.to_vec();
            k.push(TERMINATOR + 1);
            k
        }
    };

    let (Bound::Included(start) | Bound::Excluded(start)) = &lower else {
        unreachable!("the lower bound is always a key")
    };
    (start < &upper).then_some(KeyRange { lower, upper })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordered_i64_sorts_like_the_number() {
        let values = [i64::MIN, -1_000, -1, 0, 1, 1_700_000_000_000, i64::MAX];
        for pair in values.windows(2) {
            assert!(ordered_i64(pair[0]) < ordered_i64(pair[1]), "{pair:?}");
        }
    }

    #[test]
    fn event_key_refuses_the_terminator() {
        let mut k = Vec::new();
        assert!(!event_key(&mut k, "a\0b", 0, 0, EventId(1)));
        assert!(event_key(&mut k, "ab", 0, 0, EventId(1)));
        assert_eq!(k.len(), 2 + 1 + POSITION_LEN);
    }
}
