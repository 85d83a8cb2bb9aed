//! Configuring a [`Client`]: base URL, identity headers, bearer token, timeouts, retries.

use std::time::Duration;

use reqwest::Url;
use reqwest::header::HeaderValue;

use super::retry::Backoff;
use super::{Client, ClientError, MAX_PAGE_SIZE};
use crate::ids::{NodeId, UserId};

/// Configures a [`Client`]; see [`Client::builder`].
#[derive(Debug, Clone)]
#[must_use]
pub struct ClientBuilder {
    pub(super) base_url: String,
    pub(super) node_id: Option<String>,
    pub(super) user_id: Option<String>,
    pub(super) bearer_token: Option<String>,
    pub(super) timeout: Duration,
    pub(super) connect_timeout: Option<Duration>,
    pub(super) max_retries: u32,
    pub(super) page_size: u32,
    pub(super) backoff: Backoff,
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

pub(super) fn parse_base_url(raw: &str) -> Result<Url, ClientError> {
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

pub(super) fn header_value(
    what: &str,
    raw: &str,
    sensitive: bool,
) -> Result<HeaderValue, ClientError> {
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

pub(super) fn user_header(raw: &str) -> Result<HeaderValue, ClientError> {
    UserId::parse(raw).map_err(|e| ClientError::Config(e.to_string()))?;
    header_value("user id", raw, false)
}

#[cfg(test)]
mod tests {
    use super::super::DEFAULT_MAX_RETRIES;
    use super::super::MAX_PAGE_SIZE;
    use super::*;
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
}
