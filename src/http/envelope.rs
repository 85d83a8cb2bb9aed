//! What a stream message holds: a `telemetry.v1.Envelope` (`header` or `frame`), or a bare
//! `LobbySessionStateFrame` (the successor service's docs show both for text messages).
//!
//! Only the envelope's outer layer is looked at here, and the frame's own bytes are handed on
//! to the shared decoder ([`super::submit`]) untouched, so a frame is decoded once whether it
//! came wrapped or bare, by POST or by stream.
//!
//! - Text: the first key of the JSON object decides. `header`/`frame` (neither is a field name
//!   of a frame) is an envelope and its value is cut out by position; anything else is a bare
//!   frame. A second member after the value makes the cut-out value end in trailing
//!   characters, which the decoder refuses (an Envelope is a oneof: one member).
//! - Binary: a protobuf Envelope, walked with prost's wire-format primitives: field 1 is the
//!   header, field 2 the frame; unknown fields are skipped, as protobuf requires.

use prost::Message;
use prost::encoding::{DecodeContext, WireType, decode_key, decode_varint, skip_field};

use super::ApiError;
use crate::frame::{Encoding, FrameError};
use crate::proto::telemetry::v1::TelemetryHeader;

/// One stream message, opened.
#[derive(Debug, PartialEq, Eq)]
pub enum Member<'a> {
    /// A `TelemetryHeader`, validated; nothing is stored for it.
    Header,
    /// A frame's bytes, for the shared decoder.
    Frame(&'a [u8], Encoding),
}

/// Opens a text (protojson) message.
pub fn open_text(text: &[u8]) -> Result<Member<'_>, ApiError> {
    let Some((is_header, value)) = json_member(text) else {
        return Ok(Member::Frame(text, Encoding::Json));
    };
    if is_header {
        let mut de = serde_json::Deserializer::from_slice(value);
        let header = <TelemetryHeader as serde::Deserialize>::deserialize(&mut de)
            .and_then(|h| de.end().map(|()| h));
        header.map_err(|e| match e.classify() {
            serde_json::error::Category::Data => FrameError::Schema(e),
            _ => FrameError::Syntax(e),
        })?;
        Ok(Member::Header)
    } else {
        Ok(Member::Frame(value, Encoding::Json))
    }
}

/// `Some((is_header, value))` when the object's first key is `header` or `frame`.
fn json_member(text: &[u8]) -> Option<(bool, &[u8])> {
    let inner = text.trim_ascii().strip_prefix(b"{")?.strip_suffix(b"}")?;
    let rest = inner.trim_ascii_start();
    let (is_header, rest) = if let Some(r) = rest.strip_prefix(b"\"header\"") {
        (true, r)
    } else {
        (false, rest.strip_prefix(b"\"frame\"")?)
    };
    let value = rest.trim_ascii_start().strip_prefix(b":")?;
    Some((is_header, value.trim_ascii()))
}

/// Opens a binary (protobuf) Envelope.
pub fn open_binary(mut buf: &[u8]) -> Result<Member<'_>, ApiError> {
    let bad = |e: prost::DecodeError| ApiError::BadFrame(FrameError::Protobuf(e));
    let mut found: Option<(u32, &[u8])> = None;
    while !buf.is_empty() {
        let (tag, wire_type) = decode_key(&mut buf).map_err(bad)?;
        if matches!(tag, 1 | 2) && wire_type == WireType::LengthDelimited {
            let len = usize::try_from(decode_varint(&mut buf).map_err(bad)?).unwrap_or(usize::MAX);
            if len > buf.len() {
                return Err(ApiError::BadRequest(
                    "a truncated Envelope: a field runs past the end of the message".into(),
                ));
            }
            let (value, rest) = buf.split_at(len);
            buf = rest;
            if found.replace((tag, value)).is_some() {
                return Err(ApiError::BadRequest(
                    "an Envelope holds one header or one frame, not several".into(),
                ));
            }
        } else {
            skip_field(wire_type, tag, &mut buf, DecodeContext::default()).map_err(bad)?;
        }
    }
    match found {
        Some((1, header)) => {
            TelemetryHeader::decode(header).map_err(bad)?;
            Ok(Member::Header)
        }
        Some((_, frame)) => Ok(Member::Frame(frame, Encoding::Protobuf)),
        None => Err(ApiError::BadRequest(
            "an empty Envelope: a binary message holds a telemetry.v1.Envelope with a header or a frame".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::telemetry::v1::{Envelope, envelope};

    fn frame_of(text: &str) -> Option<String> {
        match open_text(text.as_bytes()).unwrap() {
            Member::Frame(bytes, Encoding::Json) => {
                Some(String::from_utf8(bytes.to_vec()).unwrap())
            }
            _ => None,
        }
    }

    #[test]
    fn text_envelopes_and_bare_frames() {
        assert_eq!(
            frame_of(r#" { "frame" : {"frame_index":3} } "#).as_deref(),
            Some(r#"{"frame_index":3}"#)
        );
        // A bare frame is passed on whole, whichever key comes first.
        for bare in [
            r#"{"frame_index":3}"#,
            r#"{"frameIndex":3,"frame":{}}"#,
            "[]",
            "{}",
        ] {
            assert_eq!(frame_of(bare).as_deref(), Some(bare));
        }
        // A second member stays in the cut-out value, so the decoder refuses its tail.
        assert_eq!(
            frame_of(r#"{"frame":{"a":1},"header":{}}"#).as_deref(),
            Some(r#"{"a":1},"header":{}"#)
        );
        assert_eq!(
            open_text(br#"{"header":{"capture_id":"c1","created_at":"2025-06-01T18:00:00Z","metadata":{"k":"v"}}}"#)
                .unwrap(),
            Member::Header
        );
        assert!(open_text(br#"{"header":{"capture_id":7}}"#).is_err());
        // Not an object with a closing brace: passed on whole, for the decoder to refuse.
        assert_eq!(
            frame_of(r#"{"header":{}} x"#).as_deref(),
            Some(r#"{"header":{}} x"#)
        );
    }

    #[test]
    fn binary_envelopes() {
        let header = Envelope {
            message: Some(envelope::Message::Header(TelemetryHeader {
                capture_id: "c1".into(),
                ..Default::default()
            })),
        };
        assert_eq!(
            open_binary(&header.encode_to_vec()).unwrap(),
            Member::Header
        );
        let frame = crate::proto::LobbySessionStateFrame {
            frame_index: 9,
            ..Default::default()
        };
        let env = Envelope {
            message: Some(envelope::Message::Frame(frame.clone())),
        };
        assert_eq!(
            open_binary(&env.encode_to_vec()).unwrap(),
            Member::Frame(&frame.encode_to_vec(), Encoding::Protobuf)
        );
        assert!(open_binary(&[]).is_err());
        assert!(open_binary(&[0x12, 0x05, 1]).is_err(), "truncated");
        let mut twice = env.encode_to_vec();
        twice.extend(env.encode_to_vec());
        assert!(open_binary(&twice).is_err());
    }
}
