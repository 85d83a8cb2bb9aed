//! What a read asks for, and the opaque paging cursor.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::frame::{EventId, RenderError, StoredEvent};
use crate::ids::MatchId;

/// One page (or all) of a match's events.
#[derive(Debug, Clone)]
pub struct ReadQuery {
    pub match_id: MatchId,
    /// Only events strictly after this position.
    pub after: Option<Cursor>,
    /// Frame timestamp lower bound, inclusive (ms since the epoch).
    pub since_ms: Option<i64>,
    /// Frame timestamp upper bound, inclusive (ms since the epoch).
    pub until_ms: Option<i64>,
    /// At most this many events; `None` for all.
    pub limit: Option<u64>,
}

impl ReadQuery {
    pub fn all(match_id: MatchId) -> Self {
        Self {
            match_id,
            after: None,
            since_ms: None,
            until_ms: None,
            limit: None,
        }
    }
}

/// Position of an event in its match's order: the sort key itself, so paging by "everything
/// after this key" has no gaps and no repeats even while new events arrive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cursor {
    pub timestamp_ms: i64,
    pub received_at_ms: i64,
    pub id: EventId,
}

const CURSOR_LEN: usize = 8 + 8 + 16;

impl Cursor {
    pub fn of(event: &StoredEvent) -> Result<Self, RenderError> {
        Ok(Self {
            timestamp_ms: event.timestamp_ms()?,
            received_at_ms: event.received_at_ms()?,
            id: event.id()?,
        })
    }

    pub fn encode(&self) -> String {
        let mut bytes = [0u8; CURSOR_LEN];
        bytes[..8].copy_from_slice(&self.timestamp_ms.to_be_bytes());
        bytes[8..16].copy_from_slice(&self.received_at_ms.to_be_bytes());
        bytes[16..].copy_from_slice(&self.id.0.to_be_bytes());
        URL_SAFE_NO_PAD.encode(bytes)
    }

    pub fn decode(s: &str) -> Option<Self> {
        let bytes: [u8; CURSOR_LEN] = URL_SAFE_NO_PAD.decode(s).ok()?.try_into().ok()?;
        Some(Self {
            timestamp_ms: i64::from_be_bytes(bytes[..8].try_into().ok()?),
            received_at_ms: i64::from_be_bytes(bytes[8..16].try_into().ok()?),
            id: EventId(u128::from_be_bytes(bytes[16..].try_into().ok()?)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_rejects_garbage() {
        let c = Cursor {
            timestamp_ms: -5,
            received_at_ms: 1_700_000_000_000,
            id: EventId(u128::MAX - 7),
        };
        assert_eq!(Cursor::decode(&c.encode()), Some(c));
        assert_eq!(Cursor::decode("not a cursor"), None);
        assert_eq!(Cursor::decode(&c.encode()[1..]), None);
    }
}
