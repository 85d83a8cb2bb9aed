//! Match summaries on MongoDB: a `matches` collection (name from `MATCHES_COLLECTION_NAME`) with
//! one document per match, `{_id: match_id, node_id, first_timestamp, last_timestamp,
//! last_received_at, frames}`, upserted after each batch with `$min`/`$max`/`$inc` from what the
//! batch newly stored.
//!
//! # Why this is safe with many writers and many instances
//!
//! `$min`, `$max` and `$inc` commute, so concurrent batches (four writers per instance, any
//! number of instances on one database) give the same summary in any order, with no read
//! before the write. Two upserts creating the same new match can race on its `_id` (E11000 on
//! servers that do not retry that themselves); the losing statements are simply sent again,
//! when the document exists and the upsert is an update.
//!
//! # Why the summary does not drift from the events
//!
//! The events and their summary are two writes, not one transaction (FerretDB and standalone
//! servers have none). Two gaps are closed here:
//! - **The summary update fails** after the events were stored: its deltas are kept ("owed")
//!   and folded into the next batch's update (or the one at shutdown), never recounted.
//! - **The insert is ambiguous** (a timeout or a dropped connection after the server stored
//!   the documents, or the writer's own timeout cancelling the call): the writer retries the
//!   same documents and they come back as duplicates, which normally count nothing. So an
//!   attempt that ends before the summary took it (an error, or the call cancelled) marks its
//!   documents' `(_id, received_at)` *in doubt*; in the next attempt a duplicate that was in
//!   doubt counts as newly stored. A retry carries the same `received_at` as its first attempt;
//!   a client's re-POST its own, so it stays a plain duplicate, and a concurrent first attempt
//!   (in flight, not failed) leaves no mark. The marks go once the summary took the batch.
//!   (The case left: a re-POST received in the same millisecond as an original whose attempt
//!   failed ambiguously may count twice; `frames` is a display count, the events the truth.)

use std::collections::{BTreeMap, HashSet};
use std::sync::{Mutex, PoisonError};

use bson::{Bson, DateTime, Document, doc};
use futures::TryStreamExt;
use metrics::counter;
use mongodb::{Collection, Database, IndexModel};

use super::{StoreError, classify};
use crate::frame::EventDocument;
use crate::ids::MatchId;
use crate::metrics as m;
use crate::store::matches::batch_deltas;
use crate::store::{MatchQuery, MatchSummary, WriteOutcome};

const DUPLICATE_KEY: i32 = 11000;
/// Past this many in-doubt marks (batches abandoned at their deadline leave theirs behind),
/// the oldest knowledge is dropped rather than growing without bound.
const MAX_IN_DOUBT: usize = 1 << 16;
/// Statements in one summary `update` command. FerretDB 1.24's SQLite backend keeps a
/// connection from its pool of 100 for every statement of an `update` until the whole command
/// ends (each statement's query iterator is closed by a `defer` in the loop over statements),
/// so four writers each sending one statement per match its batch touched (92 matches in
/// `loadtest/bench.sh`'s ceiling run) held all 100, and FerretDB stopped answering for good:
/// every request waited on the pool (its goroutine dump, 2026-12-02). With 16 a command and
/// [`COMMANDS_IN_FLIGHT`] commands, summaries hold at most 32, whatever `WRITERS` is and however
/// many matches a batch touches. MongoDB takes the smaller commands just as well: a batch
/// touching 500 matches costs 32 round trips instead of one, beside its `insert_many`.
const STATEMENTS_PER_COMMAND: usize = 16;
/// Summary commands in flight at once, across all writers of this instance (see above).
const COMMANDS_IN_FLIGHT: usize = 2;

pub(super) struct Summaries {
    db: Database,
    collection: Collection<Document>,
    write_concern: Option<Document>,
    in_doubt: Mutex<HashSet<(u128, i64)>>,
    owed: Mutex<BTreeMap<String, MatchSummary>>,
    /// Bounds the summary commands in flight ([`COMMANDS_IN_FLIGHT`]).
    in_flight: tokio::sync::Semaphore,
}

/// One attempt at a batch: which documents an earlier attempt left in doubt, and (until the
/// summary took the batch) the marks to leave if this attempt ends early too.
pub(super) struct Attempt<'a> {
    summaries: &'a Summaries,
    keys: Vec<(u128, i64)>,
    prior: Vec<bool>,
    armed: bool,
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let mut set = self
            .summaries
            .in_doubt
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if set.len() + self.keys.len() > MAX_IN_DOUBT {
            tracing::warn!(
                marks = set.len(),
                "dropping in-doubt marks of abandoned batches"
            );
            set.clear();
        }
        set.extend(self.keys.iter().copied());
    }
}

impl Summaries {
    pub(super) fn new(db: Database, name: &str, write_concern: Option<Document>) -> Self {
        Self {
            collection: db.collection(name),
            db,
            write_concern,
            in_doubt: Mutex::new(HashSet::new()),
            owed: Mutex::new(BTreeMap::new()),
            in_flight: tokio::sync::Semaphore::new(COMMANDS_IN_FLIGHT),
        }
    }

    /// Indexes of the list order (and its node filter), `_id` as the tiebreak: FerretDB's
    /// sorts are not stable, so every sort names a total order.
    pub(super) fn index_models() -> Vec<IndexModel> {
        [
            doc! { "last_received_at": -1, "_id": 1 },
            doc! { "node_id": 1, "last_received_at": -1, "_id": 1 },
        ]
        .into_iter()
        .map(|keys| IndexModel::builder().keys(keys).build())
        .collect()
    }

    pub(super) fn collection(&self) -> &Collection<Document> {
        &self.collection
    }

    /// Starts an attempt at writing `docs`: notes which of them an earlier, unfinished attempt
    /// left in doubt. The returned guard marks the batch in doubt if it is dropped before
    /// [`Summaries::finish`] (the insert failed, or the writer's timeout cancelled the call).
    pub(super) fn begin(&self, docs: &[EventDocument]) -> Attempt<'_> {
        let keys: Vec<(u128, i64)> = docs.iter().map(|d| (d.id.0, d.received_at_ms)).collect();
        let set = self.in_doubt.lock().unwrap_or_else(PoisonError::into_inner);
        let prior = keys.iter().map(|k| set.contains(k)).collect();
        Attempt {
            summaries: self,
            keys,
            prior,
            armed: true,
        }
    }

    /// Folds what the batch newly stored into the summaries. Never fails the batch: the events
    /// are durable either way, and a failed update is owed to the next one.
    pub(super) async fn finish(
        &self,
        docs: &[EventDocument],
        mut attempt: Attempt<'_>,
        outcomes: &[WriteOutcome],
    ) {
        let counted = |i: usize, o: &WriteOutcome| match o {
            WriteOutcome::Stored => true,
            WriteOutcome::Duplicate => attempt.prior[i],
            WriteOutcome::Rejected(_) => false,
        };
        let mut deltas = batch_deltas(docs, counted, outcomes);
        {
            let mut owed = self.owed.lock().unwrap_or_else(PoisonError::into_inner);
            for (id, d) in std::mem::take(&mut *owed) {
                match deltas.get_mut(&id) {
                    Some(mine) => mine.merge(&d),
                    None => {
                        deltas.insert(id, d);
                    }
                }
            }
        }
        if let Err((e, unapplied)) = self.apply(deltas).await {
            counter!(m::MATCH_SUMMARY_ERRORS).increment(1);
            tracing::warn!(
                error = %crate::logging::error_chain(&e),
                matches = unapplied.len(),
                "updating match summaries failed; they are owed to the next batch"
            );
            let mut owed = self.owed.lock().unwrap_or_else(PoisonError::into_inner);
            for (id, d) in unapplied {
                match owed.get_mut(&id) {
                    Some(o) => o.merge(&d),
                    None => {
                        owed.insert(id, d);
                    }
                }
            }
        }
        let mut set = self.in_doubt.lock().unwrap_or_else(PoisonError::into_inner);
        for k in &attempt.keys {
            set.remove(k);
        }
        attempt.armed = false;
    }

    /// Applies what is still owed (at shutdown).
    pub(super) async fn flush(&self) {
        let owed = std::mem::take(&mut *self.owed.lock().unwrap_or_else(PoisonError::into_inner));
        if let Err((e, unapplied)) = self.apply(owed).await {
            tracing::error!(
                error = %crate::logging::error_chain(&e),
                matches = unapplied.len(),
                "match summaries owed at shutdown could not be written; their frame counts will be low"
            );
        }
    }

    /// Upserts one statement per match, in `update` commands of at most
    /// [`STATEMENTS_PER_COMMAND`], at most [`COMMANDS_IN_FLIGHT`] at once across the writers.
    /// On failure, the deltas not known to be applied (the failing command's and the rest) come
    /// back with the error, to be owed; those of commands that succeeded are not recounted.
    async fn apply(
        &self,
        deltas: BTreeMap<String, MatchSummary>,
    ) -> Result<(), (StoreError, BTreeMap<String, MatchSummary>)> {
        let mut pending = deltas.into_iter();
        loop {
            let mut chunk: BTreeMap<_, _> = pending.by_ref().take(STATEMENTS_PER_COMMAND).collect();
            if chunk.is_empty() {
                return Ok(());
            }
            let result = {
                let _permit = self.in_flight.acquire().await.expect("never closed");
                self.command(&chunk).await
            };
            if let Err(e) = result {
                chunk.extend(pending);
                return Err((e, chunk));
            }
        }
    }

    /// One `update` command with an upsert per match; statements that lost an insert race are
    /// sent once more (the document exists by then).
    async fn command(&self, deltas: &BTreeMap<String, MatchSummary>) -> Result<(), StoreError> {
        let mut statements: Vec<Document> = deltas.values().map(statement).collect();
        for _ in 0..2 {
            if statements.is_empty() {
                return Ok(());
            }
            let mut command = doc! {
                "update": self.collection.name(),
                "updates": statements.iter().cloned().map(Bson::Document).collect::<Vec<_>>(),
                "ordered": false,
            };
            if let Some(wc) = &self.write_concern {
                command.insert("writeConcern", wc.clone());
            }
            let reply = self.db.run_command(command).await.map_err(classify)?;
            let mut again = Vec::new();
            if let Ok(errors) = reply.get_array("writeErrors") {
                for e in errors.iter().filter_map(Bson::as_document) {
                    let code = e.get_i32("code").unwrap_or_default();
                    let index = e
                        .get_i32("index")
                        .ok()
                        .and_then(|i| usize::try_from(i).ok());
                    match (code, index.and_then(|i| statements.get(i))) {
                        (DUPLICATE_KEY, Some(s)) => again.push(s.clone()),
                        _ => {
                            let msg = e.get_str("errmsg").unwrap_or("unknown").to_owned();
                            return Err(StoreError::Failed(
                                format!("match summary update refused: {msg} (code {code})").into(),
                            ));
                        }
                    }
                }
            }
            if let Ok(wce) = reply.get_document("writeConcernError") {
                return Err(StoreError::Unavailable(
                    format!("match summary write concern: {wce}").into(),
                ));
            }
            statements = again;
        }
        if statements.is_empty() {
            Ok(())
        } else {
            Err(StoreError::Failed(
                "match summary upsert kept racing".into(),
            ))
        }
    }

    pub(super) async fn get(&self, id: &MatchId) -> Result<Option<MatchSummary>, StoreError> {
        let found = self
            .collection
            .find_one(doc! { "_id": id.as_str() })
            .await
            .map_err(classify)?;
        Ok(found.as_ref().and_then(from_document))
    }

    pub(super) async fn list(&self, q: &MatchQuery) -> Result<Vec<MatchSummary>, StoreError> {
        let cursor = self
            .collection
            .find(list_filter(q))
            .sort(doc! { "last_received_at": -1, "_id": 1 })
            .limit(i64::try_from(q.limit).unwrap_or(i64::MAX))
            .batch_size(u32::try_from(q.limit.min(1001)).unwrap_or(1001))
            .await
            .map_err(classify)?;
        let docs: Vec<Document> = cursor.try_collect().await.map_err(classify)?;
        Ok(docs.iter().filter_map(from_document).collect())
    }
}

fn statement(s: &MatchSummary) -> Document {
    doc! {
        "q": { "_id": s.match_id.as_str() },
        "u": {
            "$setOnInsert": { "node_id": s.node_id() },
            "$min": { "first_timestamp": DateTime::from_millis(s.first_timestamp_ms) },
            "$max": {
                "last_timestamp": DateTime::from_millis(s.last_timestamp_ms),
                "last_received_at": DateTime::from_millis(s.last_received_at_ms),
            },
            "$inc": { "frames": i64::try_from(s.frames).unwrap_or(i64::MAX) },
        },
        "upsert": true,
    }
}

fn list_filter(q: &MatchQuery) -> Document {
    let mut filter = Document::new();
    if let Some(node) = &q.node {
        // A string compared for equality: never an operator, whatever it holds.
        filter.insert("node_id", node.as_str());
    }
    let mut rcv = Document::new();
    if let Some(since) = q.since_ms {
        rcv.insert("$gte", DateTime::from_millis(since));
    }
    if let Some(until) = q.until_ms {
        rcv.insert("$lte", DateTime::from_millis(until));
    }
    if !rcv.is_empty() {
        filter.insert("last_received_at", rcv);
    }
    if let Some(c) = &q.after {
        let t = DateTime::from_millis(c.last_received_at_ms);
        filter.insert(
            "$or",
            vec![
                doc! { "last_received_at": { "$lt": t } },
                doc! { "last_received_at": t, "_id": { "$gt": c.match_id.as_str() } },
            ],
        );
    }
    filter
}

fn from_document(d: &Document) -> Option<MatchSummary> {
    let date = |k: &str| d.get_datetime(k).ok().map(|t| t.timestamp_millis());
    let frames = match d.get("frames")? {
        Bson::Int64(n) => u64::try_from(*n).ok()?,
        Bson::Int32(n) => u64::try_from(*n).ok()?,
        Bson::Double(n) => *n as u64,
        _ => return None,
    };
    Some(MatchSummary {
        match_id: MatchId::parse(d.get_str("_id").ok()?).ok()?,
        first_timestamp_ms: date("first_timestamp")?,
        last_timestamp_ms: date("last_timestamp")?,
        last_received_at_ms: date("last_received_at")?,
        frames,
    })
}
