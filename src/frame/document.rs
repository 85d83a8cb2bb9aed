//! The stored form of a frame (see the schema in `README.md`):
//!
//! ```text
//! { _id, match_id, node_id, user_id?, timestamp: Date, received_at: Date, data: {protojson-shaped frame} }
//! ```
//!
//! Built once at the edge as raw BSON bytes, which MongoDB inserts as they are and the embedded
//! store keeps as its value, so both backends serve reads through the same code.

use std::time::{SystemTime, UNIX_EPOCH};

use bson::{DateTime, RawDocument, RawDocumentBuf};
use prost::Message;

use super::DecodedFrame;
use crate::ids::{MatchId, NodeId, SessionId, UserId};
use crate::proto::LobbySessionStateFrame;

/// Content-derived document id: a 128-bit hash of match id, user id and the canonical encoding
/// of the frame. A retried POST (or a writer retry after an ambiguous failure) maps to the same
/// `_id`, so the store's unique `_id` makes every write idempotent.
///
/// Ingest ([`super::decode_document`]) hashes the canonical BSON `data` the transcoder writes
/// (the same bytes for the same frame in any JSON dialect or as protobuf). Before this release
/// the id hashed the frame's protobuf re-encoding ([`EventDocument::build`], the oracle path,
/// still does): ids changed once with the change, see README "Document ids".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EventId(pub u128);

impl EventId {
    pub fn derive(match_id: &MatchId, user: Option<&UserId>, canonical_frame: &[u8]) -> Self {
        let mut h = xxhash_rust::xxh3::Xxh3::new();
        h.update(match_id.as_str().as_bytes());
        h.update(&[0]);
        if let Some(user) = user {
            h.update(&[1]);
            h.update(user.as_str().as_bytes());
        }
        h.update(&[0]);
        h.update(canonical_frame);
        Self(h.digest128())
    }

    /// 32 lower-case hex digits: sorts like the number, and compares the same in every store.
    pub fn to_hex(self) -> String {
        String::from_utf8_lossy(&self.hex_bytes()).into_owned()
    }

    /// [`EventId::to_hex`] without allocating.
    pub fn hex_bytes(self) -> [u8; 32] {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut out = [0u8; 32];
        for (i, b) in out.iter_mut().enumerate() {
            *b = DIGITS[((self.0 >> (124 - 4 * i)) & 0xf) as usize];
        }
        out
    }

    pub fn from_hex(s: &str) -> Option<Self> {
        (s.len() == 32).then(|| u128::from_str_radix(s, 16).ok().map(Self))?
    }
}

/// A validated frame turned into the document the store keeps.
#[derive(Debug, Clone)]
pub struct EventDocument {
    pub id: EventId,
    pub match_id: MatchId,
    /// The frame's timestamp, else the receive time (milliseconds since the Unix epoch).
    pub timestamp_ms: i64,
    pub received_at_ms: i64,
    /// The whole document as BSON.
    pub bson: RawDocumentBuf,
}

#[derive(Debug, thiserror::Error)]
#[error("could not encode the frame as BSON: {0}")]
pub struct DocumentError(#[from] bson::ser::Error);

impl EventDocument {
    pub fn build(
        decoded: &DecodedFrame,
        node: &NodeId,
        user: Option<&UserId>,
        received_at: SystemTime,
    ) -> Result<Self, DocumentError> {
        let frame = &decoded.frame;
        let match_id = MatchId::new(decoded.session, node);
        let id = EventId::derive(&match_id, user, &frame.encode_to_vec());
        let received_at_ms = unix_millis(received_at);
        let timestamp_ms = frame.timestamp.as_ref().map_or(received_at_ms, |t| {
            t.seconds
                .saturating_mul(1000)
                .saturating_add(i64::from(t.nanos) / 1_000_000)
        });

        let data = bson::to_raw_document_buf(frame)?;
        let mut doc = RawDocumentBuf::new();
        doc.append("_id", id.to_hex());
        doc.append("match_id", match_id.as_str());
        doc.append("node_id", node.as_str());
        if let Some(user) = user {
            doc.append("user_id", user.as_str());
        }
        doc.append("timestamp", DateTime::from_millis(timestamp_ms));
        doc.append("received_at", DateTime::from_millis(received_at_ms));
        doc.append("data", data);
        Ok(Self {
            id,
            match_id,
            timestamp_ms,
            received_at_ms,
            bson: doc,
        })
    }

    /// The document of a frame the transcoder wrote as `data` (canonical BSON): the id hashes
    /// those bytes, and the document is written in one buffer of its exact size.
    pub(super) fn assemble(
        session: SessionId,
        node: &NodeId,
        user: Option<&UserId>,
        timestamp: Option<(i64, i32)>,
        received_at: SystemTime,
        data: &[u8],
    ) -> Self {
        let match_id = MatchId::new(session, node);
        let id = EventId::derive(&match_id, user, data);
        let received_at_ms = unix_millis(received_at);
        let timestamp_ms = timestamp.map_or(received_at_ms, |(seconds, nanos)| {
            seconds
                .saturating_mul(1000)
                .saturating_add(i64::from(nanos) / 1_000_000)
        });
        let string_len = |s: &str| 4 + s.len() + 1;
        let len = 4
            + (1 + 4)
            + (4 + 32 + 1)
            + (1 + 9)
            + string_len(match_id.as_str())
            + (1 + 8)
            + string_len(node.as_str())
            + user.map_or(0, |u| (1 + 8) + string_len(u.as_str()))
            + (1 + 10)
            + 8
            + (1 + 12)
            + 8
            + (1 + 5)
            + data.len()
            + 1;
        let mut doc = Vec::with_capacity(len);
        doc.extend_from_slice(&(len as i32).to_le_bytes());
        let string = |doc: &mut Vec<u8>, key: &[u8], value: &[u8]| {
            doc.push(0x02);
            doc.extend_from_slice(key);
            doc.push(0);
            doc.extend_from_slice(&(value.len() as i32 + 1).to_le_bytes());
            doc.extend_from_slice(value);
            doc.push(0);
        };
        string(&mut doc, b"_id", &id.hex_bytes());
        string(&mut doc, b"match_id", match_id.as_str().as_bytes());
        string(&mut doc, b"node_id", node.as_str().as_bytes());
        if let Some(user) = user {
            string(&mut doc, b"user_id", user.as_str().as_bytes());
        }
        for (key, ms) in [
            (&b"timestamp"[..], timestamp_ms),
            (b"received_at", received_at_ms),
        ] {
            doc.push(0x09);
            doc.extend_from_slice(key);
            doc.push(0);
            doc.extend_from_slice(&ms.to_le_bytes());
        }
        doc.push(0x03);
        doc.extend_from_slice(b"data\0");
        doc.extend_from_slice(data);
        doc.push(0);
        debug_assert_eq!(doc.len(), len);
        let bson =
            RawDocumentBuf::from_bytes(doc).expect("the document's framing is written above");
        Self {
            id,
            match_id,
            timestamp_ms,
            received_at_ms,
            bson,
        }
    }

    /// Bytes this document occupies in the queue and in a batch.
    pub fn size(&self) -> usize {
        self.bson.as_bytes().len()
    }
}

fn unix_millis(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX),
    }
}

/// A document read back from a store.
#[derive(Debug, Clone)]
pub struct StoredEvent(pub RawDocumentBuf);

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("stored document lacks a valid `{0}`")]
    Field(&'static str),
    #[error("stored frame does not decode: {0}")]
    Frame(#[from] bson::de::Error),
    #[error("could not write JSON: {0}")]
    Json(#[from] serde_json::Error),
}

impl StoredEvent {
    fn raw(&self) -> &RawDocument {
        &self.0
    }

    pub fn id(&self) -> Result<EventId, RenderError> {
        let hex = self
            .raw()
            .get_str("_id")
            .map_err(|_| RenderError::Field("_id"))?;
        EventId::from_hex(hex).ok_or(RenderError::Field("_id"))
    }

    pub fn timestamp_ms(&self) -> Result<i64, RenderError> {
        self.date("timestamp")
    }

    pub fn received_at_ms(&self) -> Result<i64, RenderError> {
        self.date("received_at")
    }

    fn date(&self, key: &'static str) -> Result<i64, RenderError> {
        self.raw()
            .get_datetime(key)
            .map(|d| d.timestamp_millis())
            .map_err(|_| RenderError::Field(key))
    }

    /// The frame, decoded from its stored protojson shape.
    pub fn frame(&self) -> Result<LobbySessionStateFrame, RenderError> {
        let data = self
            .raw()
            .get_document("data")
            .map_err(|_| RenderError::Field("data"))?;
        Ok(bson::from_slice(data.as_bytes())?)
    }
}

/// Appends `{"match_id":…,"user_id":…,"data":{…}}` to `out`, with `data` in the protojson form
/// POST accepts (`user_id` omitted when none was given).
pub fn render_event_json(event: &StoredEvent, out: &mut Vec<u8>) -> Result<(), RenderError> {
    #[derive(serde::Serialize)]
    struct Out<'a> {
        match_id: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        user_id: Option<&'a str>,
        data: LobbySessionStateFrame,
    }
    let raw = event.raw();
    let out_event = Out {
        match_id: raw
            .get_str("match_id")
            .map_err(|_| RenderError::Field("match_id"))?,
        user_id: raw.get_str("user_id").ok(),
        data: event.frame()?,
    };
    serde_json::to_writer(out, &out_event)?;
    Ok(())
}
