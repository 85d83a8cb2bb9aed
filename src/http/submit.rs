//! The one path every transport's frames take into the pipeline: decode → validate → build the
//! stored document → `try_send` → await the acknowledgement, with its error mapping. `POST
//! /session-events` (one frame), the batch POST and the WebSocket stream all call it; none has
//! a copy of its own, so a frame is accepted (or refused, and counted) the same way whichever
//! way it arrived.
//!
//! The boundary is deliberately narrow: [`document`] takes the frame's bytes, their
//! [`Encoding`], the node and the user, and returns the document to store (or why not). The
//! decoder behind it can be replaced (a single-pass transcoder) without touching a transport.
//!
//! Two steps, because the transports differ in *when* they wait: [`submit`] does the
//! synchronous part (decode, build, enqueue) and returns a [`Pending`] acknowledgement;
//! [`Pending::wait`] awaits it. A POST submits then waits; a batch submits all its frames
//! first (so they share the writers' batches) and then waits for all; a WebSocket reader
//! submits frame after frame while its writer awaits the acknowledgements in order.

use std::time::{Instant, SystemTime};

use metrics::counter;
use tokio::sync::oneshot;

use super::{ApiError, AppState};
use crate::config::AckMode;
use crate::frame::{self, Encoding, EventDocument};
use crate::ids::{NodeId, UserId};
use crate::metrics as m;
use crate::pipeline::{WriteError, WriteRequest, Written};

/// A frame the service took on: durable (`durable` ack mode), or queued (`enqueue` mode).
#[derive(Debug, Clone)]
pub struct Accepted {
    pub match_id: String,
    /// False when acknowledged on enqueue (HTTP 202 rather than 200).
    pub durable: bool,
}

/// A queued frame whose acknowledgement has not arrived yet.
#[must_use = "a pending frame is answered only once waited for"]
pub struct Pending {
    match_id: String,
    ack: Option<oneshot::Receiver<Result<Written, WriteError>>>,
    deadline: Instant,
}

/// Counts a refusal under `frames_rejected_total{reason}`; every refused frame passes here
/// exactly once, whichever transport it came by.
pub fn count_rejection(e: &ApiError) {
    counter!(m::FRAMES_REJECTED, "reason" => e.reason()).increment(1);
}

/// Decodes and validates one frame and builds its stored document: the decoder boundary,
/// [`frame::decode_document`] (the single-pass transcoder).
pub fn document(
    bytes: &[u8],
    encoding: Encoding,
    node: &NodeId,
    user: Option<&UserId>,
) -> Result<EventDocument, ApiError> {
    let ingested = frame::decode_document(bytes, encoding, node, user, SystemTime::now())?;
    if ingested.unknown_fields > 0 {
        counter!(m::FRAMES_UNKNOWN_FIELDS).increment(u64::from(ingested.unknown_fields));
    }
    let doc = ingested.doc;
    // Both stores keep what MongoDB can: one document of at most 16 MiB.
    frame::limits::check_document(&doc)?;
    Ok(doc)
}

/// Decodes, builds and enqueues one frame, answered by `deadline`. Never blocks: a full queue
/// is an immediate [`ApiError::QueueFull`]. Refusals are counted here.
pub fn submit(
    app: &AppState,
    bytes: &[u8],
    encoding: Encoding,
    node: &NodeId,
    user: Option<&UserId>,
    deadline: Instant,
) -> Result<Pending, ApiError> {
    // While the store's writes are failing (a full disk), refuse at once rather than at the
    // deadline; the store lets one through now and then to find out whether it recovered.
    app.store
        .accepting_writes()
        .map_err(|e| ApiError::WritesFailing(crate::logging::error_chain(&e)))
        .and_then(|()| document(bytes, encoding, node, user))
        .and_then(|doc| enqueue(app, doc, deadline))
        .inspect_err(count_rejection)
}

/// Offers a built document to the queue.
fn enqueue(app: &AppState, doc: EventDocument, deadline: Instant) -> Result<Pending, ApiError> {
    let match_id = doc.match_id.to_string();
    counter!(m::FRAMES_RECEIVED).increment(1);
    let (tx, rx) = match app.settings.ack_mode {
        AckMode::Durable => {
            let (tx, rx) = oneshot::channel();
            (Some(tx), Some(rx))
        }
        AckMode::Enqueue => (None, None),
    };
    let request = WriteRequest {
        doc,
        deadline: tx.is_some().then_some(deadline),
        enqueued_at: Instant::now(),
        ack: tx,
    };
    app.pipeline.queue().try_send(request)?;
    Ok(Pending {
        match_id,
        ack: rx,
        deadline,
    })
}

impl Pending {
    /// The frame's outcome: once durable, or at once in `enqueue` mode. A deadline that passes
    /// first is a 504 (safe to retry: the write may still land, and ids make it idempotent).
    pub async fn wait(self) -> Result<Accepted, ApiError> {
        let Some(rx) = self.ack else {
            return Ok(Accepted {
                match_id: self.match_id,
                durable: false,
            });
        };
        let outcome = match tokio::time::timeout_at(self.deadline.into(), rx).await {
            Err(_) => Err(ApiError::DeadlineExceeded),
            Ok(Err(_)) => Err(ApiError::Internal(
                "writer dropped the request unanswered".into(),
            )),
            Ok(Ok(result)) => result.map_err(ApiError::from),
        };
        outcome.inspect_err(count_rejection)?;
        Ok(Accepted {
            match_id: self.match_id,
            durable: true,
        })
    }
}

/// `{"success":true,"match_id":"…"}`, the body of an accepted frame, written without a JSON
/// tree (a `serde_json::Value` map cost a handful of allocations per frame).
pub fn success_body(match_id: &str) -> Vec<u8> {
    const HEAD: &[u8] = br#"{"success":true,"match_id":""#;
    let mut out = Vec::with_capacity(HEAD.len() + match_id.len() + 2);
    out.extend_from_slice(HEAD);
    // A match id is a uuid and a node id; escape anyway so the body is JSON whatever it holds.
    for c in match_id.bytes() {
        match c {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            c if c < 0x20 => out.extend_from_slice(format!("\\u{c:04x}").as_bytes()),
            c => out.push(c),
        }
    }
    out.extend_from_slice(b"\"}");
    out
}

/// One frame's result as the batch POST and the WebSocket stream answer it:
/// `{"success":true,"match_id":"…"}` or `{"success":false,"error":"…","status":N}`, where `N` is
/// the status a single POST of the frame would have had.
pub fn render_result(result: &Result<Accepted, ApiError>, out: &mut Vec<u8>) {
    let value = match result {
        Ok(accepted) => serde_json::json!({ "success": true, "match_id": accepted.match_id }),
        Err(e) => render_error(e),
    };
    serde_json::to_writer(out, &value).expect("JSON to memory");
}

pub fn render_error(e: &ApiError) -> serde_json::Value {
    serde_json::json!({ "success": false, "error": e.to_string(), "status": e.status().as_u16() })
}
