//! The MongoDB backend: the production store. The service is stateless, so users scale out by
//! running more instances against a replica set or a sharded cluster (shard key
//! `{match_id: "hashed"}` or `{match_id: 1, timestamp: 1}`).

use std::time::Duration;

use async_trait::async_trait;
use bson::{Bson, RawDocumentBuf, doc};
use futures::{StreamExt, TryStreamExt};
use mongodb::error::{Error as MongoError, ErrorKind};
use mongodb::options::{Acknowledgment, ClientOptions, CollectionOptions, WriteConcern};
use mongodb::{Client, Collection, IndexModel};

use super::{EventStream, MatchQuery, MatchSummary, ReadQuery, Store, StoreError, WriteOutcome};
use crate::frame::{EventDocument, StoredEvent};
use crate::ids::MatchId;

mod matches;

/// Server codes that mean "try again shortly": a primary stepping down, a node shutting down
/// or recovering, a network hiccup reported by the server.
const TRANSIENT_CODES: [i32; 13] = [
    11600, 11602, 10107, 13435, 13436, 189, 91, 7, 6, 89, 9001, 134, 262,
];
const DUPLICATE_KEY: i32 = 11000;

/// Settings for [`MongoStore::connect`].
#[derive(Debug, Clone)]
pub struct MongoSettings {
    pub uri: String,
    pub database: String,
    pub collection: String,
    /// Collection of the per-match summaries (`GET /matches`).
    pub matches_collection: String,
    /// Bounds connecting, server selection, pings and the first batch of a read.
    pub timeout: Duration,
    /// `w`: `majority`, a node count, or a tag set name; `None` keeps the server's default.
    pub write_concern: Option<String>,
    /// Ask for the write to be journaled before it is acknowledged.
    pub journal: Option<bool>,
}

pub struct MongoStore {
    client: Client,
    collection: Collection<RawDocumentBuf>,
    summaries: matches::Summaries,
    timeout: Duration,
}

impl MongoStore {
    /// Connects and checks the server answers within the timeout, so a wrong URI fails start-up
    /// rather than the first request.
    pub async fn connect(settings: &MongoSettings) -> Result<Self, ConnectError> {
        let started = std::time::Instant::now();
        let mut options =
            tokio::time::timeout(settings.timeout, ClientOptions::parse(&settings.uri))
                .await
                .map_err(|_| ConnectError::Unreachable {
                    hosts: "the hosts of its DNS seed list".into(),
                    waited: started.elapsed(),
                    cause: "resolving the mongodb+srv:// name timed out".into(),
                })?
                .map_err(|e| ConnectError::InvalidUri(driver_message(&e)))?;
        let hosts = options
            .hosts
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",");
        options.connect_timeout = Some(settings.timeout);
        options.server_selection_timeout = Some(settings.timeout);
        options
            .app_name
            .get_or_insert_with(|| "session-events".into());
        let client = Client::with_options(options)
            .map_err(|e| ConnectError::InvalidUri(driver_message(&e)))?;

        let write_concern = WriteConcern::builder()
            .w(settings.write_concern.as_deref().map(parse_w))
            .journal(settings.journal)
            .w_timeout(settings.timeout)
            .build();
        let write_concern_doc = bson::to_document(&write_concern)
            .ok()
            .filter(|d| !d.is_empty());
        let db = client.database(&settings.database);
        let collection = db.collection_with_options(
            &settings.collection,
            CollectionOptions::builder()
                .write_concern(write_concern)
                .build(),
        );
        let summaries =
            matches::Summaries::new(db, &settings.matches_collection, write_concern_doc);
        let store = Self {
            client,
            collection,
            summaries,
            timeout: settings.timeout,
        };
        tracing::info!(hosts = %hosts, timeout = ?settings.timeout, "connecting to MongoDB");
        match store.ping().await {
            Ok(()) => Ok(store),
            Err(StoreError::Timeout(_)) => Err(ConnectError::Unreachable {
                hosts,
                waited: started.elapsed(),
                cause: "no answer".into(),
            }),
            Err(StoreError::Unavailable(e)) => Err(ConnectError::Unreachable {
                hosts,
                waited: started.elapsed(),
                cause: unreachable_cause(&e.to_string()),
            }),
            Err(e) => Err(ConnectError::Refused(e)),
        }
    }

    async fn bounded<T>(
        &self,
        fut: impl Future<Output = Result<T, MongoError>>,
    ) -> Result<T, StoreError> {
        tokio::time::timeout(self.timeout, fut)
            .await
            .map_err(|_| StoreError::Timeout(self.timeout))?
            .map_err(classify)
    }
}

/// Why [`MongoStore::connect`] failed, worded for the person who configured it.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The connection string does not parse (the driver's reason, without its debug dump).
    #[error("{0}")]
    InvalidUri(String),
    /// No server answered: not running, wrong address, firewalled, or too slow.
    #[error("no answer from {hosts} within {waited:.1?} ({cause})")]
    Unreachable {
        hosts: String,
        waited: Duration,
        cause: String,
    },
    /// A server answered, and refused (authentication, a command error...).
    #[error("the server refused")]
    Refused(#[source] StoreError),
}

/// The driver's message for an error, without the `Kind: …, labels: {…}, source: …` wrapping
/// of its `Display`.
fn driver_message(e: &MongoError) -> String {
    match e.kind.as_ref() {
        ErrorKind::InvalidArgument { message, .. } => message.clone(),
        _ => e.to_string(),
    }
}

/// The first I/O cause in a server selection error ("Connection refused (os error 111)"), or a
/// short summary: the driver's whole topology dump (with labels such as
/// `SystemOverloadedError` that do not apply) is no message for a person.
fn unreachable_cause(dump: &str) -> String {
    if let Some(at) = dump.find("I/O error: ") {
        let rest = &dump[at + "I/O error: ".len()..];
        let end = rest.find(", labels").unwrap_or(rest.len());
        return rest[..end].trim().to_owned();
    }
    if dump.contains("Server selection timeout") {
        return "no server could be selected".into();
    }
    dump.lines().next().unwrap_or(dump).to_owned()
}

fn parse_w(w: &str) -> Acknowledgment {
    match w.parse::<u32>() {
        Ok(n) => Acknowledgment::Nodes(n),
        Err(_) => Acknowledgment::from(w.to_owned()),
    }
}

fn is_transient(e: &MongoError) -> bool {
    match e.kind.as_ref() {
        ErrorKind::Io(_)
        | ErrorKind::ConnectionPoolCleared { .. }
        | ErrorKind::ServerSelection { .. } => true,
        ErrorKind::Command(c) => TRANSIENT_CODES.contains(&c.code),
        // The documents may or may not be durable: retry (idempotent) until it is certain.
        ErrorKind::InsertMany(m) => m.write_concern_error.is_some(),
        _ => {
            e.contains_label("RetryableWriteError") || e.contains_label("TransientTransactionError")
        }
    }
}

fn classify(e: MongoError) -> StoreError {
    if is_transient(&e) {
        StoreError::Unavailable(Box::new(e))
    } else {
        StoreError::Failed(Box::new(e))
    }
}

/// The filter of a read: the match, the time window, and the keyset position of `after`.
fn read_filter(q: &ReadQuery) -> bson::Document {
    let mut filter = doc! { "match_id": q.match_id.as_str() };
    let mut ts = bson::Document::new();
    if let Some(since) = q.since_ms {
        ts.insert("$gte", bson::DateTime::from_millis(since));
    }
    if let Some(until) = q.until_ms {
        ts.insert("$lte", bson::DateTime::from_millis(until));
    }
    if !ts.is_empty() {
        filter.insert("timestamp", ts);
    }
    if let Some(c) = &q.after {
        let t = bson::DateTime::from_millis(c.timestamp_ms);
        let r = bson::DateTime::from_millis(c.received_at_ms);
        let id = Bson::String(c.id.to_hex());
        filter.insert(
            "$or",
            vec![
                doc! { "timestamp": { "$gt": t } },
                doc! { "timestamp": t, "received_at": { "$gt": r } },
                doc! { "timestamp": t, "received_at": r, "_id": { "$gt": id } },
            ],
        );
    }
    filter
}

#[async_trait]
impl Store for MongoStore {
    fn name(&self) -> &'static str {
        "mongodb"
    }

    async fn ensure_indexes(&self) -> Result<(), StoreError> {
        let keys = [
            doc! { "match_id": 1 },
            doc! { "match_id": 1, "timestamp": 1 },
            // Serves the read order (and the paging cursor) without an in-memory sort.
            doc! { "match_id": 1, "timestamp": 1, "received_at": 1, "_id": 1 },
        ];
        // One index per command: FerretDB v1 drops the connection when a single
        // createIndexes names several indexes that already exist.
        for keys in keys {
            let model = IndexModel::builder().keys(keys).build();
            self.bounded(self.collection.create_index(model).into_future())
                .await?;
        }
        for model in matches::Summaries::index_models() {
            let summaries = self.summaries.collection();
            self.bounded(summaries.create_index(model).into_future())
                .await?;
        }
        Ok(())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let db = self
            .client
            .database(self.collection.namespace().db.as_str());
        self.bounded(db.run_command(doc! { "ping": 1 }).into_future())
            .await?;
        Ok(())
    }

    /// Inserts the batch, then folds what it newly stored into the match summaries (see
    /// [`matches`] for how an ambiguous insert or a failed summary update stays counted once).
    async fn write_batch(&self, docs: &[EventDocument]) -> Result<Vec<WriteOutcome>, StoreError> {
        let attempt = self.summaries.begin(docs);
        let outcomes = self.insert(docs).await?;
        self.summaries.finish(docs, attempt, &outcomes).await;
        Ok(outcomes)
    }

    async fn read(&self, q: ReadQuery) -> Result<EventStream, StoreError> {
        let mut find = self
            .collection
            .find(read_filter(&q))
            .sort(doc! { "timestamp": 1, "received_at": 1, "_id": 1 })
            .batch_size(256);
        if let Some(limit) = q.limit {
            find = find.limit(i64::try_from(limit).unwrap_or(i64::MAX));
        }
        let cursor = self.bounded(find.into_future()).await?;
        Ok(cursor.map_err(classify).map_ok(StoredEvent).boxed())
    }

    async fn list_matches(&self, q: MatchQuery) -> Result<Vec<MatchSummary>, StoreError> {
        tokio::time::timeout(self.timeout, self.summaries.list(&q))
            .await
            .map_err(|_| StoreError::Timeout(self.timeout))?
    }

    async fn get_match(&self, match_id: &MatchId) -> Result<Option<MatchSummary>, StoreError> {
        tokio::time::timeout(self.timeout, self.summaries.get(match_id))
            .await
            .map_err(|_| StoreError::Timeout(self.timeout))?
    }

    async fn close(&self) {
        let _ = tokio::time::timeout(self.timeout, self.summaries.flush()).await;
        self.client.clone().shutdown().await;
    }
}

impl MongoStore {
    /// One unordered `insert_many`: an outcome per document, or an error for the whole batch.
    async fn insert(&self, docs: &[EventDocument]) -> Result<Vec<WriteOutcome>, StoreError> {
        let result = self
            .collection
            .insert_many(docs.iter().map(|d| &d.bson))
            .ordered(false)
            .await;
        let mut outcomes = vec![WriteOutcome::Stored; docs.len()];
        match result {
            Ok(_) => Ok(outcomes),
            Err(e) if is_transient(&e) => Err(StoreError::Unavailable(Box::new(e))),
            Err(e) => match e.kind.as_ref() {
                ErrorKind::InsertMany(m) => {
                    for we in m.write_errors.iter().flatten() {
                        let Some(slot) = outcomes.get_mut(we.index) else {
                            continue;
                        };
                        *slot = if we.code == DUPLICATE_KEY {
                            WriteOutcome::Duplicate
                        } else {
                            WriteOutcome::Rejected(format!("{} (code {})", we.message, we.code))
                        };
                    }
                    Ok(outcomes)
                }
                _ => Err(StoreError::Failed(Box::new(e))),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_selection_dump_becomes_its_cause() {
        let dump = "Kind: Server selection timeout: No available servers. Topology: { Type: \
                    Single, Servers: [ { Address: 127.0.0.1:1, Type: Unknown, Error: Kind: I/O \
                    error: Connection refused (os error 111), labels: {\"SystemOverloadedError\"}, \
                    source: None } ] }, labels: {}";
        assert_eq!(unreachable_cause(dump), "Connection refused (os error 111)");
    }
}
