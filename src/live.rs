//! The live hub: frames fan out to live tails once they are durable.
//!
//! The writers publish every frame their batch *newly stored*, right after the store
//! acknowledged the batch and before the POSTs are answered, so a tail never shows a frame that
//! could still be lost, and a client holding its 200 knows every tail open at that moment has
//! the frame queued. Duplicates are not published (the first store was).
//!
//! One [`tokio::sync::broadcast`] channel per watched match, created by its first subscriber
//! and removed with its last, so publishing for a match nobody watches costs one map lookup
//! (and nothing at all while nobody watches anything). A channel holds at most
//! `LIVE_BUFFER` frames, shared by all of that match's subscribers: a subscriber that falls
//! further behind skips the oldest and learns how many (`Lagged`), rather than making the
//! service buffer for it. [`LiveHub::close`] ends every subscription at shutdown.
//!
//! Each instance publishes what its own writers stored: with several instances on one MongoDB,
//! a tail sees the frames posted to the instance it is connected to (see the README).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use metrics::{counter, gauge};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::frame::{EventDocument, StoredEvent};
use crate::ids::MatchId;
use crate::metrics as m;
use crate::store::Cursor;

/// A durable frame, as tails receive it.
#[derive(Debug)]
pub struct LiveFrame {
    pub cursor: Cursor,
    pub event: StoredEvent,
}

impl LiveFrame {
    fn of(doc: EventDocument) -> Self {
        Self {
            cursor: Cursor {
                timestamp_ms: doc.timestamp_ms,
                received_at_ms: doc.received_at_ms,
                id: doc.id,
            },
            event: StoredEvent(doc.bson),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SubscribeError {
    #[error("the subscriber cap is reached")]
    Full,
    #[error("the service is shutting down")]
    Closed,
}

pub struct LiveHub {
    channels: Mutex<HashMap<MatchId, broadcast::Sender<Arc<LiveFrame>>>>,
    subscribers: AtomicUsize,
    max_subscribers: usize,
    buffer: usize,
    closed: CancellationToken,
}

impl LiveHub {
    /// A hub holding at most `buffer` frames per watched match, for at most `max_subscribers`.
    pub fn new(buffer: usize, max_subscribers: usize) -> Self {
        Self {
            channels: Mutex::new(HashMap::new()),
            subscribers: AtomicUsize::new(0),
            max_subscribers,
            buffer: buffer.max(1),
            closed: CancellationToken::new(),
        }
    }

    /// Hands the frames of `docs` that `stored` marks to the tails of their matches.
    pub fn publish(&self, docs: Vec<EventDocument>, stored: impl Fn(usize) -> bool) {
        if self.subscribers.load(Ordering::Acquire) == 0 || self.closed.is_cancelled() {
            return;
        }
        let channels = self.channels.lock().unwrap_or_else(PoisonError::into_inner);
        for (i, doc) in docs.into_iter().enumerate() {
            if !stored(i) {
                continue;
            }
            if let Some(tx) = channels.get(&doc.match_id) {
                // No receiver left: the last one is being dropped; nothing to do.
                let _ = tx.send(Arc::new(LiveFrame::of(doc)));
            }
        }
    }

    /// Subscribes to a match's frames from now on.
    pub fn subscribe(self: &Arc<Self>, match_id: &MatchId) -> Result<Subscription, SubscribeError> {
        if self.closed.is_cancelled() {
            return Err(SubscribeError::Closed);
        }
        let taken = self
            .subscribers
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max_subscribers).then_some(n + 1)
            });
        if taken.is_err() {
            counter!(m::LIVE_REFUSED).increment(1);
            return Err(SubscribeError::Full);
        }
        gauge!(m::LIVE_SUBSCRIBERS).increment(1.0);
        let mut channels = self.channels.lock().unwrap_or_else(PoisonError::into_inner);
        let rx = match channels.get(match_id) {
            Some(tx) => tx.subscribe(),
            None => {
                let (tx, rx) = broadcast::channel(self.buffer);
                channels.insert(match_id.clone(), tx);
                rx
            }
        };
        Ok(Subscription {
            rx: Some(rx),
            hub: self.clone(),
            match_id: match_id.clone(),
        })
    }

    /// Ends every subscription (their streams see the end) and refuses new ones: at shutdown,
    /// so open tails do not hold the graceful drain until its deadline.
    pub fn close(&self) {
        self.closed.cancel();
        self.channels
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    /// Resolves once [`LiveHub::close`] was called.
    pub async fn closed(&self) {
        self.closed.cancelled().await;
    }

    pub fn is_closed(&self) -> bool {
        self.closed.is_cancelled()
    }

    /// Open subscriptions.
    pub fn subscribers(&self) -> usize {
        self.subscribers.load(Ordering::Acquire)
    }

    /// Frames held for `match_id`'s slowest subscriber (at most the buffer size).
    pub fn buffered(&self, match_id: &MatchId) -> usize {
        self.channels
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(match_id)
            .map_or(0, broadcast::Sender::len)
    }
}

/// What a receive gave.
#[derive(Debug)]
pub enum Received {
    Frame(Arc<LiveFrame>),
    /// This subscriber fell behind and this many frames were skipped.
    Lagged(u64),
    /// The hub closed (shutdown).
    Closed,
}

/// One tail's subscription; unsubscribes on drop.
pub struct Subscription {
    rx: Option<broadcast::Receiver<Arc<LiveFrame>>>,
    hub: Arc<LiveHub>,
    match_id: MatchId,
}

impl Subscription {
    pub async fn recv(&mut self) -> Received {
        let Some(rx) = self.rx.as_mut() else {
            return Received::Closed;
        };
        match rx.recv().await {
            Ok(frame) => Received::Frame(frame),
            Err(broadcast::error::RecvError::Lagged(n)) => {
                counter!(m::LIVE_LAGGED_FRAMES).increment(n);
                Received::Lagged(n)
            }
            Err(broadcast::error::RecvError::Closed) => Received::Closed,
        }
    }

    /// A frame already waiting, without waiting for one.
    pub fn try_recv(&mut self) -> Option<Received> {
        let rx = self.rx.as_mut()?;
        match rx.try_recv() {
            Ok(frame) => Some(Received::Frame(frame)),
            Err(broadcast::error::TryRecvError::Lagged(n)) => {
                counter!(m::LIVE_LAGGED_FRAMES).increment(n);
                Some(Received::Lagged(n))
            }
            Err(broadcast::error::TryRecvError::Closed) => Some(Received::Closed),
            Err(broadcast::error::TryRecvError::Empty) => None,
        }
    }

    pub fn hub(&self) -> &LiveHub {
        &self.hub
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        drop(self.rx.take());
        self.hub.subscribers.fetch_sub(1, Ordering::AcqRel);
        gauge!(m::LIVE_SUBSCRIBERS).decrement(1.0);
        let mut channels = self
            .hub
            .channels
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if channels
            .get(&self.match_id)
            .is_some_and(|tx| tx.receiver_count() == 0)
        {
            channels.remove(&self.match_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;
    use crate::frame::{self, Encoding};
    use crate::ids::NodeId;

    fn doc(session: &str, index: u32) -> EventDocument {
        let body = format!(r#"{{"frameIndex":{index},"session":{{"sessionid":"{session}"}}}}"#);
        let decoded = frame::decode(body.as_bytes(), Encoding::Json).unwrap();
        EventDocument::build(
            &decoded,
            &NodeId::parse("n1").unwrap(),
            None,
            SystemTime::now(),
        )
        .unwrap()
    }

    const A: &str = "892e23e2-8272-4b07-85e8-5e291ac85f93";
    const B: &str = "11111111-8272-4b07-85e8-5e291ac85f93";

    #[tokio::test]
    async fn frames_reach_their_match_only_and_lag_is_counted() {
        let hub = Arc::new(LiveHub::new(2, 10));
        let a = doc(A, 1).match_id.clone();
        let mut sub = hub.subscribe(&a).unwrap();
        hub.publish(vec![doc(A, 1), doc(B, 1), doc(A, 2)], |_| true);
        for want in [1, 2] {
            match sub.recv().await {
                Received::Frame(f) => {
                    assert_eq!(f.event.frame().unwrap().frame_index, want);
                }
                other => panic!("{other:?}"),
            }
        }
        // Five more into a buffer of two: three skipped, the newest two kept.
        hub.publish((3..8).map(|i| doc(A, i)).collect(), |_| true);
        assert_eq!(hub.buffered(&a), 2);
        assert!(matches!(sub.recv().await, Received::Lagged(3)));
        assert!(matches!(sub.recv().await, Received::Frame(_)));
        assert!(matches!(sub.recv().await, Received::Frame(_)));
        assert!(sub.try_recv().is_none());
    }

    #[tokio::test]
    async fn the_cap_counts_open_subscriptions_and_close_ends_them() {
        let hub = Arc::new(LiveHub::new(4, 2));
        let a = doc(A, 1).match_id.clone();
        let s1 = hub.subscribe(&a).unwrap();
        let mut s2 = hub.subscribe(&a).unwrap();
        assert_eq!(hub.subscribe(&a).err(), Some(SubscribeError::Full));
        drop(s1);
        assert_eq!(hub.subscribers(), 1);
        let _s3 = hub.subscribe(&a).unwrap();
        hub.close();
        assert!(matches!(s2.recv().await, Received::Closed));
        assert_eq!(hub.subscribe(&a).err(), Some(SubscribeError::Closed));
    }
}
