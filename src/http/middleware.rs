//! Cross-cutting request handling: metrics per route, request tracing, and turning the
//! plain-text errors of lower layers (405, 413, 415 from tower-http) into the JSON error body.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use metrics::{counter, histogram};
use tower_http::classify::{ServerErrorsAsFailures, SharedClassifier};
use tower_http::trace::{DefaultOnFailure, DefaultOnResponse, TraceLayer};
use tracing::Level;

use super::error::error_response;
use crate::metrics as m;

/// Every label value here comes from a fixed set, whatever the client sends: each distinct
/// value is a series kept for the life of the process, and 20 000 requests with made-up
/// methods grew `/metrics` from 6 KB to 46 MB when the method was used as it came.
pub async fn record_metrics(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = method_label(req.method());
    let route = route_label(req.extensions().get::<MatchedPath>());
    let response = next.run(req).await;
    // A `StatusCode` is 100-999 and the service answers a handful of them.
    let status = response.status().as_str().to_owned();
    counter!(m::HTTP_REQUESTS, "method" => method, "route" => route, "status" => status)
        .increment(1);
    histogram!(m::HTTP_REQUEST_DURATION, "method" => method, "route" => route)
        .record(started.elapsed().as_secs_f64());
    response
}

/// The standard methods by name; any other token a client makes up is `other`.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::HEAD => "HEAD",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}

/// Static labels for the known routes (several UI paths share one).
fn known_route(path: &str) -> Option<&'static str> {
    Some(match path {
        "/session-events" => "/session-events",
        "/lobby-session-events" => "/lobby-session-events",
        "/ws" => "/ws",
        "/v3/stream" => "/v3/stream",
        "/session-events/{match_id}" => "/session-events/{match_id}",
        "/health" => "/health",
        "/livez" => "/livez",
        "/readyz" => "/readyz",
        "/metrics" => "/metrics",
        "/" | "/ui" | "/ui/" | "/ui/{*path}" => "ui",
        _ => return None,
    })
}

/// The matched route's template (a `&'static str` of the router, so no allocation and only
/// as many values as there are routes); `unmatched` when no route matched (404).
fn route_label(matched: Option<&MatchedPath>) -> &'static str {
    static ROUTES: std::sync::Mutex<Vec<&'static str>> = std::sync::Mutex::new(Vec::new());
    let Some(path) = matched.map(MatchedPath::as_str) else {
        return "unmatched";
    };
    if let Some(known) = known_route(path) {
        return known;
    }
    // Other route templates are few and fixed at start-up too: intern each once.
    let mut routes = ROUTES
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(r) = routes.iter().find(|r| **r == path) {
        return r;
    }
    let r: &'static str = Box::leak(path.to_owned().into_boxed_str());
    routes.push(r);
    r
}

/// Gives every error response the JSON body `{"success":false,"error":…}`, keeping its
/// headers (e.g. `Allow` on a 405).
pub async fn json_errors(max_body: usize, req: Request, next: Next) -> Response {
    let is_ingest = req.method() == Method::POST
        && matches!(
            req.uri().path(),
            "/session-events" | "/lobby-session-events"
        );
    let response = next.run(req).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (message, reason) = match status {
        StatusCode::METHOD_NOT_ALLOWED => ("method not allowed on this route".to_owned(), "method"),
        StatusCode::PAYLOAD_TOO_LARGE => (
            format!("request body is larger than the limit of {max_body} bytes"),
            "too_large",
        ),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (
            "unsupported Content-Encoding: gzip, zstd and identity are accepted".to_owned(),
            "unsupported_media_type",
        ),
        other => (
            other
                .canonical_reason()
                .unwrap_or("request failed")
                .to_lowercase(),
            "other",
        ),
    };
    if is_ingest {
        counter!(m::FRAMES_REJECTED, "reason" => reason).increment(1);
    }
    let (mut parts, _) = response.into_parts();
    let fresh = error_response(status, &message);
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        fresh.headers()[header::CONTENT_TYPE].clone(),
    );
    Response::from_parts(parts, fresh.into_body())
}

/// One span per request carrying its id; request lines at debug, because an info line per
/// frame at 10k frames/s fills disks.
pub fn trace_layer() -> TraceLayer<
    SharedClassifier<ServerErrorsAsFailures>,
    MakeSpan,
    (),
    DefaultOnResponse,
    (),
    (),
    DefaultOnFailure,
> {
    // Failures are logged where they are understood (the error mapping, the writers); a
    // generic line per 503 here would flood the log exactly when the service is overloaded.
    TraceLayer::new_for_http()
        .make_span_with(MakeSpan)
        .on_request(())
        .on_response(DefaultOnResponse::new().level(Level::DEBUG))
        .on_body_chunk(())
        .on_eos(())
        .on_failure(DefaultOnFailure::new().level(Level::DEBUG))
}

#[derive(Clone, Copy)]
pub struct MakeSpan;

impl<B> tower_http::trace::MakeSpan<B> for MakeSpan {
    fn make_span(&mut self, req: &axum::http::Request<B>) -> tracing::Span {
        let request_id = req
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-");
        let uri = req.uri();
        let query = uri.query().map(redact_query);
        tracing::debug_span!(
            "request",
            method = %req.method(),
            path = uri.path(),
            query,
            request_id
        )
    }
}

/// The query string with the value of any parameter that may carry a credential replaced by
/// `***` (`?access_token=` is how some clients send a bearer token).
fn redact_query(query: &str) -> String {
    query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((k, _)) if is_secret_param(k) => format!("{k}=***"),
            None if is_secret_param(pair) => "***".to_owned(),
            _ => pair.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

fn is_secret_param(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    ["token", "auth", "key", "secret", "password"]
        .iter()
        .any(|s| name.contains(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_come_from_fixed_sets() {
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(
            method_label(&Method::from_bytes(b"MADEUP1").unwrap()),
            "other"
        );
        assert_eq!(route_label(None), "unmatched");
    }

    #[test]
    fn credentials_in_queries_are_redacted() {
        assert_eq!(
            redact_query("limit=1&access_token=s3cr3t&after=x"),
            "limit=1&access_token=***&after=x"
        );
        assert_eq!(redact_query("ACCESS_TOKEN"), "***");
    }
}
