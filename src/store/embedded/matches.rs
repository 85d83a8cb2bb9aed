//! Match summaries in the embedded store: updated inside the batch's own write transaction, so a
//! summary is exactly as durable as the events it counts (all or nothing, no drift).
//!
//! ```text
//! matches            match_id                                  → first_ts | last_ts | last_rcv | frames
//! match_activity     desc(last_rcv) | match_id                 → ()
//! match_node         node_id | 0x00 | desc(last_rcv) | match_id → ()
//! ```
//!
//! `desc(v)` is the sign-flipped big-endian number with every bit inverted, so byte order is
//! `last_received_at` descending; then `match_id` ascending as the tiebreak: the list order,
//! served by a range scan of one index (the node index for `?node=`).

use std::collections::BTreeMap;
use std::ops::Bound;

use redb::{ReadableTable, Table, TableDefinition, WriteTransaction};

use super::key::ordered_i64;
use crate::ids::MatchId;
use crate::store::{MatchQuery, MatchSummary};

pub(super) const MATCHES: TableDefinition<&str, &[u8]> = TableDefinition::new("matches");
pub(super) const ACTIVITY: TableDefinition<&[u8], ()> = TableDefinition::new("match_activity");
pub(super) const BY_NODE: TableDefinition<&[u8], ()> = TableDefinition::new("match_node");

const VALUE_LEN: usize = 32;
const TERMINATOR: u8 = 0x00;

fn desc(v: i64) -> [u8; 8] {
    ordered_i64(v).map(|b| !b)
}

fn encode(s: &MatchSummary) -> [u8; VALUE_LEN] {
    let mut v = [0u8; VALUE_LEN];
    v[..8].copy_from_slice(&s.first_timestamp_ms.to_be_bytes());
    v[8..16].copy_from_slice(&s.last_timestamp_ms.to_be_bytes());
    v[16..24].copy_from_slice(&s.last_received_at_ms.to_be_bytes());
    v[24..].copy_from_slice(&s.frames.to_be_bytes());
    v
}

fn decode(match_id: &str, v: &[u8]) -> Option<MatchSummary> {
    let v: &[u8; VALUE_LEN] = v.try_into().ok()?;
    let n = |r: std::ops::Range<usize>| i64::from_be_bytes(v[r].try_into().expect("8 bytes"));
    Some(MatchSummary {
        match_id: MatchId::parse(match_id).ok()?,
        first_timestamp_ms: n(0..8),
        last_timestamp_ms: n(8..16),
        last_received_at_ms: n(16..24),
        frames: u64::from_be_bytes(v[24..].try_into().expect("8 bytes")),
    })
}

fn activity_key(last_rcv: i64, match_id: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(8 + match_id.len());
    k.extend_from_slice(&desc(last_rcv));
    k.extend_from_slice(match_id.as_bytes());
    k
}

fn node_prefix(node: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(node.len() + 1 + 8 + 64);
    k.extend_from_slice(node.as_bytes());
    k.push(TERMINATOR);
    k
}

fn node_key(node: &str, last_rcv: i64, match_id: &str) -> Vec<u8> {
    let mut k = node_prefix(node);
    k.extend_from_slice(&activity_key(last_rcv, match_id));
    k
}

pub(super) fn create_tables(txn: &WriteTransaction) -> Result<(), redb::Error> {
    txn.open_table(MATCHES)?;
    txn.open_table(ACTIVITY)?;
    txn.open_table(BY_NODE)?;
    Ok(())
}

/// Folds one batch's deltas into the summaries, moving each match's index entries when its
/// activity changed. Runs inside the batch's write transaction.
pub(super) fn apply(
    txn: &WriteTransaction,
    deltas: &BTreeMap<String, MatchSummary>,
) -> Result<(), redb::Error> {
    if deltas.is_empty() {
        return Ok(());
    }
    let mut matches = txn.open_table(MATCHES)?;
    let mut activity = txn.open_table(ACTIVITY)?;
    let mut by_node = txn.open_table(BY_NODE)?;
    for (id, delta) in deltas {
        let old = matches
            .get(id.as_str())?
            .and_then(|v| decode(id, v.value()));
        let new = match &old {
            Some(old) => {
                let mut s = old.clone();
                s.merge(delta);
                s
            }
            None => delta.clone(),
        };
        matches.insert(id.as_str(), encode(&new).as_slice())?;
        let node = new.match_id.node();
        if old.as_ref().map(|o| o.last_received_at_ms) != Some(new.last_received_at_ms) {
            if let Some(old) = &old {
                remove(
                    &mut activity,
                    &mut by_node,
                    node,
                    old.last_received_at_ms,
                    id,
                )?;
            }
            activity.insert(activity_key(new.last_received_at_ms, id).as_slice(), ())?;
            by_node.insert(node_key(node, new.last_received_at_ms, id).as_slice(), ())?;
        }
    }
    Ok(())
}

fn remove(
    activity: &mut Table<&[u8], ()>,
    by_node: &mut Table<&[u8], ()>,
    node: &str,
    last_rcv: i64,
    id: &str,
) -> Result<(), redb::Error> {
    activity.remove(activity_key(last_rcv, id).as_slice())?;
    by_node.remove(node_key(node, last_rcv, id).as_slice())?;
    Ok(())
}

pub(super) fn get(
    db: &redb::Database,
    match_id: &MatchId,
) -> Result<Option<MatchSummary>, redb::Error> {
    use redb::ReadableDatabase;
    let txn = db.begin_read()?;
    let matches = txn.open_table(MATCHES)?;
    Ok(matches
        .get(match_id.as_str())?
        .and_then(|v| decode(match_id.as_str(), v.value())))
}

/// One page of the list: a range scan of the activity index (or the node's), each entry
/// looked up in `matches`.
pub(super) fn list(db: &redb::Database, q: &MatchQuery) -> Result<Vec<MatchSummary>, redb::Error> {
    use redb::ReadableDatabase;
    let txn = db.begin_read()?;
    let matches = txn.open_table(MATCHES)?;
    let (index, prefix) = match &q.node {
        Some(node) => (txn.open_table(BY_NODE)?, node_prefix(node.as_str())),
        None => (txn.open_table(ACTIVITY)?, Vec::new()),
    };
    let with_prefix = |tail: &[u8]| {
        let mut k = prefix.clone();
        k.extend_from_slice(tail);
        k
    };
    // Descending activity: `until` is where the range starts, `since` where it ends.
    let start = with_prefix(&q.until_ms.map(desc).unwrap_or([0; 8]));
    let lower = match &q.after {
        Some(c) => {
            let after = with_prefix(&activity_key(c.last_received_at_ms, c.match_id.as_str()));
            if after >= start {
                Bound::Excluded(after)
            } else {
                Bound::Included(start)
            }
        }
        None => Bound::Included(start),
    };
    let upper = match q.since_ms {
        Some(since) if since > i64::MIN => Bound::Excluded(with_prefix(&desc(since - 1))),
        _ if q.node.is_some() => {
            let mut k = prefix[..prefix.len() - 1].to_vec();
            k.push(TERMINATOR + 1);
            Bound::Excluded(k)
        }
        _ => Bound::Unbounded,
    };
    if let (Bound::Included(l) | Bound::Excluded(l), Bound::Excluded(u)) = (&lower, &upper)
        && l >= u
    {
        return Ok(Vec::new());
    }
    let mut out = Vec::with_capacity(q.limit.min(1024));
    let lower = lower.as_ref().map(Vec::as_slice);
    let upper = upper.as_ref().map(Vec::as_slice);
    for entry in index.range::<&[u8]>((lower, upper))?.take(q.limit) {
        let (k, _) = entry?;
        let k = k.value();
        let Some(id) = k
            .get(prefix.len() + 8..)
            .and_then(|b| std::str::from_utf8(b).ok())
        else {
            continue;
        };
        if let Some(s) = matches.get(id)?.and_then(|v| decode(id, v.value())) {
            out.push(s);
        }
    }
    Ok(out)
}
