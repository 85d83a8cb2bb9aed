//! The ingest pipeline: a bounded queue between the HTTP handlers and the writer threads.
//!
//! Handlers `try_send` a document with a completion handle and await it; a full queue is an
//! immediate refusal (backpressure, never an unbounded buffer). Writers gather batches by count,
//! bytes and linger time and write each with one unordered insert, so many requests share one
//! database round trip (group commit) while each is still answered only once it is durable.

mod queue;
mod writer;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

pub use queue::{EnqueueError, Queue};

use crate::frame::EventDocument;
use crate::live::LiveHub;
use crate::store::Store;

/// Tuning of the queue and the writers (from [`crate::config::Config`]).
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    pub queue_capacity: usize,
    pub queue_max_bytes: usize,
    pub batch_max_docs: usize,
    pub batch_max_bytes: usize,
    pub linger: Duration,
    pub writers: usize,
    /// Bound on one write attempt (the store's timeout).
    pub attempt_timeout: Duration,
    pub backoff_min: Duration,
    pub backoff_max: Duration,
}

/// How a write ended well.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    Stored,
    /// It was stored before (a retry): just as durable.
    Duplicate,
}

/// How a write ended badly. Each is answered to the client; none loses an acknowledged frame.
#[derive(Debug, Clone, thiserror::Error)]
pub enum WriteError {
    #[error("the write did not complete within the request deadline")]
    DeadlineExceeded,
    #[error("the store refused the frame: {0}")]
    Rejected(String),
    #[error("the store failed: {0}")]
    StoreFailed(String),
    #[error("the service is shutting down")]
    ShuttingDown,
}

pub type Ack = oneshot::Sender<Result<Written, WriteError>>;

/// One document on its way to the store.
pub struct WriteRequest {
    pub doc: EventDocument,
    /// When the client stops waiting; `None` (acknowledge-on-enqueue mode) retries until shutdown.
    pub deadline: Option<Instant>,
    pub enqueued_at: Instant,
    pub ack: Option<Ack>,
}

/// Counters a test or an embedding application can read without scraping Prometheus (the
/// metrics recorder is process-wide; these are per pipeline).
#[derive(Debug, Default)]
pub struct PipelineStats {
    /// Store write attempts (`insert_many` calls), including retries.
    pub write_calls: AtomicU64,
    /// Batches that reached a definite outcome.
    pub batches: AtomicU64,
    pub frames_stored: AtomicU64,
    pub frames_duplicate: AtomicU64,
}

impl PipelineStats {
    pub fn write_calls(&self) -> u64 {
        self.write_calls.load(Ordering::Relaxed)
    }
    pub fn batches(&self) -> u64 {
        self.batches.load(Ordering::Relaxed)
    }
    pub fn frames_stored(&self) -> u64 {
        self.frames_stored.load(Ordering::Relaxed)
    }
    pub fn frames_duplicate(&self) -> u64 {
        self.frames_duplicate.load(Ordering::Relaxed)
    }
}

/// The queue plus its writer threads.
pub struct Pipeline {
    queue: Arc<Queue>,
    stats: Arc<PipelineStats>,
    writers: writer::Writers,
}

impl Pipeline {
    /// Starts the writer threads. `runtime` drives the store's async calls from those threads;
    /// every frame a batch newly stored is published to `hub` once the batch is durable.
    pub fn start(
        store: Arc<dyn Store>,
        config: PipelineConfig,
        runtime: tokio::runtime::Handle,
        hub: Arc<LiveHub>,
    ) -> Self {
        let queue = Arc::new(Queue::new(config.queue_capacity, config.queue_max_bytes));
        let stats = Arc::new(PipelineStats::default());
        let writers =
            writer::Writers::spawn(queue.clone(), store, stats.clone(), config, runtime, hub);
        Self {
            queue,
            stats,
            writers,
        }
    }

    pub fn queue(&self) -> &Queue {
        &self.queue
    }

    pub fn stats(&self) -> &Arc<PipelineStats> {
        &self.stats
    }

    /// Refuses new work, lets the writers drain the queue, and waits for them until `deadline`.
    /// Past the deadline writers stop retrying and answer what is left as shutting down.
    /// Returns whether every writer finished in time. Blocking: call from a blocking context.
    pub fn shutdown(&self, deadline: Instant) -> bool {
        self.queue.close();
        self.writers.join(deadline)
    }
}
