//! A crossbeam channel bounded by item count, plus a byte budget so that big frames cannot
//! blow memory while the count bound still has room.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering, fence};
use std::sync::{Condvar, Mutex};
use std::time::Instant;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError};
use metrics::Gauge;

use super::WriteRequest;
use crate::metrics as m;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EnqueueError {
    #[error("the ingest queue is full")]
    Full,
    #[error("the service is shutting down")]
    ShuttingDown,
}

pub struct Queue {
    tx: Sender<WriteRequest>,
    rx: Receiver<WriteRequest>,
    capacity: usize,
    max_bytes: usize,
    bytes: AtomicUsize,
    closed: AtomicBool,
    depth_gauge: Gauge,
    bytes_gauge: Gauge,
    /// Lingering writers sleep here instead of in the channel's `recv`, so that a send wakes
    /// one only when the queue holds what it needs to fill its batch (a channel receiver is
    /// woken by every send: 0.53 futex wakes per frame, each to take one item and sleep again).
    fill: Fill,
}

/// The lingering writers' meeting point. `sleepers` and the two thresholds let `try_send`
/// decide without the lock whether anybody could want a wake-up: the thresholds are the
/// smallest need of the writers that are asleep (an over-eager threshold left by a writer that
/// has gone only costs a spurious wake-up; each writer checks its own need under the lock).
struct Fill {
    lock: Mutex<()>,
    cond: Condvar,
    sleepers: AtomicUsize,
    wake_docs: AtomicUsize,
    wake_bytes: AtomicUsize,
}

impl Queue {
    pub fn new(capacity: usize, max_bytes: usize) -> Self {
        let (tx, rx) = crossbeam_channel::bounded(capacity);
        metrics::gauge!(m::QUEUE_CAPACITY).set(capacity as f64);
        metrics::gauge!(m::QUEUE_CAPACITY_BYTES).set(max_bytes as f64);
        Self {
            tx,
            rx,
            capacity,
            max_bytes,
            bytes: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
            depth_gauge: metrics::gauge!(m::QUEUE_DEPTH),
            bytes_gauge: metrics::gauge!(m::QUEUE_BYTES),
            fill: Fill {
                lock: Mutex::new(()),
                cond: Condvar::new(),
                sleepers: AtomicUsize::new(0),
                wake_docs: AtomicUsize::new(usize::MAX),
                wake_bytes: AtomicUsize::new(usize::MAX),
            },
        }
    }

    /// Never blocks: a full queue (by count or bytes) is refused at once, and the request is
    /// dropped (its client is answered from the error).
    pub fn try_send(&self, req: WriteRequest) -> Result<(), EnqueueError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(EnqueueError::ShuttingDown);
        }
        let size = req.doc.size();
        let before = self.bytes.fetch_add(size, Ordering::AcqRel);
        // One oversize frame is still let into an empty queue, so nothing is refused forever.
        if before > 0 && before + size > self.max_bytes {
            self.bytes.fetch_sub(size, Ordering::AcqRel);
            return Err(EnqueueError::Full);
        }
        match self.tx.try_send(req) {
            Ok(()) => {
                self.update_gauges();
                self.wake_if_filled();
                Ok(())
            }
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.bytes.fetch_sub(size, Ordering::AcqRel);
                Err(EnqueueError::Full)
            }
        }
    }

    pub(super) fn recv_timeout(
        &self,
        timeout: std::time::Duration,
    ) -> Result<WriteRequest, RecvTimeoutError> {
        self.rx.recv_timeout(timeout).inspect(|req| self.taken(req))
    }

    /// Takes an item if one is there, never waits.
    pub(super) fn try_recv(&self) -> Option<WriteRequest> {
        self.rx.try_recv().ok().inspect(|req| self.taken(req))
    }

    /// Sleeps until `deadline`, or until the queue holds at least `docs` items or `bytes`
    /// bytes, or is closed, whichever comes first. Returns at once if that already holds. The
    /// caller then drains with [`Queue::try_recv`]; another writer may have been quicker, so
    /// what it finds is not guaranteed.
    ///
    /// Either need is capped at half the queue's own bound: a writer that waited for more than
    /// the queue may hold (a batch bound at or above the queue's, as small test and edge
    /// configurations have) would sleep through its linger while sends are refused as full.
    /// A recv loop drained the queue as items came; this keeps at least half of it free.
    pub(super) fn wait_filled(&self, docs: usize, bytes: usize, deadline: Instant) {
        let docs = docs.min((self.capacity / 2).max(1));
        let bytes = bytes.min((self.max_bytes / 2).max(1));
        let filled = || self.is_closed() || self.len() >= docs || self.bytes() >= bytes;
        let fill = &self.fill;
        let mut guard = fill.lock.lock().unwrap_or_else(|e| e.into_inner());
        fill.sleepers.fetch_add(1, Ordering::SeqCst);
        loop {
            fill.wake_docs.fetch_min(docs, Ordering::SeqCst);
            fill.wake_bytes.fetch_min(bytes, Ordering::SeqCst);
            // Pairs with the fence in `wake_if_filled`: either that send sees this sleeper and
            // its thresholds, or this check sees that send's item.
            fence(Ordering::SeqCst);
            if filled() {
                break;
            }
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                break;
            };
            if left.is_zero() {
                break;
            }
            guard = fill
                .cond
                .wait_timeout(guard, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        if fill.sleepers.fetch_sub(1, Ordering::SeqCst) == 1 {
            fill.wake_docs.store(usize::MAX, Ordering::SeqCst);
            fill.wake_bytes.store(usize::MAX, Ordering::SeqCst);
        }
        drop(guard);
    }

    /// After a send: wakes the lingering writers if one of them may now fill its batch. Costs
    /// two atomic loads when nobody sleeps or nobody's need is met.
    fn wake_if_filled(&self) {
        let fill = &self.fill;
        fence(Ordering::SeqCst);
        if fill.sleepers.load(Ordering::SeqCst) == 0 {
            return;
        }
        if self.len() >= fill.wake_docs.load(Ordering::SeqCst)
            || self.bytes() >= fill.wake_bytes.load(Ordering::SeqCst)
        {
            self.notify_sleepers();
        }
    }

    fn notify_sleepers(&self) {
        // Taking the lock orders this notification after a sleeper's check: a writer between
        // its check and its wait holds the lock, so it cannot miss the wake-up.
        drop(self.fill.lock.lock().unwrap_or_else(|e| e.into_inner()));
        self.fill.cond.notify_all();
    }

    fn taken(&self, req: &WriteRequest) {
        self.bytes.fetch_sub(req.doc.size(), Ordering::AcqRel);
        self.update_gauges();
    }

    fn update_gauges(&self) {
        self.depth_gauge.set(self.rx.len() as f64);
        self.bytes_gauge
            .set(self.bytes.load(Ordering::Relaxed) as f64);
    }

    /// Lingering writers are woken at once: they write what they hold without waiting for
    /// their linger to end, then drain the rest.
    pub(super) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.notify_sleepers();
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    pub fn len(&self) -> usize {
        self.rx.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rx.is_empty()
    }

    pub fn bytes(&self) -> usize {
        self.bytes.load(Ordering::Relaxed)
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The fuller of the count and byte fill ratios, 0.0-1.0.
    pub fn fill_ratio(&self) -> f64 {
        let by_count = self.len() as f64 / self.capacity as f64;
        let by_bytes = self.bytes() as f64 / self.max_bytes as f64;
        by_count.max(by_bytes)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::{Duration, SystemTime};

    use super::*;
    use crate::frame::{Encoding, decode_document};
    use crate::ids::NodeId;

    fn request() -> WriteRequest {
        let body = include_bytes!("../../tests/fixtures/frame_json_names.json");
        let node = NodeId::parse("node1").unwrap();
        let doc = decode_document(body, Encoding::Json, &node, None, SystemTime::UNIX_EPOCH)
            .expect("fixture decodes")
            .doc;
        WriteRequest {
            doc,
            deadline: None,
            enqueued_at: Instant::now(),
            ack: None,
        }
    }

    const LONG: Duration = Duration::from_secs(10);

    #[test]
    fn wait_returns_at_once_when_already_filled() {
        let q = Queue::new(16, 1 << 20);
        q.try_send(request()).unwrap();
        let started = Instant::now();
        q.wait_filled(1, usize::MAX, started + LONG);
        assert!(started.elapsed() < LONG / 2);
        let size = q.bytes();
        q.wait_filled(usize::MAX, size, started + LONG);
        assert!(started.elapsed() < LONG / 2);
    }

    #[test]
    fn wait_ends_at_the_deadline_when_nothing_fills() {
        let q = Queue::new(16, 1 << 20);
        q.try_send(request()).unwrap();
        let started = Instant::now();
        q.wait_filled(2, usize::MAX, started + Duration::from_millis(30));
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(30) && took < LONG / 2,
            "{took:?}"
        );
        // A deadline already past does not sleep (linger = 0).
        q.wait_filled(2, usize::MAX, Instant::now());
    }

    #[test]
    fn a_send_wakes_only_when_the_need_is_met() {
        let q = Arc::new(Queue::new(16, 1 << 20));
        let waiter = {
            let q = q.clone();
            std::thread::spawn(move || {
                let started = Instant::now();
                q.wait_filled(3, usize::MAX, started + LONG);
                (started.elapsed(), q.len())
            })
        };
        for _ in 0..3 {
            std::thread::sleep(Duration::from_millis(20));
            q.try_send(request()).unwrap();
        }
        let (took, len) = waiter.join().unwrap();
        assert!(took < LONG / 2, "{took:?}");
        assert_eq!(len, 3, "woken before the third item");
    }

    #[test]
    fn bytes_wake_too() {
        let q = Arc::new(Queue::new(16, 1 << 20));
        q.try_send(request()).unwrap();
        let size = q.bytes();
        let waiter = {
            let q = q.clone();
            std::thread::spawn(move || {
                let started = Instant::now();
                q.wait_filled(usize::MAX, size * 2, started + LONG);
                started.elapsed()
            })
        };
        std::thread::sleep(Duration::from_millis(20));
        q.try_send(request()).unwrap();
        assert!(waiter.join().unwrap() < LONG / 2);
    }

    #[test]
    fn a_need_beyond_the_queue_wakes_at_half_of_it() {
        // Capacity 4: a writer wanting 500 items is woken once 2 are queued, not after its
        // linger with the queue full and refusing.
        let q = Arc::new(Queue::new(4, 1 << 30));
        let waiter = {
            let q = q.clone();
            std::thread::spawn(move || {
                let started = Instant::now();
                q.wait_filled(500, usize::MAX, started + LONG);
                (started.elapsed(), q.len())
            })
        };
        for _ in 0..2 {
            std::thread::sleep(Duration::from_millis(20));
            q.try_send(request()).unwrap();
        }
        let (took, len) = waiter.join().unwrap();
        println!("woken after {took:?} with {len} queued (capacity 4)");
        assert!(took < LONG / 2, "{took:?}");
        assert_eq!(len, 2);
    }

    #[test]
    fn close_wakes_every_sleeper() {
        let q = Arc::new(Queue::new(16, 1 << 20));
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let q = q.clone();
                std::thread::spawn(move || {
                    let started = Instant::now();
                    q.wait_filled(usize::MAX, usize::MAX, started + LONG);
                    started.elapsed()
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(30));
        q.close();
        for w in waiters {
            assert!(w.join().unwrap() < LONG / 2);
        }
    }

    #[test]
    fn several_sleepers_with_different_needs_each_wake_at_their_own() {
        let q = Arc::new(Queue::new(16, 1 << 20));
        let waiter = |need: usize| {
            let q = q.clone();
            std::thread::spawn(move || {
                let started = Instant::now();
                q.wait_filled(need, usize::MAX, started + LONG);
                (started.elapsed(), q.len())
            })
        };
        let (small, big) = (waiter(1), waiter(4));
        for _ in 0..4 {
            std::thread::sleep(Duration::from_millis(20));
            q.try_send(request()).unwrap();
        }
        let (took, len) = small.join().unwrap();
        assert!(took < LONG / 2 && len >= 1);
        let (took, len) = big.join().unwrap();
        assert!(took < LONG / 2, "{took:?}");
        assert_eq!(len, 4);
    }
}
