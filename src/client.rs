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
use serde::Deserialize;

use crate::proto::LobbySessionStateFrame;

mod batch;
mod builder;
mod error;
mod model;
mod retry;
mod stream;

pub use batch::FrameResult;
pub use builder::ClientBuilder;
pub use error::ClientError;
pub use model::{Event, EventsPage, Health, PageRequest, Stored};
pub use stream::{FrameSender, ReplyReceiver, StreamReply};

use builder::user_header;
use error::status_error;
use retry::{Backoff, is_retryable_status, is_retryable_transport, parse_retry_after};

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

#[derive(Deserialize)]
struct StoreAnswer {
    match_id: String,
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
        let reply = self.post_ingest(body, content_type).await?;
        let answer: StoreAnswer = decode(&reply.body, "a store answer")?;
        Ok(Stored {
            match_id: answer.match_id,
            status: reply.status.as_u16(),
        })
    }

    /// `POST /session-events` with this body and the node and user headers, retried.
    async fn post_ingest(
        &self,
        body: Bytes,
        content_type: &'static str,
    ) -> Result<Reply, ClientError> {
        let url = self.url(&["session-events"]);
        self.send(|| {
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
        .await
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

#[cfg(test)]
mod tests {
    use super::*;

    fn base(raw: &str) -> Url {
        builder::parse_base_url(raw).unwrap()
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
