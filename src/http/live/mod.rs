//! The live tail of a match, shared by its two transports: Server-Sent Events ([`sse`],
//! `GET /session-events/{id}/live`) and WebSocket ([`ws`], `…/live/ws`).
//!
//! # History, then live, with no gap and no repeat at the seam
//!
//! 1. **Subscribe first** to the [`LiveHub`](crate::live::LiveHub): from here on every frame
//!    the writers make durable is queued for this tail.
//! 2. **Replay history** from the store (`since`, or strictly after `Last-Event-ID`), page by
//!    page in the match's order `(timestamp, received_at, _id)`.
//! 3. **Switch to live**, skipping the live frames the replay already sent.
//!
//! Step 3 cannot compare cursors: a frame posted late with an older timestamp than frames
//! already replayed has a *smaller* cursor, yet the replay (which had passed its position)
//! never sent it; dropping live frames "at or before the last replayed cursor" would lose it.
//! So the replay remembers the `_id`s it sent, and a live frame is skipped exactly when its
//! `_id` is among them. Only frames received within `LIVE_SEAM_WINDOW` before the subscription
//! can be both replayed and live (older ones were written before it; the window covers the
//! request deadline twice over), so only those are remembered: memory is bounded by the
//! match's frame rate, not its length.
//!
//! # Resume position
//!
//! Each frame carries an `id`: the resume position, the largest cursor sent so far (the
//! frame's own cursor unless it is older than one already sent). Resuming with it replays
//! what comes after it in the match's order, so nothing sent is repeated. (A frame posted late,
//! with a timestamp older than that position, while the client was away is not replayed: use
//! `GET /session-events/{id}` with `since` for a complete re-read.)
//!
//! # Slow subscribers
//!
//! Between the tail and its connection sits a channel of [`SEND_AHEAD`] rendered items. A
//! client that does not read stalls its connection, then this channel, then the tail's reads
//! of the hub; the hub's buffer for the match is bounded (`LIVE_BUFFER`), so the tail skips
//! the oldest and tells the client `lagged` with the count. Memory never grows with the lag.

pub mod sse;
pub mod ws;

use std::collections::HashSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::HeaderMap;
use futures::StreamExt;
use serde::Deserialize;
use tokio::sync::mpsc;

use super::read::time_param;
use super::{ApiError, AppState};
use crate::frame::render_event_json;
use crate::ids::MatchId;
use crate::live::{Received, SubscribeError, Subscription};
use crate::logging::error_chain;
use crate::store::{Cursor, ReadQuery, StoreError};

/// Rendered items queued between the tail and its connection.
const SEND_AHEAD: usize = 16;

#[derive(Debug, Deserialize)]
pub struct TailParams {
    since: Option<String>,
    last_event_id: Option<String>,
}

/// What a tail sends.
#[derive(Debug)]
pub enum TailItem {
    /// One frame: the resume position and the event object (`{"match_id":…,"data":{…}}`).
    Frame { id: String, json: String },
    /// This many frames were skipped because the subscriber fell behind.
    Lagged(u64),
}

/// A tail that is subscribed and about to replay: what a handler checks before it answers.
pub struct Tail {
    app: AppState,
    match_id: MatchId,
    subscription: Subscription,
    after: Option<Cursor>,
    since_ms: Option<i64>,
    subscribed_at_ms: i64,
}

impl Tail {
    /// Parses the request and subscribes; every refusal happens here, before the response.
    pub fn open(
        app: &AppState,
        raw_match_id: &str,
        params: &TailParams,
        headers: &HeaderMap,
    ) -> Result<Self, ApiError> {
        let match_id = MatchId::parse(raw_match_id)?;
        let resume = headers
            .get("last-event-id")
            .map(|v| v.to_str().unwrap_or("\u{0}").to_owned())
            .or_else(|| params.last_event_id.clone());
        let after = resume
            .as_deref()
            .map(|s| {
                Cursor::decode(s).ok_or_else(|| {
                    ApiError::BadRequest(
                        "`Last-Event-ID` is not an event id this service sent".into(),
                    )
                })
            })
            .transpose()?;
        let since_ms = time_param("since", params.since.as_deref())?;
        let subscription = app.live.subscribe(&match_id).map_err(|e| match e {
            SubscribeError::Full => ApiError::TooManySubscribers,
            SubscribeError::Closed => ApiError::ShuttingDown,
        })?;
        Ok(Self {
            app: app.clone(),
            match_id,
            subscription,
            after,
            since_ms,
            subscribed_at_ms: now_ms(),
        })
    }

    /// Runs the tail on its own task; the receiver ends when the tail does (shutdown, a store
    /// error during the replay) and the tail ends when the receiver is dropped (client gone).
    pub fn spawn(self) -> mpsc::Receiver<TailItem> {
        let (tx, rx) = mpsc::channel(SEND_AHEAD);
        tokio::spawn(async move {
            let hub_closed = self.app.live.clone();
            // The client going away (its connection dropped the receiver) ends the tail even
            // while no frame arrives, so an idle tail frees its subscription at once.
            tokio::select! {
                () = self.run(&tx) => {}
                () = hub_closed.closed() => {}
                () = tx.closed() => {}
            }
        });
        rx
    }

    async fn run(mut self, tx: &mpsc::Sender<TailItem>) {
        let mut seam = Seam {
            window_start_ms: self
                .subscribed_at_ms
                .saturating_sub(duration_ms(self.app.settings.live_seam_window)),
            sent: HashSet::new(),
            high: self.after,
        };
        if (self.after.is_some() || self.since_ms.is_some())
            && let Err(e) = self.replay(&mut seam, tx).await
        {
            tracing::warn!(error = %error_chain(&e), match_id = %self.match_id, "tail replay failed");
            return;
        }
        loop {
            let item = match self.subscription.recv().await {
                Received::Frame(frame) => {
                    if seam.sent.contains(&frame.cursor.id.0) {
                        continue;
                    }
                    let Some(item) = seam.item(frame.cursor, &frame.event) else {
                        continue;
                    };
                    item
                }
                Received::Lagged(n) => TailItem::Lagged(n),
                Received::Closed => return,
            };
            if tx.send(item).await.is_err() {
                return;
            }
        }
    }

    /// Sends the stored frames the client asked for, remembering the recent ones.
    async fn replay(
        &mut self,
        seam: &mut Seam,
        tx: &mpsc::Sender<TailItem>,
    ) -> Result<(), StoreError> {
        let query = ReadQuery {
            match_id: self.match_id.clone(),
            after: self.after,
            since_ms: self.since_ms,
            until_ms: None,
            limit: None,
        };
        let timeout = self.app.settings.store_timeout;
        let mut events = tokio::time::timeout(timeout, self.app.store.read(query))
            .await
            .map_err(|_| StoreError::Timeout(timeout))??;
        while let Some(event) = events.next().await {
            let event = event?;
            let cursor = Cursor::of(&event).map_err(StoreError::Corrupt)?;
            if cursor.received_at_ms >= seam.window_start_ms {
                seam.sent.insert(cursor.id.0);
            }
            if let Some(item) = seam.item(cursor, &event)
                && tx.send(item).await.is_err()
            {
                return Ok(());
            }
        }
        Ok(())
    }
}

/// What the tail knows at its seam.
struct Seam {
    window_start_ms: i64,
    /// `_id`s of replayed frames received within the seam window.
    sent: HashSet<u128>,
    /// The resume position: the largest cursor sent (or resumed from).
    high: Option<Cursor>,
}

impl Seam {
    fn item(&mut self, cursor: Cursor, event: &crate::frame::StoredEvent) -> Option<TailItem> {
        let mut json = Vec::with_capacity(16 * 1024);
        if let Err(e) = render_event_json(event, &mut json) {
            tracing::warn!(error = %e, "skipping an unreadable stored frame in a tail");
            return None;
        }
        let high = self.high.map_or(cursor, |h| h.max(cursor));
        self.high = Some(high);
        Some(TailItem::Frame {
            id: high.encode(),
            // serde_json writes UTF-8 and escapes control characters: one line, valid text.
            json: String::from_utf8(json).ok()?,
        })
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
