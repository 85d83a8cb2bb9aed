//! Decoding, validation and the stored document, against synthetic and hand-written frames.
//! The shared helpers are here; each concern has its own file.

mod document;
mod generations;
mod names;
mod numbers;
mod rejections;
mod unknown;
mod values;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prost::Message;
use serde_json::{Value, json};

use super::*;
use crate::ids::{IdError, NodeId, UserId};
use crate::proto::telemetry::v1::lobby_session_event::Event;
use crate::proto::telemetry::v1::{LobbySessionEvent, PlayerJoined, Role};
use crate::synth::{self, MatchGenerator, Profile};

pub(super) const SESSION: &str = "892E23E2-8272-4B07-85E8-5E291AC85F93";
pub(super) const SESSION_LOWER: &str = "892e23e2-8272-4b07-85e8-5e291ac85f93";

pub(super) fn generator(profile: Profile) -> MatchGenerator {
    MatchGenerator::new(uuid::Uuid::parse_str(SESSION).unwrap(), 42, profile)
}

pub(super) fn sample() -> LobbySessionStateFrame {
    generator(Profile::Session).frame(20)
}

pub(super) fn json(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap()
}

pub(super) fn decode_json(body: &[u8]) -> Result<DecodedFrame, FrameError> {
    decode(body, Encoding::Json)
}

pub(super) fn ok(body: &[u8]) -> DecodedFrame {
    decode_json(body).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(body)))
}

pub(super) fn err(body: &[u8]) -> FrameError {
    match decode_json(body) {
        Ok(d) => panic!("accepted {}: {:?}", String::from_utf8_lossy(body), d.frame),
        Err(e) => e,
    }
}

/// The smallest valid frame, plus `extra` merged into it (top level).
pub(super) fn minimal(extra: Value) -> Value {
    let mut v = json!({"frameIndex": 1, "session": {"sessionid": SESSION}});
    for (k, x) in extra.as_object().unwrap() {
        v[k] = x.clone();
    }
    v
}

/// A minimal frame carrying one event.
pub(super) fn with_event(event: Value) -> Value {
    minimal(json!({ "events": [event] }))
}

pub(super) fn only_event(body: &[u8]) -> Event {
    let mut frame = ok(body).frame;
    assert_eq!(frame.events.len(), 1);
    frame.events.remove(0).event.expect("event set")
}

pub(super) fn at(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

pub(super) fn node(n: &str) -> NodeId {
    NodeId::parse(n).unwrap()
}

pub(super) fn user(u: &str) -> Option<UserId> {
    UserId::from_header(Some(u)).unwrap()
}
