//! `POST /session-events` (and `POST /lobby-session-events`, the path the C++ telemetry agent
//! posts to): the request's checks, then one frame through [`submit`] (decode, validate, build
//! the document, queue it, await durability), or a batch body handed to [`batch_ingest`].

use std::time::Instant;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::{ApiError, AppState, batch_ingest, submit};
use crate::frame::Encoding;
use crate::ids::{NodeId, UserId};

pub async fn store_frame(State(app): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    match ingest(&app, &headers, body).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

/// The request's own checks (media type, identity headers, body) are counted here; the
/// frame's are counted by [`submit`], which every transport shares.
async fn ingest(app: &AppState, headers: &HeaderMap, body: Body) -> Result<Response, ApiError> {
    let started = Instant::now();
    let deadline = started + app.settings.request_timeout;
    let request = async {
        let kind = body_kind(headers)?;
        let node = NodeId::from_header(header_str(headers, "x-node-id")?)?;
        let user = UserId::from_header(header_str(headers, "x-user-id")?)?;
        let limit = match kind {
            BodyKind::Frame(_) => app.settings.max_body_bytes,
            BodyKind::Batch(_) => app.settings.batch.max_bytes,
        };
        let body = read_body(body, limit, deadline, content_length(headers)).await?;
        Ok::<_, ApiError>((kind, node, user, body))
    };
    let (kind, node, user, body) = request.await.inspect_err(submit::count_rejection)?;
    let encoding = match kind {
        BodyKind::Frame(encoding) => encoding,
        BodyKind::Batch(format) => {
            return Ok(
                batch_ingest::store(app, format, body, &node, user.as_ref(), deadline).await,
            );
        }
    };

    let pending = submit::submit(app, &body, encoding, &node, user.as_ref(), deadline)?;
    // Free the body before waiting for the write: a waiting request then holds only its
    // queued document, which the queue's byte bound counts. Held across the wait, the body
    // and the decoded frame added ~3 × a body per waiting request to RSS under overload.
    drop(body);
    let accepted = pending.wait().await?;
    let status = if accepted.durable {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    Ok((
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        submit::success_body(&accepted.match_id),
    )
        .into_response())
}

/// What a POST body holds: one frame, or a batch of them.
enum BodyKind {
    Frame(Encoding),
    Batch(batch_ingest::Format),
}

/// JSON when the header is absent (as the original assumed), else by media type.
fn body_kind(headers: &HeaderMap) -> Result<BodyKind, ApiError> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Ok(BodyKind::Frame(Encoding::Json));
    };
    let media = value
        .to_str()
        .ok()
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    match media.as_str() {
        "application/json" => Ok(BodyKind::Frame(Encoding::Json)),
        "application/x-protobuf" | "application/protobuf" => {
            Ok(BodyKind::Frame(Encoding::Protobuf))
        }
        "application/x-ndjson" | "application/jsonl" => {
            Ok(BodyKind::Batch(batch_ingest::Format::Ndjson))
        }
        "application/x-protobuf-delimited" => Ok(BodyKind::Batch(batch_ingest::Format::Delimited)),
        _ => Err(ApiError::UnsupportedMediaType(format!(
            "unsupported Content-Type {media:?}: send application/json or application/x-protobuf \
             (one frame), application/x-ndjson or application/x-protobuf-delimited (a batch)"
        ))),
    }
}

pub(super) fn header_str<'a>(
    headers: &'a HeaderMap,
    name: &'static str,
) -> Result<Option<&'a str>, ApiError> {
    headers
        .get(name)
        .map(|v| {
            v.to_str()
                .map_err(|_| ApiError::BadRequest(format!("header {name} is not visible ASCII")))
        })
        .transpose()
}

/// The declared body size, a hint for the buffer (a compressed body decompresses larger).
fn content_length(headers: &HeaderMap) -> Option<usize> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

/// Reads the (already decompressed) body, at most `limit` bytes, by the request deadline, into
/// one buffer: a body that arrives in one chunk is kept as it is; else the chunks are copied
/// into a buffer sized from `Content-Length` up front (instead of keeping a list of chunks
/// and copying them once more at the end).
async fn read_body(
    body: Body,
    limit: usize,
    deadline: Instant,
    size_hint: Option<usize>,
) -> Result<bytes::Bytes, ApiError> {
    use http_body_util::BodyExt;
    let read = async {
        let mut body = http_body_util::Limited::new(body, limit);
        let mut first: Option<bytes::Bytes> = None;
        let mut buf: Vec<u8> = Vec::new();
        while let Some(frame) = body.frame().await {
            let Ok(chunk) = frame?.into_data() else {
                continue; // trailers
            };
            match first.take() {
                None if buf.is_empty() => first = Some(chunk),
                None => buf.extend_from_slice(&chunk),
                Some(head) => {
                    buf.reserve(
                        size_hint
                            .unwrap_or(0)
                            .min(limit)
                            .max(head.len() + chunk.len()),
                    );
                    buf.extend_from_slice(&head);
                    buf.extend_from_slice(&chunk);
                }
            }
        }
        Ok::<_, axum::BoxError>(match first {
            Some(only) => only,
            None => bytes::Bytes::from(buf),
        })
    };
    match tokio::time::timeout_at(deadline.into(), read).await {
        Err(_) => Err(ApiError::BodyTimeout),
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(e)) => {
            let e = axum::Error::new(e);
            if is_length_limit(&e) {
                Err(ApiError::TooLarge(limit))
            } else {
                Err(ApiError::BadBody(crate::logging::error_chain(&e)))
            }
        }
    }
}

/// The limit can trip inside the decompressor (raw bytes) or in `to_bytes` (decompressed):
/// look through the whole cause chain.
fn is_length_limit(e: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if err.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = err.source();
    }
    false
}
