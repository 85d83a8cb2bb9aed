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

pub async fn record_metrics(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |p| route_label(p.as_str()));
    let response = next.run(req).await;
    let status = response.status().as_u16().to_string();
    counter!(m::HTTP_REQUESTS, "method" => method.as_str().to_owned(), "route" => route, "status" => status)
        .increment(1);
    histogram!(m::HTTP_REQUEST_DURATION, "method" => method.as_str().to_owned(), "route" => route)
        .record(started.elapsed().as_secs_f64());
    response
}

/// Static labels for the known routes (no per-request allocation, bounded cardinality).
fn route_label(path: &str) -> &'static str {
    match path {
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
        _ => "other",
    }
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
        tracing::debug_span!("request", method = %req.method(), uri = %req.uri(), request_id)
    }
}
