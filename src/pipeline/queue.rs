//! A crossbeam channel bounded by item count, plus a byte budget so that big frames cannot
//! blow memory while the count bound still has room.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

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

    pub(super) fn recv_deadline(&self, deadline: std::time::Instant) -> Option<WriteRequest> {
        self.rx
            .recv_deadline(deadline)
            .ok()
            .inspect(|req| self.taken(req))
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

    pub(super) fn close(&self) {
        self.closed.store(true, Ordering::Release);
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
