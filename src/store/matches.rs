//! Per-match summaries: what `GET /matches` lists without ever scanning the events.
//!
//! Each backend keeps one summary per match and updates it with every batch it writes, from
//! what that batch *newly* stored (a duplicate adds nothing: its frame was counted when it was
//! first stored). Every field combines by an operation that commutes (`min`, `max`, `+`), so
//! batches may be applied in any order, by any number of writers or service instances sharing
//! one database, and the summary is the same.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::WriteOutcome;
use crate::frame::EventDocument;
use crate::ids::{MatchId, NodeId};

/// One match as the list shows it. Times are milliseconds since the Unix epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchSummary {
    pub match_id: MatchId,
    /// Earliest and latest frame timestamp stored.
    pub first_timestamp_ms: i64,
    pub last_timestamp_ms: i64,
    /// When the most recently received stored frame arrived: the match's activity.
    pub last_received_at_ms: i64,
    /// Frames stored (each distinct frame once).
    pub frames: u64,
}

impl MatchSummary {
    pub fn node_id(&self) -> &str {
        self.match_id.node()
    }

    pub fn cursor(&self) -> MatchCursor {
        MatchCursor {
            last_received_at_ms: self.last_received_at_ms,
            match_id: self.match_id.clone(),
        }
    }

    /// Folds in what another batch stored.
    pub(crate) fn merge(&mut self, other: &MatchSummary) {
        self.first_timestamp_ms = self.first_timestamp_ms.min(other.first_timestamp_ms);
        self.last_timestamp_ms = self.last_timestamp_ms.max(other.last_timestamp_ms);
        self.last_received_at_ms = self.last_received_at_ms.max(other.last_received_at_ms);
        self.frames += other.frames;
    }
}

/// A page of the match list, most recently active first.
#[derive(Debug, Clone)]
pub struct MatchQuery {
    pub node: Option<NodeId>,
    /// Activity (`last_received_at`) lower bound, inclusive.
    pub since_ms: Option<i64>,
    /// Activity upper bound, inclusive.
    pub until_ms: Option<i64>,
    /// Only matches strictly after this position in the list order.
    pub after: Option<MatchCursor>,
    pub limit: usize,
}

/// Position in the list order: `last_received_at` descending, then `match_id` ascending (the
/// tiebreak makes the order total, so keyset paging neither skips nor repeats).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchCursor {
    pub last_received_at_ms: i64,
    pub match_id: MatchId,
}

impl MatchCursor {
    pub fn encode(&self) -> String {
        let mut bytes = Vec::with_capacity(8 + self.match_id.as_str().len());
        bytes.extend_from_slice(&self.last_received_at_ms.to_be_bytes());
        bytes.extend_from_slice(self.match_id.as_str().as_bytes());
        URL_SAFE_NO_PAD.encode(bytes)
    }

    pub fn decode(s: &str) -> Option<Self> {
        let bytes = URL_SAFE_NO_PAD.decode(s).ok()?;
        let (t, id) = bytes.split_at_checked(8)?;
        let match_id = MatchId::parse(std::str::from_utf8(id).ok()?).ok()?;
        // Only the canonical spelling this service hands out.
        (match_id.as_str().as_bytes() == id).then_some(Self {
            last_received_at_ms: i64::from_be_bytes(t.try_into().ok()?),
            match_id,
        })
    }
}

/// What one batch adds to each match it touched: only the documents `counted` says were newly
/// stored. Keyed by match id, so a backend applies them in a fixed order.
pub(crate) fn batch_deltas(
    docs: &[EventDocument],
    counted: impl Fn(usize, &WriteOutcome) -> bool,
    outcomes: &[WriteOutcome],
) -> BTreeMap<String, MatchSummary> {
    let mut deltas: BTreeMap<String, MatchSummary> = BTreeMap::new();
    for (i, (doc, outcome)) in docs.iter().zip(outcomes).enumerate() {
        if !counted(i, outcome) {
            continue;
        }
        let one = MatchSummary {
            match_id: doc.match_id.clone(),
            first_timestamp_ms: doc.timestamp_ms,
            last_timestamp_ms: doc.timestamp_ms,
            last_received_at_ms: doc.received_at_ms,
            frames: 1,
        };
        match deltas.get_mut(doc.match_id.as_str()) {
            Some(d) => d.merge(&one),
            None => {
                deltas.insert(doc.match_id.as_str().to_owned(), one);
            }
        }
    }
    deltas
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_rejects_garbage() {
        let c = MatchCursor {
            last_received_at_ms: 1_700_000_000_123,
            match_id: MatchId::parse("892e23e2-8272-4b07-85e8-5e291ac85f93.eu.node-1").unwrap(),
        };
        assert_eq!(MatchCursor::decode(&c.encode()), Some(c.clone()));
        assert_eq!(MatchCursor::decode("nope"), None);
        assert_eq!(MatchCursor::decode(""), None);
        // A non-canonical (upper-case) id inside is not a cursor this service made.
        let mut bytes = 5i64.to_be_bytes().to_vec();
        bytes.extend_from_slice(b"892E23E2-8272-4B07-85E8-5E291AC85F93.n");
        assert_eq!(MatchCursor::decode(&URL_SAFE_NO_PAD.encode(bytes)), None);
    }
}
