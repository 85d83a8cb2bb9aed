//! Where events live. One trait, two backends: MongoDB (production) and an embedded database
//! (the default when no MongoDB is configured, so the service runs on a fresh machine). With
//! the cargo feature `bench-null-store` there is a third, `null`, which keeps nothing: a
//! benchmarking sink, never a store.
//!
//! Both keep the same semantics: idempotent writes keyed by the content-derived `_id`, and
//! reads of one match ordered by frame timestamp, then arrival (`received_at`), then `_id`,
//! and a per-match summary ([`MatchSummary`]) updated with every batch, for the match list.

pub mod embedded;
mod matches;
pub mod mongo;
#[cfg(feature = "bench-null-store")]
pub mod null;
mod query;

use std::time::Duration;

use async_trait::async_trait;
use futures::stream::BoxStream;

use crate::frame::{EventDocument, StoredEvent};
use crate::ids::MatchId;

pub use matches::{MatchCursor, MatchQuery, MatchSummary};
pub use query::{Cursor, ReadQuery};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What became of one document of a batch that reached the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteOutcome {
    Stored,
    /// Already there (same content-derived `_id`): a retry of something stored before.
    Duplicate,
    /// The store refused this document for good; retrying it cannot help.
    Rejected(String),
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Network trouble, no server selectable, a primary stepping down: worth retrying.
    #[error("store unavailable")]
    Unavailable(#[source] BoxError),
    #[error("store did not answer within {0:?}")]
    Timeout(Duration),
    /// Anything else the store said no to.
    #[error("store error")]
    Failed(#[source] BoxError),
    #[error("stored document is unreadable")]
    Corrupt(#[source] crate::frame::RenderError),
}

impl StoreError {
    /// Whether a write that failed this way may succeed when tried again.
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::Unavailable(_) | StoreError::Timeout(_))
    }

    /// Label for `store_write_errors_total{kind}`.
    pub fn kind(&self) -> &'static str {
        match self {
            StoreError::Unavailable(_) => "unavailable",
            StoreError::Timeout(_) => "timeout",
            StoreError::Failed(_) => "failed",
            StoreError::Corrupt(_) => "corrupt",
        }
    }
}

pub type EventStream = BoxStream<'static, Result<StoredEvent, StoreError>>;

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Short name for logs and health output (`mongodb`, `embedded`).
    fn name(&self) -> &'static str;

    /// Creates the indexes reads need; idempotent, run at start-up.
    async fn ensure_indexes(&self) -> Result<(), StoreError>;

    /// Round trip to the store, bounded by the store's timeout.
    async fn ping(&self) -> Result<(), StoreError>;

    /// `Err` while this store knows its writes are failing (e.g. a full disk), so a POST is
    /// refused at once (503) instead of waiting for its deadline, and readiness says why. Now
    /// and then it lets a write through anyway, to find out when writing works again.
    fn accepting_writes(&self) -> Result<(), StoreError> {
        Ok(())
    }

    /// Writes a batch, unordered. `Ok` carries one outcome per document, in order; `Err` means
    /// the batch as a whole is in doubt and may be retried (writes are idempotent).
    async fn write_batch(&self, docs: &[EventDocument]) -> Result<Vec<WriteOutcome>, StoreError>;

    /// The events of one match, in order, as a stream (constant memory however big the match).
    async fn read(&self, query: ReadQuery) -> Result<EventStream, StoreError>;

    /// One page of the match list (most recently active first), from the per-match summaries
    /// `write_batch` keeps: never a scan of the events.
    async fn list_matches(&self, query: MatchQuery) -> Result<Vec<MatchSummary>, StoreError>;

    /// One match's summary; `None` when nothing was stored for it.
    async fn get_match(&self, match_id: &MatchId) -> Result<Option<MatchSummary>, StoreError>;

    /// Releases connections or files; called once after the writers have flushed.
    async fn close(&self) {}
}
