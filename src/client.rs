//! An HTTP client for the service's API (feature `client`, on by default).
//!
//! ```no_run
//! # async fn demo(frame: session_events::proto::LobbySessionStateFrame)
//! # -> Result<(), session_events::client::ClientError> {
//! use session_events::client::Client;
//!
//! let client = Client::builder("http://127.0.0.1:8080").node_id("node1").build()?;
//! let stored = client.store_frame(&frame).await?;
//! let events = client.events(&stored.match_id).await?;
//! println!("{} holds {} events", stored.match_id, events.len());
//! # Ok(()) }
//! ```
//!
//! # Retries
//!
//! Every call except [`Client::health`] retries, up to [`ClientBuilder::max_retries`] times,
//! when the service answers **503** (queue full, store unavailable, shutting down) or **504**
//! (the write missed the request deadline), and when the request failed in transport
//! (connection refused or reset, timeout, truncated response). The wait between attempts
//! grows exponentially with random jitter, and is never shorter than the `Retry-After` the
//! service sent. Other statuses, 4xx in particular, are returned at once: repeating the same
//! request would get the same answer.
//!
//! Retrying a POST is safe because the service's writes are idempotent: storing the exact same
//! frame again for the same match and user never creates a second event and still answers
//! success, so a frame whose first attempt was in fact written (the answer was lost, or the
//! 504 came after the write) is stored once.
//!
//! This build of reqwest has no TLS: base URLs are `http://` (terminate TLS in front of the
//! service, or on a sidecar next to the client).

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use prost::Message;
use reqwest::header::{self, HeaderValue};
use reqwest::{StatusCode, Url};
use serde::{Deserialize, Serialize};

use crate::ids::{NodeId, UserId};
use crate::proto::LobbySessionStateFrame;

// The read side: match list, live tail, replay export.
mod export;
mod matches;
mod tail;
pub use export::{ExportFormat, ExportRequest};
pub use matches::{MatchListRequest, MatchPage, MatchSummary};
pub use tail::{Tail, TailEvent, TailFrom};

/// Default of [`ClientBuilder::max_retries`].
pub const DEFAULT_MAX_RETRIES: u32 = 5;
/// Default of [`ClientBuilder::timeout`]: longer than the service's default request deadline
/// (30 s), so a slow write is seen as the service's 504 (retried) rather than a client timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(40);
/// Default of [`ClientBuilder::page_size`].
pub const DEFAULT_PAGE_SIZE: u32 = 1000;
/// Largest page the service serves (its `limit` bound).
pub const MAX_PAGE_SIZE: u32 = 10_000;
/// Default first wait of the exponential backoff.
pub const DEFAULT_BACKOFF_MIN: Duration = Duration::from_millis(100);
/// Default longest wait of the exponential backoff.
pub const DEFAULT_BACKOFF_MAX: Duration = Duration::from_secs(10);
/// A `Retry-After` longer than this is shortened to it.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);
/// How much of an error body a [`ClientError::Status`] keeps when it is not the service's JSON.
const MAX_ERROR_TEXT: usize = 512;

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The builder was given something unusable (bad base URL, node id, user id, token).
    #[error("invalid client configuration: {0}")]
    Config(String),
    /// The service answered with an error status: `message` is its JSON `error` (or the start
    /// of the body when it was not the service's JSON). `attempts` counts the retries too.
    #[error("the service answered {status} after {attempts} attempt(s): {message}")]
    Status {
        status: u16,
        message: String,
        attempts: u32,
    },
    /// No (complete) answer: connection refused or reset, timeout, truncated body.
    #[error("the request failed after {attempts} attempt(s)")]
    Transport {
        attempts: u32,
        #[source]
        source: reqwest::Error,
    },
    /// Writing an export to its destination failed.
    #[error("cannot write the export")]
    Io(#[source] std::io::Error),
    /// The service answered success with a body this client does not understand.
    #[error("cannot decode the service's answer as {what}")]
    Decode {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
}

impl ClientError {
    /// The HTTP status, for [`ClientError::Status`].
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// Configures a [`Client`]; see [`Client::builder`].
#[derive(Debug, Clone)]
#[must_use]
pub struct ClientBuilder {
    base_url: String,
    node_id: Option<String>,
    user_id: Option<String>,
    bearer_token: Option<String>,
    timeout: Duration,
    connect_timeout: Option<Duration>,
    max_retries: u32,
    page_size: u32,
    backoff: Backoff,
}

impl ClientBuilder {
    /// `X-Node-ID` sent with every POST (the `<node>` of the match id); without it the
    /// service uses `default-node`.
    pub fn node_id(mut self, node_id: impl Into<String>) -> Self {
        self.node_id = Some(node_id.into());
        self
    }

    /// `X-User-ID` sent with every POST, stored with each event. See also
    /// [`Client::with_user_id`].
    pub fn user_id(mut self, user_id: impl Into<String>) -> Self {
        self.user_id = Some(user_id.into());
        self
    }

    /// `Authorization: Bearer <token>` on every request, for a service with auth configured.
    pub fn bearer_token(mut self, token: impl Into<String>) -> Self {
        self.bearer_token = Some(token.into());
        self
    }

    /// Bound on one attempt, from connecting to the end of the response body (default
    /// [`DEFAULT_TIMEOUT`]). A timed-out attempt is retried.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Bound on establishing a connection (default: the smaller of 10 s and the timeout).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = Some(timeout);
        self
    }

    /// Retries after the first attempt (default [`DEFAULT_MAX_RETRIES`]; 0 disables them).
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.max_retries = retries;
        self
    }

    /// Events per request when [`Client::events`] follows the cursors (default
    /// [`DEFAULT_PAGE_SIZE`]; clamped to 1..=[`MAX_PAGE_SIZE`]).
    pub fn page_size(mut self, events: u32) -> Self {
        self.page_size = events.clamp(1, MAX_PAGE_SIZE);
        self
    }

    /// First and longest wait between attempts (defaults [`DEFAULT_BACKOFF_MIN`] and
    /// [`DEFAULT_BACKOFF_MAX`]). The wait doubles per attempt, with jitter.
    pub fn backoff(mut self, min: Duration, max: Duration) -> Self {
        self.backoff = Backoff {
            min,
            max: max.max(min),
        };
        self
    }

    pub fn build(self) -> Result<Client, ClientError> {
        let base = parse_base_url(&self.base_url)?;
        let node_id = self
            .node_id
            .map(|raw| {
                NodeId::parse(&raw).map_err(|e| ClientError::Config(e.to_string()))?;
                header_value("node id", &raw, false)
            })
            .transpose()?;
        let user_id = self.user_id.as_deref().map(user_header).transpose()?;
        let authorization = self
            .bearer_token
            .map(|token| header_value("bearer token", &format!("Bearer {token}"), true))
            .transpose()?;
        let connect_timeout = self
            .connect_timeout
            .unwrap_or_else(|| self.timeout.min(Duration::from_secs(10)));
        let http = reqwest::Client::builder()
            .user_agent(concat!("session-events-client/", env!("CARGO_PKG_VERSION")))
            .timeout(self.timeout)
            .connect_timeout(connect_timeout)
            .build()
            .map_err(|e| ClientError::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(Client {
            http,
            base,
            node_id,
            user_id,
            authorization,
            max_retries: self.max_retries,
            page_size: self.page_size,
            backoff: self.backoff,
        })
    }
}

fn parse_base_url(raw: &str) -> Result<Url, ClientError> {
    let mut url = Url::parse(raw.trim())
        .map_err(|e| ClientError::Config(format!("base URL {raw:?} is not a URL: {e}")))?;
    match url.scheme() {
        "http" => {}
        "https" => {
            return Err(ClientError::Config(format!(
                "base URL {raw:?}: this client is built without TLS; use http:// (TLS in front of the service)"
            )));
        }
        other => {
            return Err(ClientError::Config(format!(
                "base URL {raw:?}: scheme {other:?} is not http"
            )));
        }
    }
    if url.cannot_be_a_base() || url.host().is_none() {
        return Err(ClientError::Config(format!("base URL {raw:?} has no host")));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(ClientError::Config(format!(
            "base URL {raw:?} must not have a query or fragment"
        )));
    }
    // A path prefix (service mounted under /api/) is kept; the routes are appended to it.
    url.path_segments_mut()
        .map_err(|()| ClientError::Config(format!("base URL {raw:?} has no host")))?
        .pop_if_empty();
    Ok(url)
}

fn header_value(what: &str, raw: &str, sensitive: bool) -> Result<HeaderValue, ClientError> {
    let mut value = HeaderValue::from_str(raw)
        .ok()
        // The service reads headers as visible ASCII only.
        .filter(|v| v.to_str().is_ok())
        .ok_or_else(|| {
            ClientError::Config(format!(
                "{what} cannot be sent as an HTTP header (visible ASCII only)"
            ))
        })?;
    value.set_sensitive(sensitive);
    Ok(value)
}

fn user_header(raw: &str) -> Result<HeaderValue, ClientError> {
    UserId::parse(raw).map_err(|e| ClientError::Config(e.to_string()))?;
    header_value("user id", raw, false)
}

/// The service's API over HTTP. Cheap to clone (clones share one connection pool).
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: Url,
    node_id: Option<HeaderValue>,
    user_id: Option<HeaderValue>,
    authorization: Option<HeaderValue>,
    max_retries: u32,
    page_size: u32,
    backoff: Backoff,
}

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

#[derive(Deserialize)]
struct StoreAnswer {
    match_id: String,
}

#[derive(Deserialize)]
struct ErrorAnswer {
    error: String,
}

/// A complete response.
struct Reply {
    status: StatusCode,
    retry_after: Option<Duration>,
    body: Bytes,
}

impl Client {
    /// A builder for the service at `base_url` (e.g. `http://127.0.0.1:8080`; a path prefix
    /// such as `http://host/api/` is kept).
    pub fn builder(base_url: impl Into<String>) -> ClientBuilder {
        ClientBuilder {
            base_url: base_url.into(),
            node_id: None,
            user_id: None,
            bearer_token: None,
            timeout: DEFAULT_TIMEOUT,
            connect_timeout: None,
            max_retries: DEFAULT_MAX_RETRIES,
            page_size: DEFAULT_PAGE_SIZE,
            backoff: Backoff::default(),
        }
    }

    /// A client with every default.
    pub fn new(base_url: impl Into<String>) -> Result<Self, ClientError> {
        Self::builder(base_url).build()
    }

    /// The same client (sharing its connections) posting as another user (`None`: none).
    pub fn with_user_id(&self, user_id: Option<&str>) -> Result<Self, ClientError> {
        let mut client = self.clone();
        client.user_id = user_id.map(user_header).transpose()?;
        Ok(client)
    }

    pub fn base_url(&self) -> &Url {
        &self.base
    }

    /// Stores one frame, sent as binary protobuf.
    pub async fn store_frame(&self, frame: &LobbySessionStateFrame) -> Result<Stored, ClientError> {
        self.store(Bytes::from(frame.encode_to_vec()), "application/x-protobuf")
            .await
    }

    /// Stores one frame given as protojson, sent exactly as given.
    pub async fn store_json(&self, body: impl Into<Bytes>) -> Result<Stored, ClientError> {
        self.store(body.into(), "application/json").await
    }

    async fn store(&self, body: Bytes, content_type: &'static str) -> Result<Stored, ClientError> {
        let url = self.url(&["session-events"]);
        let reply = self
            .send(|| {
                let mut request = self
                    .http
                    .post(url.clone())
                    .header(header::CONTENT_TYPE, content_type)
                    .body(body.clone());
                if let Some(node) = &self.node_id {
                    request = request.header("x-node-id", node.clone());
                }
                if let Some(user) = &self.user_id {
                    request = request.header("x-user-id", user.clone());
                }
                request
            })
            .await?;
        let answer: StoreAnswer = decode(&reply.body, "a store answer")?;
        Ok(Stored {
            match_id: answer.match_id,
            status: reply.status.as_u16(),
        })
    }

    /// One page of a match's events. An unknown match is an empty page, not an error.
    pub async fn events_page(
        &self,
        match_id: &str,
        page: &PageRequest,
    ) -> Result<EventsPage, ClientError> {
        let url = events_url(&self.base, match_id, page);
        let reply = self.send(|| self.http.get(url.clone())).await?;
        decode(&reply.body, "a page of events")
    }

    /// Every event of the match, oldest first, fetched [`ClientBuilder::page_size`] at a time.
    pub async fn events(&self, match_id: &str) -> Result<Vec<Event>, ClientError> {
        self.events_matching(match_id, &PageRequest::default())
            .await
    }

    /// Every event of the match within `query.since`/`query.until`, starting after
    /// `query.after`, following the cursors page by page. `query.limit` is the page size
    /// (default [`ClientBuilder::page_size`]), not a bound on the total.
    pub async fn events_matching(
        &self,
        match_id: &str,
        query: &PageRequest,
    ) -> Result<Vec<Event>, ClientError> {
        let mut page_request = PageRequest {
            limit: Some(query.limit.unwrap_or(self.page_size)),
            ..query.clone()
        };
        let mut events = Vec::new();
        loop {
            let page = self.events_page(match_id, &page_request).await?;
            let empty = page.events.is_empty();
            events.extend(page.events);
            match page.next {
                // An empty page with a cursor would loop forever; the service never sends one.
                Some(next) if !empty => page_request.after = Some(next),
                _ => return Ok(events),
            }
        }
    }

    /// `GET /health`, once (no retries: it reports the current state). A 503 with the
    /// service's body is `Ok` with `healthy: false`.
    pub async fn health(&self) -> Result<Health, ClientError> {
        let url = self.url(&["health"]);
        let reply =
            self.attempt(self.http.get(url))
                .await
                .map_err(|source| ClientError::Transport {
                    attempts: 1,
                    source,
                })?;
        match reply.status {
            StatusCode::OK | StatusCode::SERVICE_UNAVAILABLE => {
                match serde_json::from_slice::<Health>(&reply.body) {
                    Ok(mut health) => {
                        health.healthy =
                            reply.status == StatusCode::OK && health.status == "healthy";
                        Ok(health)
                    }
                    Err(_) if reply.status != StatusCode::OK => Err(status_error(&reply, 1)),
                    Err(source) => Err(ClientError::Decode {
                        what: "a health answer",
                        source,
                    }),
                }
            }
            _ => Err(status_error(&reply, 1)),
        }
    }

    fn url(&self, segments: &[&str]) -> Url {
        join(&self.base, segments)
    }

    /// One request: send it and read the whole body.
    async fn attempt(&self, mut request: reqwest::RequestBuilder) -> Result<Reply, reqwest::Error> {
        if let Some(auth) = &self.authorization {
            request = request.header(header::AUTHORIZATION, auth.clone());
        }
        let response = request.send().await?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        let body = response.bytes().await?;
        Ok(Reply {
            status,
            retry_after,
            body,
        })
    }

    /// Sends the request `build` makes until it succeeds, fails for good, or the retries run
    /// out. Only a 2xx is `Ok`.
    async fn send(
        &self,
        build: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<Reply, ClientError> {
        let mut retries = 0;
        loop {
            let outcome = match self.attempt(build()).await {
                Ok(reply) if reply.status.is_success() => return Ok(reply),
                other => other,
            };
            let (retryable, hint) = match &outcome {
                Ok(reply) => (is_retryable_status(reply.status), reply.retry_after),
                Err(e) => (is_retryable_transport(e), None),
            };
            if !retryable || retries >= self.max_retries {
                let attempts = retries + 1;
                return Err(match outcome {
                    Ok(reply) => status_error(&reply, attempts),
                    Err(source) => ClientError::Transport { attempts, source },
                });
            }
            let delay = self.backoff.delay(retries, hint, fastrand::f64());
            tracing::debug!(
                attempt = retries + 1,
                ?delay,
                outcome = %match &outcome {
                    Ok(reply) => reply.status.to_string(),
                    Err(e) => e.to_string(),
                },
                "retrying"
            );
            tokio::time::sleep(delay).await;
            retries += 1;
        }
    }
}

fn decode<T: serde::de::DeserializeOwned>(
    body: &[u8],
    what: &'static str,
) -> Result<T, ClientError> {
    serde_json::from_slice(body).map_err(|source| ClientError::Decode { what, source })
}

fn status_error(reply: &Reply, attempts: u32) -> ClientError {
    let message = match serde_json::from_slice::<ErrorAnswer>(&reply.body) {
        Ok(answer) => answer.error,
        Err(_) => {
            let text = String::from_utf8_lossy(&reply.body);
            let text = text.trim();
            if text.is_empty() {
                reply
                    .status
                    .canonical_reason()
                    .unwrap_or("no error message")
                    .to_owned()
            } else {
                let mut end = text.len().min(MAX_ERROR_TEXT);
                while !text.is_char_boundary(end) {
                    end -= 1;
                }
                text[..end].to_owned()
            }
        }
    };
    ClientError::Status {
        status: reply.status.as_u16(),
        message,
        attempts,
    }
}

/// 503 (overloaded, store down, shutting down) and 504 (deadline) are worth another attempt.
fn is_retryable_status(status: StatusCode) -> bool {
    matches!(
        status,
        StatusCode::SERVICE_UNAVAILABLE | StatusCode::GATEWAY_TIMEOUT
    )
}

/// Anything that went wrong on the wire; not a request this client could not even build.
fn is_retryable_transport(e: &reqwest::Error) -> bool {
    !e.is_builder() && !e.is_redirect() && !e.is_status()
}

/// `base` plus path segments (each percent-encoded as needed).
fn join(base: &Url, segments: &[&str]) -> Url {
    let mut url = base.clone();
    url.path_segments_mut()
        .expect("checked in parse_base_url: the base URL has a host")
        .pop_if_empty()
        .extend(segments);
    url
}

fn events_url(base: &Url, match_id: &str, page: &PageRequest) -> Url {
    let mut url = join(base, &["session-events", match_id]);
    let rfc3339 =
        |t: &chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
    let params = [
        ("limit", page.limit.map(|l| l.to_string())),
        ("after", page.after.clone()),
        ("since", page.since.as_ref().map(rfc3339)),
        ("until", page.until.as_ref().map(rfc3339)),
    ];
    if params.iter().any(|(_, v)| v.is_some()) {
        let mut query = url.query_pairs_mut();
        for (name, value) in params {
            if let Some(value) = value {
                query.append_pair(name, &value);
            }
        }
    }
    url
}

/// `Retry-After` as delay-seconds or an HTTP date (relative to `now`), at most
/// [`MAX_RETRY_AFTER`]. `None` when unparsable.
fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    let delay = if let Ok(secs) = value.parse::<u64>() {
        Duration::from_secs(secs)
    } else {
        let at: SystemTime = chrono::DateTime::parse_from_rfc2822(value).ok()?.into();
        at.duration_since(now).unwrap_or(Duration::ZERO)
    };
    Some(delay.min(MAX_RETRY_AFTER))
}

/// Exponential backoff with jitter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Backoff {
    min: Duration,
    max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            min: DEFAULT_BACKOFF_MIN,
            max: DEFAULT_BACKOFF_MAX,
        }
    }
}

impl Backoff {
    /// The wait before retry number `retry + 1` (`retry` = retries already made), given a
    /// `Retry-After` hint and a random `unit` in [0, 1).
    ///
    /// Without a hint: "equal jitter", uniformly in [step/2, step] where step = min * 2^retry
    /// capped at max, so waits grow but clients that failed together spread out. With a hint:
    /// at least the hint, plus up to a quarter of it (at most 1 s) so that clients told the
    /// same `Retry-After` do not all return at the same instant.
    fn delay(&self, retry: u32, retry_after: Option<Duration>, unit: f64) -> Duration {
        let unit = unit.clamp(0.0, 1.0);
        let step = self
            .min
            .saturating_mul(1u32.checked_shl(retry.min(31)).unwrap_or(u32::MAX))
            .min(self.max);
        let backoff = step.mul_f64(0.5 + 0.5 * unit);
        match retry_after {
            None => backoff,
            Some(hint) => {
                let spread = (hint / 4).min(Duration::from_secs(1));
                backoff.max(hint + spread.mul_f64(unit))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base(raw: &str) -> Url {
        parse_base_url(raw).unwrap()
    }

    #[test]
    fn urls_join_routes_to_the_base() {
        for raw in ["http://127.0.0.1:8080", "http://127.0.0.1:8080/"] {
            assert_eq!(
                join(&base(raw), &["session-events"]).as_str(),
                "http://127.0.0.1:8080/session-events"
            );
        }
        for raw in ["http://host/api", "http://host/api/"] {
            assert_eq!(
                join(&base(raw), &["health"]).as_str(),
                "http://host/api/health"
            );
        }
    }

    #[test]
    fn bad_base_urls_are_config_errors() {
        for raw in [
            "",
            "127.0.0.1:8080",
            "localhost",
            "ftp://host/",
            "https://host/",
            "http://host/?x=1",
            "mailto:a@b",
        ] {
            let err = parse_base_url(raw).unwrap_err();
            assert!(matches!(err, ClientError::Config(_)), "{raw:?}: {err}");
        }
    }

    #[test]
    fn events_url_has_only_the_given_params() {
        let b = base("http://h:1");
        let id = "892e23e2-8272-4b07-85e8-5e291ac85f93.node.1";
        assert_eq!(
            events_url(&b, id, &PageRequest::default()).as_str(),
            format!("http://h:1/session-events/{id}")
        );
        let since = chrono::DateTime::parse_from_rfc3339("2025-06-01T18:00:00.5+02:00")
            .unwrap()
            .with_timezone(&chrono::Utc);
        let page = PageRequest {
            limit: Some(10),
            after: Some("AAA-_b".into()),
            since: Some(since),
            until: None,
        };
        let url = events_url(&b, id, &page);
        let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        assert_eq!(
            pairs,
            [
                ("limit".to_owned(), "10".to_owned()),
                ("after".to_owned(), "AAA-_b".to_owned()),
                ("since".to_owned(), "2025-06-01T16:00:00.500Z".to_owned()),
            ]
        );
        assert_eq!(url.path(), format!("/session-events/{id}"));
    }

    #[test]
    fn match_ids_are_one_escaped_path_segment() {
        let url = events_url(&base("http://h"), "a/b?c#d e", &PageRequest::default());
        assert_eq!(url.as_str(), "http://h/session-events/a%2Fb%3Fc%23d%20e");
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_748_800_800); // 2025-06-01T18:00:00Z
        assert_eq!(parse_retry_after("1", now), Some(Duration::from_secs(1)));
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("86400", now), Some(MAX_RETRY_AFTER));
        assert_eq!(
            parse_retry_after("Sun, 01 Jun 2025 18:00:07 GMT", now),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            parse_retry_after("Sun, 01 Jun 2025 17:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        for bad in ["", "-1", "1.5", "soon", "Sun, 99 Jun 2025"] {
            assert_eq!(parse_retry_after(bad, now), None, "{bad:?}");
        }
    }

    #[test]
    fn backoff_grows_within_bounds() {
        let b = Backoff {
            min: Duration::from_millis(100),
            max: Duration::from_secs(10),
        };
        for retry in 0..40 {
            let step = (Duration::from_millis(100) * 2u32.pow(retry.min(20))).min(b.max);
            for unit in [0.0, 0.25, 0.5, 0.999, 1.0] {
                let d = b.delay(retry, None, unit);
                assert!(
                    d >= step / 2 && d <= step,
                    "retry {retry} unit {unit}: {d:?}"
                );
            }
        }
        assert_eq!(b.delay(0, None, 1.0), Duration::from_millis(100));
        assert_eq!(b.delay(3, None, 1.0), Duration::from_millis(800));
        assert_eq!(b.delay(3, None, 0.0), Duration::from_millis(400));
        assert_eq!(b.delay(u32::MAX, None, 1.0), b.max);
    }

    #[test]
    fn backoff_honours_retry_after() {
        let b = Backoff::default();
        let hint = Duration::from_secs(1);
        for unit in [0.0, 0.5, 1.0] {
            let d = b.delay(0, Some(hint), unit);
            assert!(d >= hint && d <= hint + hint / 4, "{d:?}");
        }
        // A long backoff is not shortened by a short hint.
        assert!(b.delay(10, Some(hint), 0.0) >= Duration::from_secs(5));
        // The spread above a long hint is at most a second.
        let long = Duration::from_secs(30);
        assert!(b.delay(0, Some(long), 1.0) <= long + Duration::from_secs(1));
    }

    #[test]
    fn status_errors_carry_the_service_message() {
        let reply = |status: u16, body: &'static str| Reply {
            status: StatusCode::from_u16(status).unwrap(),
            retry_after: None,
            body: Bytes::from_static(body.as_bytes()),
        };
        let err = status_error(
            &reply(
                400,
                r#"{"success":false,"error":"session id is not a UUID"}"#,
            ),
            1,
        );
        assert_eq!(err.status(), Some(400));
        assert!(
            matches!(&err, ClientError::Status { message, .. } if message == "session id is not a UUID")
        );
        let err = status_error(&reply(502, "  bad gateway from proxy \n"), 6);
        assert!(
            matches!(&err, ClientError::Status { message, attempts: 6, .. } if message == "bad gateway from proxy")
        );
        let err = status_error(&reply(500, ""), 1);
        assert!(
            matches!(&err, ClientError::Status { message, .. } if message == "Internal Server Error")
        );
    }

    #[test]
    fn only_503_and_504_are_retried() {
        for s in [503, 504] {
            assert!(is_retryable_status(StatusCode::from_u16(s).unwrap()));
        }
        for s in [400, 401, 404, 405, 408, 413, 415, 429, 500, 502] {
            assert!(
                !is_retryable_status(StatusCode::from_u16(s).unwrap()),
                "{s}"
            );
        }
    }

    #[test]
    fn builder_validates_ids_and_clamps_page_size() {
        assert!(
            Client::builder("http://h")
                .node_id("node-1.eu")
                .build()
                .is_ok()
        );
        for bad in ["", "a/b", "has space", "x%y"] {
            let err = Client::builder("http://h")
                .node_id(bad)
                .build()
                .unwrap_err();
            assert!(matches!(err, ClientError::Config(_)), "{bad:?}");
        }
        let err = Client::builder("http://h")
            .user_id("a\nb")
            .build()
            .unwrap_err();
        assert!(matches!(err, ClientError::Config(_)));
        let client = Client::builder("http://h").page_size(0).build().unwrap();
        assert_eq!(client.page_size, 1);
        let client = Client::builder("http://h")
            .page_size(50_000)
            .build()
            .unwrap();
        assert_eq!(client.page_size, MAX_PAGE_SIZE);
        assert_eq!(client.max_retries, DEFAULT_MAX_RETRIES);
    }

    #[test]
    fn pages_decode_with_and_without_next() {
        let page: EventsPage = serde_json::from_str(
            r#"{"match_id":"m","events":[{"match_id":"m","data":{}}],"count":1}"#,
        )
        .unwrap();
        assert_eq!(page.count, 1);
        assert_eq!(page.events[0].user_id, None);
        assert_eq!(page.next, None);
        let page: EventsPage = serde_json::from_str(
            r#"{"match_id":"m","events":[{"match_id":"m","user_id":"u","data":{}}],"count":1,"next":"c"}"#,
        )
        .unwrap();
        assert_eq!(page.events[0].user_id.as_deref(), Some("u"));
        assert_eq!(page.next.as_deref(), Some("c"));
    }
}
