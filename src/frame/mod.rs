//! Decoding and validating an incoming frame, and building the document the store keeps.
//!
//! Ingest uses [`decode_document`]: one pass from the request bytes (protojson or protobuf)
//! to the stored BSON, by the schema-driven transcoder in `transcode` (no prost tree, no
//! allocation per field). Every transport (POST, WebSocket, batch) calls it, so there is one
//! decode.
//!
//! [`decode`] + [`EventDocument::build`] are the previous path (serde/pbjson into the prost
//! structs, then serde into BSON), kept as the **oracle**: the differential tests hold the
//! transcoder to byte-identical `data` and the same accept/reject verdicts, and the read path
//! ([`StoredEvent::frame`]) still decodes stored documents through the prost types.

#[cfg(test)]
mod differential;
mod document;
mod finite;
pub mod limits;
mod range;
mod transcode;

use prost::Message;
use serde::Deserialize;

pub use document::{
    DocumentError, EventDocument, EventId, RenderError, StoredEvent, render_event_json,
};
pub use limits::LimitError;

use std::cell::RefCell;
use std::time::SystemTime;

use crate::ids::{IdError, NodeId, SessionId, UserId};
use crate::proto::LobbySessionStateFrame;

/// How the request body encodes the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// protojson (JSON names and proto names both accepted).
    Json,
    /// Binary protobuf.
    Protobuf,
}

/// Why a frame was refused. Every variant is the client's fault (a 400).
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("malformed JSON: {0}")]
    Syntax(#[source] serde_json::Error),
    #[error("frame does not match the schema: {0}")]
    Schema(#[source] serde_json::Error),
    #[error("malformed protobuf: {0}")]
    Protobuf(#[source] prost::DecodeError),
    #[error("frame has no session")]
    MissingSession,
    #[error("bad session.sessionid: {0}")]
    SessionId(#[source] IdError),
    #[error("{0} holds a non-finite number (NaN or Infinity)")]
    NonFinite(&'static str),
    #[error("{0} is outside the schema's range")]
    OutOfRange(&'static str),
    /// A `GenericEvent.data` key no store can keep as given (see `range::data_key`).
    #[error("generic_event.data key {0}")]
    DataKey(&'static str),
    /// Past one of the decode bounds of [`limits`].
    #[error("{0}")]
    Limit(#[from] LimitError),
    /// The transcoder's syntax errors (the class serde_json calls syntax or EOF).
    #[error("malformed JSON: {0}")]
    JsonSyntax(JsonError),
    /// The transcoder's type errors (the class serde_json calls data).
    #[error("frame does not match the schema: {0}")]
    JsonSchema(JsonError),
    #[error("malformed protobuf: {0}")]
    Wire(WireError),
}

/// What is wrong with a JSON body, and where (line and column, 1-based, as serde_json says).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonError {
    message: &'static str,
    field: Option<&'static str>,
    line: usize,
    column: usize,
}

impl JsonError {
    pub(crate) fn at(
        body: &[u8],
        offset: usize,
        message: &'static str,
        field: Option<&'static str>,
    ) -> Self {
        let before = &body[..offset.min(body.len())];
        let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
        let column = before.len()
            - before
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(0, |i| i + 1);
        Self {
            message,
            field,
            line,
            column,
        }
    }
}

impl std::fmt::Display for JsonError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message)?;
        if let Some(field) = self.field {
            write!(f, " (field `{field}`)")?;
        }
        write!(f, " at line {} column {}", self.line, self.column)
    }
}

impl std::error::Error for JsonError {}

/// What is wrong with a protobuf body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireError(pub(crate) &'static str);

impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for WireError {}

impl FrameError {
    /// Short, stable label for the `frames_rejected_total{reason}` metric.
    pub fn reason(&self) -> &'static str {
        match self {
            FrameError::Syntax(_) | FrameError::JsonSyntax(_) => "bad_json",
            FrameError::Protobuf(_) | FrameError::Wire(_) => "bad_protobuf",
            FrameError::Schema(_)
            | FrameError::JsonSchema(_)
            | FrameError::MissingSession
            | FrameError::NonFinite(_)
            | FrameError::OutOfRange(_)
            | FrameError::DataKey(_) => "schema",
            FrameError::SessionId(_) => "bad_id",
            FrameError::Limit(LimitError::TooDeep) => "schema",
            FrameError::Limit(_) => "too_large",
        }
    }
}

/// A frame that passed validation, with what the edge learned while decoding it.
#[derive(Debug)]
pub struct DecodedFrame {
    pub frame: LobbySessionStateFrame,
    pub session: SessionId,
    /// JSON fields the schema does not know (ignored, as protojson receivers must).
    pub unknown_fields: u32,
}

/// A frame turned into its stored document by [`decode_document`].
#[derive(Debug)]
pub struct Ingested {
    pub doc: EventDocument,
    /// JSON fields the schema does not know (skipped, as protojson receivers must).
    pub unknown_fields: u32,
}

thread_local! {
    /// The transcoder's buffers and the `data` document being written, reused by every
    /// decode on this thread.
    static BUFFERS: RefCell<(transcode::Scratch, Vec<u8>)> = RefCell::default();
}

/// A thread's `data` buffer is kept up to this size between frames; a larger one (a rare
/// huge frame) is freed, so an idle worker does not hold it.
const KEEP_BUFFER_BYTES: usize = 1 << 20;

/// Decodes and validates one frame and builds the document the store keeps: the one decode
/// every transport calls. `body` is protojson or protobuf per `encoding`; `received_at` is
/// the document's `received_at` (and its `timestamp` when the frame has none).
pub fn decode_document(
    body: &[u8],
    encoding: Encoding,
    node: &NodeId,
    user: Option<&UserId>,
    received_at: SystemTime,
) -> Result<Ingested, FrameError> {
    // The same bounds as the oracle's (hardening's pre-scan), so both refuse the same bodies.
    // The JSON transcoder counts them in its own pass and stops where the pre-scan would; the
    // protobuf one proves, as it reads, that the pre-scan cannot refuse the body (a small
    // body, no payload the scan reads without the schema that could nest too deep) or says
    // the scan must run. The pre-scan then runs only on a refused body or an unproven one,
    // whose verdict it decides as it does for the oracle (a bound the body exceeds wins over
    // any other error).
    let result = BUFFERS.with(|buffers| {
        let mut buffers = buffers.borrow_mut();
        let (scratch, data) = &mut *buffers;
        data.clear();
        let result = match encoding {
            Encoding::Json => transcode::json(body, data, scratch),
            Encoding::Protobuf => transcode::protobuf(body, data, scratch),
        };
        let result = result.and_then(|t| {
            if t.prescan {
                limits::check(body, encoding)?;
            }
            Ok(Ingested {
                doc: EventDocument::assemble(t.session, node, user, t.timestamp, received_at, data),
                unknown_fields: t.unknown_fields,
            })
        });
        if data.capacity() > KEEP_BUFFER_BYTES {
            *data = Vec::new();
        }
        result
    });
    if result.is_err() {
        limits::check(body, encoding)?;
    }
    result
}

/// Decodes and validates one frame (within the bounds of [`limits`]) into the prost structs: the previous decode, kept as the
/// oracle of [`decode_document`] (and for tools that want the typed frame).
pub fn decode(body: &[u8], encoding: Encoding) -> Result<DecodedFrame, FrameError> {
    limits::check(body, encoding)?;
    let (mut frame, unknown_fields) = match encoding {
        Encoding::Json => decode_json(body)?,
        Encoding::Protobuf => (
            LobbySessionStateFrame::decode(body).map_err(FrameError::Protobuf)?,
            0,
        ),
    };
    let session = frame.session.as_ref().ok_or(FrameError::MissingSession)?;
    let session = SessionId::parse(&session.session_id).map_err(FrameError::SessionId)?;
    finite::check(&frame)?;
    range::check(&mut frame)?;
    Ok(DecodedFrame {
        frame,
        session,
        unknown_fields,
    })
}

fn decode_json(body: &[u8]) -> Result<(LobbySessionStateFrame, u32), FrameError> {
    let classify = |e: serde_json::Error| match e.classify() {
        serde_json::error::Category::Data => FrameError::Schema(e),
        _ => FrameError::Syntax(e),
    };
    crate::proto::unknown::take();
    let mut de = serde_json::Deserializer::from_slice(body);
    let frame = LobbySessionStateFrame::deserialize(&mut de).map_err(classify)?;
    let unknown = crate::proto::unknown::take();
    // Bytes after the first JSON value are an error, never silently dropped.
    de.end().map_err(classify)?;
    Ok((frame, unknown))
}

#[cfg(test)]
mod tests;
