//! `POST /session-events` (and `POST /lobby-session-events`, the path the C++ telemetry agent
//! posts to): the request's checks, then one frame through [`submit`] (decode, validate, build
//! the document, queue it, await durability), or a batch body handed to [`batch_ingest`].

use std::time::Instant;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::body::{self, Coding};
use super::{ApiError, AppState, batch_ingest, submit};
use crate::frame::Encoding;
use crate::ids::{NodeId, UserId};

pub async fn store_frame(State(app): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    match ingest(&app, headers, body).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

/// The request's own checks (media type, identity headers, body) are counted here; the
/// frame's are counted by [`submit`], which every transport shares.
///
/// Takes the headers by value to drop them once read, before the frame waits for its write:
/// hyper's header values are slices of the connection's read buffer (16 KB once a 10 KB frame
/// came in one read), so a `HeaderMap` held across the wait kept that buffer alive beside
/// the new one hyper allocates to watch the socket for EOF: 16 KB of the 67.5 KB of heap a
/// waiting request held (`tests/waiting_memory.rs`, loadtest/BENCHMARKS.md "Issue 13:
/// memory per waiting request").
async fn ingest(app: &AppState, headers: HeaderMap, body: Body) -> Result<Response, ApiError> {
    let started = Instant::now();
    let deadline = started + app.settings.request_timeout;
    let request = async {
        let kind = body_kind(&headers)?;
        let coding = Coding::from_headers(&headers)?;
        let node = NodeId::from_header(header_str(&headers, "x-node-id")?)?;
        let user = UserId::from_header(header_str(&headers, "x-user-id")?)?;
        let limit = match kind {
            BodyKind::Frame(_) => app.settings.max_body_bytes,
            BodyKind::Batch(_) => app.settings.batch.max_bytes,
        };
        // Reserved from the shared body budget (503 beyond it) as the bytes arrive.
        let received = body::receive(body, &headers, limit, deadline, &app.body_budget).await?;
        drop(headers);
        Ok::<_, ApiError>((kind, coding, limit, node, user, received))
    };
    let (kind, coding, limit, node, user, received) =
        request.await.inspect_err(submit::count_rejection)?;
    // Decompression and decoding are CPU work: off the runtime when the body is big, so they
    // never hold up other requests or the probes (see `body::off_runtime`).
    let inline = coding == Coding::Identity && received.bytes.len() <= body::INLINE_DECODE_BYTES;
    let encoding = match kind {
        BodyKind::Frame(encoding) => encoding,
        BodyKind::Batch(format) => {
            let (body, permit) =
                body::off_runtime(inline, move || body::decompress(received, coding, limit))
                    .await?
                    .inspect_err(submit::count_rejection)?;
            let response =
                batch_ingest::store(app, format, body, &node, user.as_ref(), deadline).await;
            drop(permit);
            return Ok(response);
        }
    };

    let app2 = app.clone();
    let pending = body::off_runtime(inline, move || {
        let (body, permit) =
            body::decompress(received, coding, limit).inspect_err(submit::count_rejection)?;
        let pending = submit::submit(&app2, &body, encoding, &node, user.as_ref(), deadline);
        // Free the body (and its budget) before waiting for the write: a waiting request then
        // holds only its queued document, which the queue's byte bound counts. Held across the
        // wait, the body and the decoded frame added ~3 × a body per waiting request to RSS.
        drop((body, permit));
        pending
    })
    .await??;
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
