//! What the service answers, as the client returns it.

use serde::{Deserialize, Serialize};

use crate::proto::LobbySessionStateFrame;

/// The answer to a stored frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// `<session uuid>.<node>`, as the service computed it (lower-case uuid).
    pub match_id: String,
    /// 200 once durably written, or 202 when the service acknowledges on enqueue.
    pub status: u16,
}

/// The optional query of a `GET /session-events/{match_id}`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageRequest {
    /// Most events in the page (1..=10000); `None`: all of them.
    pub limit: Option<u32>,
    /// The `next` cursor of the previous page.
    pub after: Option<String>,
    /// Only events whose frame timestamp is at or after this time.
    pub since: Option<chrono::DateTime<chrono::Utc>>,
    /// Only events whose frame timestamp is at or before this time.
    pub until: Option<chrono::DateTime<chrono::Utc>>,
}

/// One page of a match's events, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventsPage {
    pub match_id: String,
    pub count: u64,
    pub events: Vec<Event>,
    /// Cursor for the next page ([`PageRequest::after`]); present only when `limit` left
    /// events unread.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// One stored frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub match_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    pub data: LobbySessionStateFrame,
}

/// The answer of `GET /health`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// True for a 200 `"healthy"` answer, false for the 503 `"unhealthy"` one.
    #[serde(skip)]
    pub healthy: bool,
    pub status: String,
    #[serde(default)]
    pub timestamp: Option<String>,
    /// Which store backs the service (`mongodb`, `embedded`).
    #[serde(default)]
    pub store: Option<String>,
    /// Why the store did not answer, when unhealthy.
    #[serde(default)]
    pub error: Option<String>,
}
