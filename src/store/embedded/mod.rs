//! The embedded backend: a redb database in the data directory (`DATA_DIR`, default `./data`),
//! the default store when no MongoDB is configured. Same semantics as the MongoDB backend:
//!
//! - **Durable once acknowledged.** A batch is one redb write transaction committed with
//!   [`Durability::Immediate`] (fsync before `commit` returns), so `Ok` survives a `kill -9` or
//!   a power cut, and a batch is all or nothing.
//! - **Idempotent.** A second table maps each `_id` to its event key; a document whose `_id` is
//!   already there is a [`WriteOutcome::Duplicate`] and stores nothing, also within one batch.
//! - **Ordered reads, range scans.** Events are keyed `match_id, 0x00, timestamp, received_at,
//!   _id` (see [`key`]), so one match is one contiguous key range already in read order, and
//!   `since`/`until`/`after` are just the ends of that range.
//! - **Constant-memory reads.** A read walks its range in pages of [`PAGE`] events or
//!   [`READ_PAGE_BYTES`], whichever comes first, each page a short read transaction on a
//!   blocking thread that resumes after the last key served.
//! - **Failing writes are known.** After a write fails with an I/O error (a full disk), the
//!   store says so ([`Store::accepting_writes`], `ping`) until a write succeeds again: POSTs are
//!   refused at once and readiness is 503 with the reason. Once every [`PROBE_INTERVAL`] a POST
//!   is let through, and `ping` tries a small write, to find out when the disk has room again.
//!
//! # Why redb, not fjall
//!
//! Measured on the write path with `benches/embedded_engines.rs`: batches of 100 and 500
//! documents of 12 KB, each batch one durable commit (redb: a write transaction with
//! `Durability::Immediate`; fjall 3.1: a write batch with `PersistMode::SyncAll`), with the
//! store's `_id` lookup before each insert. Median frames/s, both engines in the same run
//! (`cargo bench --bench embedded_engines -- --warm-up-time 1 --measurement-time 5`, 2 vCPUs
//! shared with concurrent builds, ext4 on a virtual disk that does ~40-50 MB/s fsynced):
//!
//! | batch | redb                | fjall               | `EmbeddedStore` (redb) |
//! |-------|---------------------|---------------------|------------------------|
//! | 100   | 3,727  (44 MiB/s)   | 3,349  (39 MiB/s)   | 3,687                  |
//! | 500   | 6,093  (71 MiB/s)   | 3,346  (39 MiB/s)   | 4,808                  |
//!
//! (An earlier run on the same machine: 3,145 vs 3,399 at 100, 4,401 vs 2,571 at 500.) Both
//! engines are bound by the disk's fsynced bandwidth, and fjall is not faster: an LSM tree
//! writes every byte twice (journal, then the flushed table) plus compaction, on the same disk.
//! So redb, which is also simpler to get right here: one file, one ACID write transaction per
//! batch covering both tables with read-your-writes (duplicates inside a batch are caught for
//! free; fjall's plain write batch cannot see its own writes), no background flush or
//! compaction threads, and it is already a dependency.

mod key;
mod matches;

use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bson::RawDocumentBuf;
use futures::StreamExt;
use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};

use super::matches::batch_deltas;
use super::{EventStream, MatchQuery, MatchSummary, ReadQuery, Store, StoreError, WriteOutcome};
use crate::frame::{EventDocument, RenderError, StoredEvent};
use crate::ids::MatchId;

/// Event key (see [`key`]) → the document's BSON bytes.
const EVENTS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("events");
/// `_id` → event key: what makes writes idempotent (a retry carries a new `received_at`, so
/// its event key differs; its `_id` does not).
const IDS: TableDefinition<u128, &[u8]> = TableDefinition::new("event_ids");

/// File name of the database inside the data directory.
pub const FILE_NAME: &str = "events.redb";
/// Events per read transaction of a streaming read.
const PAGE: usize = 256;
/// Bytes of documents per page of a streaming read (at least one event): 256 events of ~1 MB
/// made each reader hold 256 MB, and four stalled readers took RSS from 81 MB to 1.17 GB.
pub const READ_PAGE_BYTES: usize = 4 * 1024 * 1024;
/// While writes fail, how often one is let through to see whether they work again.
pub const PROBE_INTERVAL: Duration = Duration::from_secs(1);
/// What `ping` writes (and deletes) to check the disk has room, while writes are failing.
const PROBE: TableDefinition<u8, &[u8]> = TableDefinition::new("write_probe");
const PROBE_BYTES: usize = 64 * 1024;

pub struct EmbeddedStore {
    inner: Arc<Inner>,
}

/// Shared with the streams of reads in progress.
struct Inner {
    path: PathBuf,
    cache_bytes: usize,
    /// `None` after an I/O error (redb refuses every later operation until the file is
    /// reopened, which the next operation tries) or after [`Store::close`].
    db: RwLock<Option<Arc<Database>>>,
    closed: AtomicBool,
    /// The last write failure and when a write was last let through since; `None` while
    /// writes work.
    write_failure: Mutex<Option<WriteFailure>>,
}

struct WriteFailure {
    reason: String,
    last_try: Instant,
}

impl EmbeddedStore {
    /// Opens (or creates) the database in `dir`, creating the directory if needed. Recovers
    /// from an unclean shutdown first, which can take a while on a big file.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        Self::open_with_cache(dir, crate::config::defaults::EMBEDDED_CACHE_BYTES)
    }

    /// [`EmbeddedStore::open`] with a page cache of `cache_bytes` (redb's cache grows to its
    /// limit, so this is part of the service's memory bound).
    pub fn open_with_cache(dir: &Path, cache_bytes: usize) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Failed(Box::new(e)))?;
        let path = dir.join(FILE_NAME);
        let db = open_database(&path, cache_bytes).map_err(classify)?;
        Ok(Self {
            inner: Arc::new(Inner {
                path,
                cache_bytes,
                db: RwLock::new(Some(Arc::new(db))),
                closed: AtomicBool::new(false),
                write_failure: Mutex::new(None),
            }),
        })
    }
}

impl Inner {
    fn write_failure(&self) -> std::sync::MutexGuard<'_, Option<WriteFailure>> {
        self.write_failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Records how a write ended, for [`Store::accepting_writes`] and `ping`.
    fn record_write<T>(&self, result: &Result<T, StoreError>) {
        let mut failure = self.write_failure();
        match result {
            Ok(_) => {
                if failure.take().is_some() {
                    tracing::info!("embedded store writes work again");
                }
            }
            Err(e) => {
                let reason = crate::logging::error_chain(e);
                if failure.is_none() {
                    tracing::error!(error = %reason, "embedded store writes are failing");
                }
                *failure = Some(WriteFailure {
                    reason,
                    last_try: Instant::now(),
                });
            }
        }
    }

    /// `Err` with the reason while writes fail, except once per [`PROBE_INTERVAL`].
    fn accepting_writes(&self) -> Result<(), StoreError> {
        let mut failure = self.write_failure();
        match &mut *failure {
            None => Ok(()),
            Some(f) if f.last_try.elapsed() >= PROBE_INTERVAL => {
                f.last_try = Instant::now();
                Ok(())
            }
            Some(f) => Err(writes_failing(&f.reason)),
        }
    }

    /// The open database, reopening it if an I/O error took it out of service.
    fn db(&self) -> Result<Arc<Database>, StoreError> {
        if let Some(db) = &*self.db.read().unwrap_or_else(PoisonError::into_inner) {
            return Ok(db.clone());
        }
        if self.closed.load(Ordering::Acquire) {
            return Err(StoreError::Failed("the store is closed".into()));
        }
        let mut slot = self.db.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(db) = &*slot {
            return Ok(db.clone());
        }
        // Fails (DatabaseAlreadyOpen) while a reader still holds the old handle: transient,
        // a later call tries again.
        let db = open_database(&self.path, self.cache_bytes)
            .map_err(|e| StoreError::Unavailable(Box::new(e)))?;
        let db = Arc::new(db);
        tracing::info!(path = %self.path.display(), "reopened the embedded store");
        *slot = Some(db.clone());
        Ok(db)
    }

    /// Maps a redb error, taking `db` out of service if the error needs a reopen.
    fn failed(&self, db: &Arc<Database>, e: redb::Error) -> StoreError {
        if needs_reopen(&e) {
            let mut slot = self.db.write().unwrap_or_else(PoisonError::into_inner);
            if slot
                .as_ref()
                .is_some_and(|current| Arc::ptr_eq(current, db))
            {
                tracing::warn!(error = %e, "embedded store hit an I/O error; reopening it");
                *slot = None;
            }
        }
        classify(e)
    }
}

fn writes_failing(reason: &str) -> StoreError {
    StoreError::Unavailable(format!("writes are failing: {reason}").into())
}

/// Writes and deletes a small value: whether the disk takes writes again.
fn probe_write(db: &Database) -> Result<(), redb::Error> {
    for value in [Some(vec![0u8; PROBE_BYTES]), None] {
        let mut txn = db.begin_write()?;
        txn.set_durability(Durability::Immediate)?;
        {
            let mut table = txn.open_table(PROBE)?;
            match &value {
                Some(v) => drop(table.insert(0, v.as_slice())?),
                None => drop(table.remove(0)?),
            }
        }
        txn.commit()?;
    }
    Ok(())
}

fn open_database(path: &Path, cache_bytes: usize) -> Result<Database, redb::Error> {
    let db = Database::builder()
        .set_cache_size(cache_bytes)
        .create(path)?;
    // Create both tables up front, so reads never meet a missing table.
    let txn = db.begin_write()?;
    txn.open_table(EVENTS)?;
    txn.open_table(IDS)?;
    matches::create_tables(&txn)?;
    txn.commit()?;
    Ok(db)
}

/// After an I/O error redb fails every operation until the database is reopened.
fn needs_reopen(e: &redb::Error) -> bool {
    matches!(
        e,
        redb::Error::Io(_) | redb::Error::PreviousIo | redb::Error::DatabaseClosed
    )
}

/// I/O trouble (a full disk, a flaky volume) may pass: worth retrying, after a reopen.
/// Anything else (corruption, the file locked by another process) will not.
fn classify(e: redb::Error) -> StoreError {
    if needs_reopen(&e) {
        StoreError::Unavailable(Box::new(e))
    } else {
        StoreError::Failed(Box::new(e))
    }
}

fn joined<T>(r: Result<Result<T, StoreError>, tokio::task::JoinError>) -> Result<T, StoreError> {
    r.map_err(|e| StoreError::Failed(Box::new(e)))?
}

fn write_batch(db: &Database, docs: &[EventDocument]) -> Result<Vec<WriteOutcome>, redb::Error> {
    let mut txn = db.begin_write()?;
    txn.set_durability(Durability::Immediate)?;
    let mut outcomes = Vec::with_capacity(docs.len());
    {
        let mut events = txn.open_table(EVENTS)?;
        let mut ids = txn.open_table(IDS)?;
        let mut k = Vec::new();
        for doc in docs {
            let (ts, rcv) = (doc.timestamp_ms, doc.received_at_ms);
            if !key::event_key(&mut k, doc.match_id.as_str(), ts, rcv, doc.id) {
                outcomes.push(WriteOutcome::Rejected("match id holds a NUL byte".into()));
            } else if ids.get(doc.id.0)?.is_some() {
                outcomes.push(WriteOutcome::Duplicate);
            } else {
                events.insert(k.as_slice(), doc.bson.as_bytes())?;
                ids.insert(doc.id.0, k.as_slice())?;
                outcomes.push(WriteOutcome::Stored);
            }
        }
    }
    // In the same transaction: the summaries commit with the events they count, or not at all.
    let deltas = batch_deltas(docs, |_, o| *o == WriteOutcome::Stored, &outcomes);
    matches::apply(&txn, &deltas)?;
    txn.commit()?;
    Ok(outcomes)
}

/// Events of one page, and the key of the last one.
type Page = (Vec<StoredEvent>, Option<Vec<u8>>);

/// One page of a read: at most `max` events from `lower` up to `upper` (exclusive).
fn read_page(
    db: &Database,
    lower: &Bound<Vec<u8>>,
    upper: &[u8],
    max: usize,
) -> Result<Result<Page, RenderError>, redb::Error> {
    let txn = db.begin_read()?;
    let table = txn.open_table(EVENTS)?;
    let lower = lower.as_ref().map(Vec::as_slice);
    let mut events = Vec::with_capacity(max.min(PAGE));
    let mut last = None;
    let mut bytes = 0;
    for entry in table
        .range::<&[u8]>((lower, Bound::Excluded(upper)))?
        .take(max)
    {
        if bytes >= READ_PAGE_BYTES {
            break;
        }
        let (k, v) = entry?;
        bytes += v.value().len();
        match RawDocumentBuf::from_bytes(v.value().to_vec()) {
            Ok(doc) => events.push(StoredEvent(doc)),
            Err(e) => return Ok(Err(RenderError::Frame(e.into()))),
        }
        last = Some(k.value().to_vec());
    }
    Ok(Ok((events, last)))
}

/// Where a streaming read is: the rest of its range and of its limit.
struct Reader {
    store: Arc<Inner>,
    lower: Bound<Vec<u8>>,
    upper: Vec<u8>,
    remaining: u64,
    page: std::vec::IntoIter<StoredEvent>,
    done: bool,
}

impl Reader {
    /// Reads the next page into `self.page` (on a blocking thread).
    async fn fetch(&mut self) -> Result<(), StoreError> {
        let max = usize::try_from(self.remaining)
            .unwrap_or(usize::MAX)
            .min(PAGE);
        if max == 0 {
            self.done = true;
            return Ok(());
        }
        let store = self.store.clone();
        let lower = self.lower.clone();
        let upper = self.upper.clone();
        let (events, last) = joined(
            tokio::task::spawn_blocking(move || {
                let db = store.db()?;
                match read_page(&db, &lower, &upper, max) {
                    Ok(page) => page.map_err(StoreError::Corrupt),
                    Err(e) => Err(store.failed(&db, e)),
                }
            })
            .await,
        )?;
        // A page cut short by bytes is not the end.
        let bytes: usize = events.iter().map(|e| e.0.as_bytes().len()).sum();
        self.done = events.len() < max && bytes < READ_PAGE_BYTES;
        self.remaining -= events.len() as u64;
        if let Some(last) = last {
            self.lower = Bound::Excluded(last);
        }
        self.page = events.into_iter();
        Ok(())
    }

    async fn next(mut self) -> Option<(Result<StoredEvent, StoreError>, Self)> {
        loop {
            if let Some(event) = self.page.next() {
                return Some((Ok(event), self));
            }
            if self.done {
                return None;
            }
            if let Err(e) = self.fetch().await {
                self.done = true;
                return Some((Err(e), self));
            }
        }
    }
}

#[async_trait]
impl Store for EmbeddedStore {
    fn name(&self) -> &'static str {
        "embedded"
    }

    async fn ensure_indexes(&self) -> Result<(), StoreError> {
        // The key layout is the index.
        Ok(())
    }

    /// A read transaction on the table reads use; reopens the file first if an I/O error took
    /// it out of service, so health turns good again once the disk does.
    async fn ping(&self) -> Result<(), StoreError> {
        let inner = self.inner.clone();
        joined(
            tokio::task::spawn_blocking(move || {
                let db = inner.db()?;
                let check = || -> Result<(), redb::Error> {
                    db.begin_read()?.open_table(EVENTS)?;
                    Ok(())
                };
                check().map_err(|e| inner.failed(&db, e))?;
                // While writes fail, a read says nothing about them: try a small write.
                let failing = inner.write_failure().as_ref().map(|f| f.reason.clone());
                if let Some(reason) = failing {
                    let probe = probe_write(&db).map_err(|e| inner.failed(&db, e));
                    inner.record_write(&probe);
                    probe.map_err(|_| writes_failing(&reason))?;
                }
                Ok(())
            })
            .await,
        )
    }

    /// Runs on the caller's thread: writers call this from their own blocking threads, and the
    /// fsync is what they wait for anyway.
    async fn write_batch(&self, docs: &[EventDocument]) -> Result<Vec<WriteOutcome>, StoreError> {
        if docs.is_empty() {
            return Ok(Vec::new());
        }
        let result = self
            .inner
            .db()
            .and_then(|db| write_batch(&db, docs).map_err(|e| self.inner.failed(&db, e)));
        self.inner.record_write(&result);
        result
    }

    fn accepting_writes(&self) -> Result<(), StoreError> {
        self.inner.accepting_writes()
    }

    /// Reads the first page before answering, so a store that cannot be read fails the read
    /// rather than the stream.
    async fn read(&self, q: ReadQuery) -> Result<EventStream, StoreError> {
        let Some(range) = key::read_range(&q) else {
            return Ok(futures::stream::empty().boxed());
        };
        let mut reader = Reader {
            store: self.inner.clone(),
            lower: range.lower,
            upper: range.upper,
            remaining: q.limit.unwrap_or(u64::MAX),
            page: Vec::new().into_iter(),
            done: false,
        };
        reader.fetch().await?;
        Ok(futures::stream::unfold(reader, Reader::next).boxed())
    }

    async fn list_matches(&self, q: MatchQuery) -> Result<Vec<MatchSummary>, StoreError> {
        let inner = self.inner.clone();
        joined(
            tokio::task::spawn_blocking(move || {
                let db = inner.db()?;
                matches::list(&db, &q).map_err(|e| inner.failed(&db, e))
            })
            .await,
        )
    }

    async fn get_match(&self, match_id: &MatchId) -> Result<Option<MatchSummary>, StoreError> {
        let inner = self.inner.clone();
        let match_id = match_id.clone();
        joined(
            tokio::task::spawn_blocking(move || {
                let db = inner.db()?;
                matches::get(&db, &match_id).map_err(|e| inner.failed(&db, e))
            })
            .await,
        )
    }

    async fn close(&self) {
        self.inner.closed.store(true, Ordering::Release);
        let db = self
            .inner
            .db
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        // Readers still holding the handle close it when they finish.
        if let Some(Ok(db)) = db.map(Arc::try_unwrap)
            && let Err(e) = db.close()
        {
            tracing::warn!(error = %e, "closing the embedded store");
        }
    }
}

#[cfg(test)]
mod tests;
