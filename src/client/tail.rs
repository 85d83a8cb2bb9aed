//! [`Client::tail`]: follow a match live (`GET /session-events/{id}/live`, Server-Sent Events).
//!
//! ```no_run
//! # async fn demo(client: session_events::client::Client) -> Result<(), session_events::client::ClientError> {
//! use session_events::client::{TailEvent, TailFrom};
//!
//! let mut tail = client.tail("892e23e2-8272-4b07-85e8-5e291ac85f93.node1", TailFrom::Now).await?;
//! while let Some(event) = tail.next().await? {
//!     match event {
//!         TailEvent::Frame { event, .. } => println!("frame {}", event.data.frame_index),
//!         TailEvent::Lagged(n) => println!("fell behind: {n} frames skipped"),
//!     }
//! }
//! // Ended: the service shut down. Reconnect with TailFrom::After(tail.last_id()) to resume.
//! # Ok(()) }
//! ```

use std::time::Duration;

use reqwest::header;

use super::export::status_error_of;
use super::matches::rfc3339_param;
use super::{Client, ClientError, Event, decode, join};

/// Where a tail starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TailFrom {
    /// Only frames stored from now on.
    Now,
    /// Stored frames from this time (frame timestamp), then live ones.
    Since(chrono::DateTime<chrono::Utc>),
    /// Resume after this event id (a [`TailEvent::Frame`]'s `id`).
    After(String),
}

/// What a tail receives.
#[derive(Debug, Clone, PartialEq)]
pub enum TailEvent {
    /// A durable frame; `id` resumes after it ([`TailFrom::After`]).
    Frame { id: String, event: Box<Event> },
    /// This tail fell behind and this many frames were skipped (re-read them with
    /// [`Client::events_matching`] if they matter).
    Lagged(u64),
}

/// An open tail. Not retried by itself: on an error or the end, open a new one from
/// [`Tail::last_id`].
pub struct Tail {
    response: reqwest::Response,
    buf: Vec<u8>,
    last_id: Option<String>,
}

/// A tail has no whole-request deadline (it lasts as long as the match); this is only there
/// because reqwest takes one.
const TAIL_TIMEOUT: Duration = Duration::from_secs(365 * 24 * 3600);

impl Client {
    /// Opens a live tail of the match. Refusals (400, 401, 503 at the subscriber cap) are
    /// errors here; the connection itself is not retried.
    pub async fn tail(&self, match_id: &str, from: TailFrom) -> Result<Tail, ClientError> {
        let mut url = join(&self.base, &["session-events", match_id, "live"]);
        let mut request = self.http.get(url.clone()).timeout(TAIL_TIMEOUT);
        match &from {
            TailFrom::Now => {}
            TailFrom::Since(t) => {
                url.query_pairs_mut()
                    .append_pair("since", &rfc3339_param(t));
                request = self.http.get(url).timeout(TAIL_TIMEOUT);
            }
            TailFrom::After(id) => request = request.header("last-event-id", id.as_str()),
        }
        if let Some(auth) = &self.authorization {
            request = request.header(header::AUTHORIZATION, auth.clone());
        }
        let response = request
            .send()
            .await
            .map_err(|source| ClientError::Transport {
                attempts: 1,
                source,
            })?;
        if !response.status().is_success() {
            return Err(status_error_of(response).await);
        }
        Ok(Tail {
            response,
            buf: Vec::new(),
            last_id: match from {
                TailFrom::After(id) => Some(id),
                _ => None,
            },
        })
    }
}

impl Tail {
    /// The next frame or lag notice; `Ok(None)` when the service ended the tail (shutdown).
    pub async fn next(&mut self) -> Result<Option<TailEvent>, ClientError> {
        loop {
            while let Some(end) = self.buf.windows(2).position(|w| w == b"\n\n") {
                let block: Vec<u8> = self.buf.drain(..end + 2).collect();
                if let Some(event) = self.parse(&block)? {
                    return Ok(Some(event));
                }
            }
            match self.response.chunk().await {
                Ok(Some(chunk)) => self.buf.extend_from_slice(&chunk),
                Ok(None) => return Ok(None),
                Err(source) => {
                    return Err(ClientError::Transport {
                        attempts: 1,
                        source,
                    });
                }
            }
        }
    }

    /// The id to resume from: the last frame's (or the one this tail resumed after).
    pub fn last_id(&self) -> Option<&str> {
        self.last_id.as_deref()
    }

    fn parse(&mut self, block: &[u8]) -> Result<Option<TailEvent>, ClientError> {
        let text = String::from_utf8_lossy(block);
        let (mut event, mut id, mut data) = (None, None, String::new());
        for line in text.lines() {
            let (field, value) = line.split_once(':').unwrap_or((line, ""));
            let value = value.strip_prefix(' ').unwrap_or(value);
            match field {
                "event" => event = Some(value.to_owned()),
                "id" => id = Some(value.to_owned()),
                "data" => data.push_str(value),
                _ => {} // comments (empty field) and unknown fields are ignored, per SSE
            }
        }
        match event.as_deref() {
            Some("frame") => {
                let event: Box<Event> = decode(data.as_bytes(), "a tail frame")?;
                let id = id.unwrap_or_default();
                self.last_id = Some(id.clone());
                Ok(Some(TailEvent::Frame { id, event }))
            }
            Some("lagged") => {
                #[derive(serde::Deserialize)]
                struct Lagged {
                    skipped: u64,
                }
                let l: Lagged = decode(data.as_bytes(), "a lagged notice")?;
                Ok(Some(TailEvent::Lagged(l.skipped)))
            }
            _ => Ok(None),
        }
    }
}
