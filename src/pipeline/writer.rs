//! Writer threads: gather a batch, write it with one unordered insert, answer every request.
//!
//! A writer never drops an item it did not answer: each request ends as stored, duplicate
//! (already stored), rejected (the store refused that document for good), deadline exceeded
//! (the client gave up; it may retry safely), or shutting down.

use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::RecvTimeoutError;
use metrics::{counter, histogram};

use super::{PipelineConfig, PipelineStats, Queue, WriteError, WriteRequest, Written};
use crate::frame::EventDocument;
use crate::live::LiveHub;
use crate::logging::error_chain;
use crate::metrics as m;
use crate::store::{Store, StoreError, WriteOutcome};

/// How often an idle writer looks whether the queue was closed.
const IDLE_POLL: Duration = Duration::from_millis(50);

pub(super) struct Writers {
    handles: std::sync::Mutex<Vec<JoinHandle<()>>>,
    /// Set at shutdown: past it, writers stop retrying.
    give_up_at: Arc<OnceLock<Instant>>,
    /// Each writer holds a sender; all dropped = all writers done.
    done: crossbeam_channel::Receiver<()>,
}

impl Writers {
    pub(super) fn spawn(
        queue: Arc<Queue>,
        store: Arc<dyn Store>,
        stats: Arc<PipelineStats>,
        config: PipelineConfig,
        runtime: tokio::runtime::Handle,
        hub: Arc<LiveHub>,
    ) -> Self {
        let give_up_at = Arc::new(OnceLock::new());
        let (done_tx, done) = crossbeam_channel::bounded::<()>(0);
        let handles = (0..config.writers)
            .map(|i| {
                let writer = Writer {
                    queue: queue.clone(),
                    store: store.clone(),
                    stats: stats.clone(),
                    hub: hub.clone(),
                    config: config.clone(),
                    runtime: runtime.clone(),
                    give_up_at: give_up_at.clone(),
                    _done: done_tx.clone(),
                };
                std::thread::Builder::new()
                    .name(format!("writer-{i}"))
                    .spawn(move || writer.run())
                    .expect("spawning a writer thread")
            })
            .collect();
        Self {
            handles: std::sync::Mutex::new(handles),
            give_up_at,
            done,
        }
    }

    pub(super) fn join(&self, deadline: Instant) -> bool {
        let _ = self.give_up_at.set(deadline);
        let finished = matches!(
            self.done.recv_deadline(deadline),
            Err(crossbeam_channel::RecvTimeoutError::Disconnected)
        );
        if finished {
            for h in self.handles.lock().expect("writer handles").drain(..) {
                let _ = h.join();
            }
        }
        finished
    }
}

struct Writer {
    queue: Arc<Queue>,
    store: Arc<dyn Store>,
    stats: Arc<PipelineStats>,
    hub: Arc<LiveHub>,
    config: PipelineConfig,
    runtime: tokio::runtime::Handle,
    give_up_at: Arc<OnceLock<Instant>>,
    _done: crossbeam_channel::Sender<()>,
}

/// A batch kept as two parallel lists: the documents (what the store takes) and the requests'
/// bookkeeping (what gets answered).
#[derive(Default)]
struct Batch {
    docs: Vec<EventDocument>,
    pending: Vec<Pending>,
    bytes: usize,
}

struct Pending {
    deadline: Option<Instant>,
    enqueued_at: Instant,
    ack: Option<super::Ack>,
}

impl Batch {
    fn push(&mut self, req: WriteRequest) {
        self.bytes += req.doc.size();
        self.docs.push(req.doc);
        self.pending.push(Pending {
            deadline: req.deadline,
            enqueued_at: req.enqueued_at,
            ack: req.ack,
        });
    }

    fn len(&self) -> usize {
        self.docs.len()
    }

    /// Answers and removes the requests for which `f` says so.
    fn answer_where(&mut self, mut f: impl FnMut(&Pending) -> Option<Result<Written, WriteError>>) {
        let mut i = 0;
        while i < self.docs.len() {
            match f(&self.pending[i]) {
                Some(result) => {
                    let doc = self.docs.swap_remove(i);
                    self.bytes -= doc.size();
                    answer(self.pending.swap_remove(i), result);
                }
                None => i += 1,
            }
        }
    }
}

fn answer(p: Pending, result: Result<Written, WriteError>) {
    match &result {
        Ok(_) => {
            histogram!(m::ACK_LATENCY).record(p.enqueued_at.elapsed().as_secs_f64());
        }
        Err(e) if p.ack.is_none() => {
            // Acknowledged on enqueue, and now it cannot be written: say so loudly.
            counter!(m::FRAMES_DROPPED).increment(1);
            tracing::error!(error = %e, "frame acknowledged on enqueue could not be written");
        }
        // The handler counts the refusal it answers.
        Err(_) => {}
    }
    if let Some(ack) = p.ack {
        // The client may have gone away; then nobody needs the answer.
        let _ = ack.send(result);
    }
}

impl Writer {
    fn run(self) {
        loop {
            let first = match self.queue.recv_timeout(IDLE_POLL) {
                Ok(req) => req,
                Err(RecvTimeoutError::Timeout)
                    if self.queue.is_closed() && self.queue.is_empty() =>
                {
                    break;
                }
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => break,
            };
            let mut batch = Batch::default();
            batch.push(first);
            let linger_until = Instant::now() + self.config.linger;
            self.gather(&mut batch, linger_until);
            self.write(batch);
        }
    }

    /// Fills the batch until it is full (by count or bytes) or the linger ends, whichever comes
    /// first, as a `recv_deadline` loop would, but sleeping through the sends that cannot fill
    /// it: the queue wakes this writer only when it holds what the batch lacks, or at close.
    fn gather(&self, batch: &mut Batch, linger_until: Instant) {
        let (max_docs, max_bytes) = (self.config.batch_max_docs, self.config.batch_max_bytes);
        let full = |b: &Batch| b.len() >= max_docs || b.bytes >= max_bytes;
        loop {
            while !full(batch) {
                match self.queue.try_recv() {
                    Some(req) => batch.push(req),
                    None => break,
                }
            }
            if full(batch) || Instant::now() >= linger_until || self.queue.is_closed() {
                return;
            }
            self.queue.wait_filled(
                max_docs - batch.len(),
                max_bytes - batch.bytes,
                linger_until,
            );
        }
    }

    /// Writes the batch, retrying transient failures with backoff while deadlines allow.
    fn write(&self, mut batch: Batch) {
        histogram!(m::BATCH_SIZE_FRAMES).record(batch.len() as f64);
        histogram!(m::BATCH_SIZE_BYTES).record(batch.bytes as f64);
        let mut backoff = self.config.backoff_min;
        loop {
            let now = Instant::now();
            batch.answer_where(|p| {
                p.deadline
                    .is_some_and(|d| d <= now)
                    .then_some(Err(WriteError::DeadlineExceeded))
            });
            if self.give_up_at.get().is_some_and(|t| *t <= now) {
                batch.answer_where(|_| Some(Err(WriteError::ShuttingDown)));
            }
            if batch.len() == 0 {
                return;
            }

            match self.attempt(&batch, now) {
                Ok(outcomes) => return self.finish(batch, outcomes),
                Err(e) if e.is_transient() => {
                    tracing::warn!(error = %error_chain(&e), frames = batch.len(), "batch write failed; retrying");
                }
                Err(e) => {
                    tracing::error!(error = %error_chain(&e), frames = batch.len(), "batch write failed");
                    let msg = error_chain(&e);
                    batch.answer_where(|_| Some(Err(WriteError::StoreFailed(msg.clone()))));
                    return;
                }
            }
            let sleep = Duration::from_secs_f64(backoff.as_secs_f64() * fastrand::f64());
            std::thread::sleep(sleep);
            backoff = (backoff * 2).min(self.config.backoff_max);
        }
    }

    /// One store call, bounded by the store timeout and by the *latest* deadline in the batch:
    /// past it nobody waits for any of these frames. Not the earliest: each handler answers 504
    /// at its own deadline by itself, and one frame close to its deadline would otherwise cut
    /// the attempt short for all the others (seen after a database restart as retries with a
    /// few milliseconds to run). Frames acknowledged on enqueue have no deadline; they simply
    /// stay for the retry. An attempt cut short is ambiguous: the retry's duplicates count as
    /// success.
    fn attempt(&self, batch: &Batch, now: Instant) -> Result<Vec<WriteOutcome>, StoreError> {
        let latest = batch.pending.iter().filter_map(|p| p.deadline).max();
        let bound = latest
            .map_or(self.config.attempt_timeout, |d| {
                d.saturating_duration_since(now)
            })
            .min(self.config.attempt_timeout)
            .max(Duration::from_millis(1));
        self.stats.write_calls.fetch_add(1, Ordering::Relaxed);
        let started = Instant::now();
        let result = self.runtime.block_on(async {
            tokio::time::timeout(bound, self.store.write_batch(&batch.docs))
                .await
                .unwrap_or(Err(StoreError::Timeout(bound)))
        });
        histogram!(m::STORE_WRITE_DURATION).record(started.elapsed().as_secs_f64());
        if let Err(e) = &result {
            counter!(m::STORE_WRITE_ERRORS, "kind" => e.kind()).increment(1);
        }
        result
    }

    fn finish(&self, mut batch: Batch, outcomes: Vec<WriteOutcome>) {
        self.stats.batches.fetch_add(1, Ordering::Relaxed);
        let newly: Vec<bool> = (0..batch.len())
            .map(|i| outcomes.get(i) == Some(&WriteOutcome::Stored))
            .collect();
        let mut outcomes = outcomes.into_iter();
        let (mut stored, mut duplicate) = (0u64, 0u64);
        let results: Vec<_> = (0..batch.len())
            .map(|_| match outcomes.next() {
                Some(WriteOutcome::Stored) => {
                    stored += 1;
                    Ok(Written::Stored)
                }
                Some(WriteOutcome::Duplicate) => {
                    duplicate += 1;
                    Ok(Written::Duplicate)
                }
                Some(WriteOutcome::Rejected(why)) => {
                    counter!(m::STORE_WRITE_ERRORS, "kind" => "document").increment(1);
                    tracing::error!(error = %why, "store rejected a document");
                    Err(WriteError::Rejected(why))
                }
                None => Err(WriteError::StoreFailed(
                    "store returned too few outcomes".into(),
                )),
            })
            .collect();
        // Counted before answering: a client that has its 200 must see it in the counts.
        self.stats
            .frames_stored
            .fetch_add(stored, Ordering::Relaxed);
        self.stats
            .frames_duplicate
            .fetch_add(duplicate, Ordering::Relaxed);
        counter!(m::FRAMES_WRITTEN).increment(stored + duplicate);
        counter!(m::FRAMES_DUPLICATE).increment(duplicate);
        // Durable now: live tails may show them. Before the answers, so a client holding its
        // 200 knows every tail open at that moment has the frame.
        self.hub
            .publish(std::mem::take(&mut batch.docs), |i| newly[i]);
        // One oneshot per frame, so far (issue 13 asked whether to answer a batch through one
        // wake-up): a send from this thread only queues the handler's task on the runtime, and
        // tokio unparks a sleeping worker (the futex wake) only while no worker is already
        // searching for work, so a batch's answers share their wake-ups. Measured with `perf
        // record -e syscalls:sys_enter_futex` on the null store (release): 1.8 wakes from here
        // per batch of 7 frames (0.25 per frame), none visible at 22 frames a batch, where the
        // queue's `try_send` waking a lingering writer (0.53 per frame) is what costs
        // (loadtest/BENCHMARKS.md, "the writer's acknowledgements").
        for (p, result) in batch.pending.drain(..).zip(results) {
            answer(p, result);
        }
    }
}
