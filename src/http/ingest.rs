//! `POST /session-events`: decode, validate, build the document, queue it, await durability.

use std::time::{Instant, SystemTime};

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use metrics::counter;
use serde_json::json;
use tokio::sync::oneshot;

use super::body::{self, Coding};
use super::{ApiError, AppState};
use crate::config::AckMode;
use crate::frame::{self, Encoding, EventDocument};
use crate::ids::{NodeId, UserId};
use crate::metrics as m;
use crate::pipeline::WriteRequest;

pub async fn store_frame(State(app): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    match ingest(&app, &headers, body).await {
        Ok(response) => response,
        Err(e) => {
            counter!(m::FRAMES_REJECTED, "reason" => e.reason()).increment(1);
            e.into_response()
        }
    }
}

async fn ingest(app: &AppState, headers: &HeaderMap, body: Body) -> Result<Response, ApiError> {
    let started = Instant::now();
    let deadline = started + app.settings.request_timeout;
    let encoding = encoding(headers)?;
    let coding = Coding::from_headers(headers)?;
    let node = NodeId::from_header(header_str(headers, "x-node-id")?)?;
    let user = UserId::from_header(header_str(headers, "x-user-id")?)?;
    // While the store's writes are failing (a full disk), refuse at once rather than at the
    // deadline; the store lets a probe through now and then to see whether it recovered.
    app.store
        .accepting_writes()
        .map_err(|e| ApiError::WritesFailing(crate::logging::error_chain(&e)))?;
    let limit = app.settings.max_body_bytes;
    let received = body::receive(body, headers, limit, deadline, &app.body_budget).await?;

    // Decompress, decode and build in one step, off the runtime when the body is big. The
    // body, the decoded frame and the budget permit are freed before waiting for the write: a
    // waiting request then holds only its queued document, which the queue's byte bound
    // counts. Held across the wait, they added ~3 × a body per waiting request to RSS.
    let inline = coding == Coding::Identity && received.bytes.len() <= body::INLINE_DECODE_BYTES;
    let (doc, unknown_fields) = body::off_runtime(inline, move || {
        let (bytes, permit) = body::decompress(received, coding, limit)?;
        let decoded = frame::decode(&bytes, encoding)?;
        let doc = EventDocument::build(&decoded, &node, user.as_ref(), SystemTime::now())?;
        frame::limits::check_document(&doc)?;
        drop((decoded.frame, bytes, permit));
        Ok::<_, ApiError>((doc, decoded.unknown_fields))
    })
    .await??;
    if unknown_fields > 0 {
        counter!(m::FRAMES_UNKNOWN_FIELDS).increment(u64::from(unknown_fields));
    }
    let match_id = doc.match_id.to_string();
    counter!(m::FRAMES_RECEIVED).increment(1);

    let (tx, rx, status) = match app.settings.ack_mode {
        AckMode::Durable => {
            let (tx, rx) = oneshot::channel();
            (Some(tx), Some(rx), StatusCode::OK)
        }
        AckMode::Enqueue => (None, None, StatusCode::ACCEPTED),
    };
    let request = WriteRequest {
        doc,
        deadline: tx.is_some().then_some(deadline),
        enqueued_at: Instant::now(),
        ack: tx,
    };
    app.pipeline.queue().try_send(request)?;

    if let Some(rx) = rx {
        match tokio::time::timeout_at(deadline.into(), rx).await {
            Err(_) => return Err(ApiError::DeadlineExceeded),
            Ok(Err(_)) => {
                return Err(ApiError::Internal(
                    "writer dropped the request unanswered".into(),
                ));
            }
            Ok(Ok(result)) => {
                result?;
            }
        }
    }
    Ok((
        status,
        Json(json!({ "success": true, "match_id": match_id })),
    )
        .into_response())
}

/// JSON when the header is absent (as the original assumed), else by media type.
fn encoding(headers: &HeaderMap) -> Result<Encoding, ApiError> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Ok(Encoding::Json);
    };
    let media = value
        .to_str()
        .ok()
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    match media.as_str() {
        "application/json" => Ok(Encoding::Json),
        "application/x-protobuf" | "application/protobuf" => Ok(Encoding::Protobuf),
        _ => Err(ApiError::UnsupportedMediaType(format!(
            "unsupported Content-Type {media:?}: send application/json or application/x-protobuf"
        ))),
    }
}

fn header_str<'a>(headers: &'a HeaderMap, name: &'static str) -> Result<Option<&'a str>, ApiError> {
    headers
        .get(name)
        .map(|v| {
            v.to_str()
                .map_err(|_| ApiError::BadRequest(format!("header {name} is not visible ASCII")))
        })
        .transpose()
}
