//! Decoding and validating an incoming frame, and building the document the store keeps.
//!
//! Frames are decoded straight into the typed prost structs (no dynamic JSON tree) and the
//! stored document is serialized straight to raw BSON bytes: the two costs that dominate ingest.

mod document;
mod finite;
pub mod limits;
mod range;

use prost::Message;
use serde::Deserialize;

pub use document::{
    DocumentError, EventDocument, EventId, RenderError, StoredEvent, render_event_json,
};
pub use limits::LimitError;

use crate::ids::{IdError, SessionId};
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
}

impl FrameError {
    /// Short, stable label for the `frames_rejected_total{reason}` metric.
    pub fn reason(&self) -> &'static str {
        match self {
            FrameError::Syntax(_) => "bad_json",
            FrameError::Protobuf(_) => "bad_protobuf",
            FrameError::Schema(_)
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

/// Decodes and validates one frame, within the bounds of [`limits`].
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
