//! The single-pass transcoder: a protojson or protobuf frame straight to the BSON `data`
//! document the store keeps, driven by the generated schema tables ([`crate::proto::schema`]),
//! validating as it goes, with no intermediate prost tree and no allocation per field.
//!
//! The output is **canonical**: fields in schema declaration order, defaults dropped as
//! protojson drops them, map entries sorted by key (the last of duplicate keys wins), numbers
//! normalised to their schema type (int32 as Int32, uint32 as Int64, 64-bit integers as
//! decimal strings, floats widened to double), enums by their canonical name, timestamps in
//! RFC 3339 as chrono writes them. So the same frame in any JSON dialect or as protobuf yields
//! the same bytes, and they are byte-identical to what the previous decoder (prost + pbjson,
//! kept as the oracle in `frame::oracle`) stored: the read path is unchanged.
//!
//! Errors come out in the oracle's order and classes: a syntax or schema error at the point
//! the parse meets it; then, once the whole body parsed, a missing session, a bad session id,
//! a non-finite number, a value outside the schema's range.

mod bson;
mod json;
mod protobuf;

use chrono::{Datelike, Timelike};

use super::FrameError;
use crate::ids::SessionId;
use crate::proto::schema::{Enum, Field, Message};

/// What the edge learned while transcoding a frame, beside the bytes it wrote.
#[derive(Debug)]
pub struct Transcoded {
    pub session: SessionId,
    /// The frame's timestamp (seconds, nanos) after range checks and leap-second folding.
    pub timestamp: Option<(i64, i32)>,
    /// JSON fields the schema does not know (skipped, as protojson receivers must).
    pub unknown_fields: u32,
    /// Whether the body might exceed a bound of [`super::limits`] all the same, so the pre-scan
    /// must decide (protobuf only: see `protobuf::transcode`; the JSON transcoder counts them).
    pub prescan: bool,
}

/// An element written in the current document: its sort key (the field's index in the
/// schema, or its sequence number in a map) and where its bytes are in the output.
#[derive(Debug, Clone, Copy)]
struct Entry {
    key: u32,
    start: u32,
    end: u32,
}

/// Buffers reused from frame to frame (one set per thread): after the first few frames a
/// decode allocates nothing.
#[derive(Default)]
pub(super) struct Scratch {
    entries: Vec<Entry>,
    /// Element bytes while a document's fields are put in schema order.
    reorder: Vec<u8>,
    /// Unescaped keys and number strings.
    text: Vec<u8>,
    /// The session id as read.
    session_id: Vec<u8>,
    /// The containers a skipped JSON value is inside.
    skip: Vec<bool>,
    /// Protobuf: where each field of the message being written sits in the input.
    wire: Vec<protobuf::Occurrence>,
    /// Protobuf: a map's entries (key and value ranges, order) while they are sorted.
    map: Vec<protobuf::MapItem>,
}

/// Checks that run once the whole body parsed, in the oracle's order.
#[derive(Default, Clone, Copy)]
struct Deferred {
    session: bool,
    non_finite: Option<&'static str>,
    out_of_range: Option<&'static str>,
    /// A `GenericEvent.data` key no store can keep (`range::data_key_problem`).
    data_key: Option<&'static str>,
    timestamp: Option<(i64, i32)>,
    unknown_fields: u32,
}

impl Deferred {
    fn snapshot(&self) -> Self {
        *self
    }

    fn restore(&mut self, saved: Self) {
        *self = saved;
    }

    fn finish(self, scratch: &Scratch) -> Result<Transcoded, FrameError> {
        if !self.session {
            return Err(FrameError::MissingSession);
        }
        // Valid UTF-8 by construction (both decoders check strings).
        let id = std::str::from_utf8(&scratch.session_id).unwrap_or_default();
        let session = SessionId::parse(id).map_err(FrameError::SessionId)?;
        if let Some(field) = self.non_finite {
            return Err(FrameError::NonFinite(field));
        }
        if let Some(field) = self.out_of_range {
            return Err(FrameError::OutOfRange(field));
        }
        if let Some(why) = self.data_key {
            return Err(FrameError::DataKey(why));
        }
        Ok(Transcoded {
            session,
            timestamp: self.timestamp,
            unknown_fields: self.unknown_fields,
            prescan: false,
        })
    }

    fn non_finite(&mut self, v: f64, msg: &Message, field: &Field, parent: Option<&Field>) {
        if !v.is_finite() && self.non_finite.is_none() {
            self.non_finite = Some(finite_label(msg, field, parent));
        }
    }

    fn out_of_range(&mut self, what: &'static str) {
        self.out_of_range.get_or_insert(what);
    }

    fn data_key(&mut self, key: &[u8]) {
        if self.data_key.is_none() {
            self.data_key = super::range::data_key_problem(key);
        }
    }

    /// Folds a leap second, checks RFC 3339's range, and keeps the frame's timestamp.
    fn timestamp(&mut self, mut seconds: i64, mut nanos: i32, top: bool) -> (i64, i32) {
        if (1_000_000_000..2_000_000_000).contains(&nanos) {
            seconds = seconds.saturating_add(1);
            nanos -= 1_000_000_000;
        }
        if !(MIN_SECONDS..=MAX_SECONDS).contains(&seconds) || !(0..1_000_000_000).contains(&nanos) {
            if top {
                // The oracle checks the frame's timestamp before anything in the events.
                self.out_of_range = Some("timestamp");
            } else {
                self.out_of_range("timestamp");
            }
        } else if top {
            self.timestamp = Some((seconds, nanos));
        }
        (seconds, nanos)
    }
}

/// 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z.
const MIN_SECONDS: i64 = -62_135_596_800;
const MAX_SECONDS: i64 = 253_402_300_799;

/// Transcodes a protojson frame into `out` (the `data` document, appended).
pub(super) fn json(
    body: &[u8],
    out: &mut Vec<u8>,
    scratch: &mut Scratch,
) -> Result<Transcoded, FrameError> {
    let mut deferred = Deferred::default();
    json::transcode(body, out, scratch, &mut deferred)?;
    deferred.finish(scratch)
}

/// Transcodes a binary protobuf frame into `out` (the `data` document, appended).
pub(super) fn protobuf(
    body: &[u8],
    out: &mut Vec<u8>,
    scratch: &mut Scratch,
) -> Result<Transcoded, FrameError> {
    let mut deferred = Deferred::default();
    let prescan = protobuf::transcode(body, out, scratch, &mut deferred)?;
    deferred
        .finish(scratch)
        .map(|t| Transcoded { prescan, ..t })
}

/// Puts the elements of the document being written (`entries`, whose bytes are contiguous in
/// `out`) in schema order. Producers usually send schema order already: then it costs one pass
/// over the entries.
fn reorder_fields(out: &mut Vec<u8>, entries: &mut [Entry], tmp: &mut Vec<u8>) {
    if entries.windows(2).all(|w| w[0].key < w[1].key) {
        return;
    }
    let from = entries[0].start as usize;
    tmp.clear();
    tmp.extend_from_slice(&out[from..]);
    out.truncate(from);
    entries.sort_unstable_by_key(|e| e.key);
    for e in entries.iter() {
        out.extend_from_slice(&tmp[e.start as usize - from..e.end as usize - from]);
    }
}

/// Map entries sorted by key, the last of equal keys kept (what a `BTreeMap` insert does).
fn reorder_map(out: &mut Vec<u8>, entries: &mut [Entry], tmp: &mut Vec<u8>) {
    let key = |bytes: &[u8], e: &Entry, from: usize| -> std::ops::Range<usize> {
        let start = e.start as usize - from + 1;
        let len = bytes[start..].iter().position(|&b| b == 0).unwrap_or(0);
        start..start + len
    };
    let sorted = entries
        .windows(2)
        .all(|w| out[key(out, &w[0], 0)] < out[key(out, &w[1], 0)]);
    if sorted {
        return;
    }
    let from = entries[0].start as usize;
    tmp.clear();
    tmp.extend_from_slice(&out[from..]);
    out.truncate(from);
    entries.sort_unstable_by(|a, b| {
        tmp[key(tmp, a, from)]
            .cmp(&tmp[key(tmp, b, from)])
            .then(a.key.cmp(&b.key))
    });
    for (i, e) in entries.iter().enumerate() {
        let superseded = entries
            .get(i + 1)
            .is_some_and(|next| tmp[key(tmp, next, from)] == tmp[key(tmp, e, from)]);
        if !superseded {
            out.extend_from_slice(&tmp[e.start as usize - from..e.end as usize - from]);
        }
    }
}

/// RFC 3339 as `chrono::DateTime::to_rfc3339` writes it (what the stored documents hold):
/// `2024-05-01T12:00:00.250+00:00`, with 0, 3, 6 or 9 fraction digits.
fn write_timestamp(out: &mut Vec<u8>, seconds: i64, nanos: i32) {
    let t = chrono::DateTime::from_timestamp(seconds, nanos.clamp(0, 999_999_999) as u32)
        .unwrap_or_default();
    let mut buf = [0u8; 35];
    let mut w = Writer {
        buf: &mut buf,
        n: 0,
    };
    w.num(t.year().clamp(0, 9999) as u32, 4);
    w.byte(b'-');
    w.num(t.month(), 2);
    w.byte(b'-');
    w.num(t.day(), 2);
    w.byte(b'T');
    w.num(t.hour(), 2);
    w.byte(b':');
    w.num(t.minute(), 2);
    w.byte(b':');
    w.num(t.second(), 2);
    let nanos = nanos as u32;
    if nanos != 0 {
        w.byte(b'.');
        if nanos.is_multiple_of(1_000_000) {
            w.num(nanos / 1_000_000, 3);
        } else if nanos.is_multiple_of(1_000) {
            w.num(nanos / 1_000, 6);
        } else {
            w.num(nanos, 9);
        }
    }
    for &b in b"+00:00" {
        w.byte(b);
    }
    let len = w.n;
    bson::string(out, &buf[..len]);
}

struct Writer<'a> {
    buf: &'a mut [u8; 35],
    n: usize,
}

impl Writer<'_> {
    fn byte(&mut self, b: u8) {
        self.buf[self.n] = b;
        self.n += 1;
    }

    fn num(&mut self, mut v: u32, digits: usize) {
        for i in (0..digits).rev() {
            self.buf[self.n + i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
        self.n += digits;
    }
}

/// The field name the oracle's finite check (`frame::finite`) reports for a non-finite value.
fn finite_label(msg: &Message, field: &Field, parent: Option<&Field>) -> &'static str {
    let name = field.name;
    match msg.full_name {
        "engine.v1.SessionResponse" => match name {
            "left_shoulder_pressed" => "session.left_shoulder_pressed",
            "right_shoulder_pressed" => "session.right_shoulder_pressed",
            "left_shoulder_pressed2" => "session.left_shoulder_pressed2",
            "right_shoulder_pressed2" => "session.right_shoulder_pressed2",
            "payload_multiplier" => "session.payload_multiplier",
            "payload_distance" => "session.payload_distance",
            "payload_speed" => "session.payload_speed",
            _ => "session.game_clock",
        },
        "engine.v1.Disc" => match name {
            "position" => "disc.position",
            "forward" => "disc.forward",
            "left" => "disc.left",
            "up" => "disc.up",
            _ => "disc.velocity",
        },
        "engine.v1.PlayerRoot" => match name {
            "vr_left" => "player.vr_left",
            "vr_position" => "player.vr_position",
            "vr_forward" => "player.vr_forward",
            _ => "player.vr_up",
        },
        "engine.v1.PauseState" => match name {
            "unpaused_timer" => "pause.unpaused_timer",
            _ => "pause.paused_timer",
        },
        "engine.v1.LastScore" => match name {
            "disc_speed" => "last_score.disc_speed",
            _ => "last_score.distance_thrown",
        },
        "engine.v1.LastThrowInfo" => "last_throw",
        "engine.v1.TeamStats" => "teams.stats.possession_time",
        "engine.v1.PlayerStats" => "player.stats.possession_time",
        "engine.v1.TeamMember" => match name {
            "packet_loss_ratio" => "player.packetlossratio",
            _ => "player.velocity",
        },
        "engine.v1.BodyPart" => match parent.map(|p| p.name) {
            Some("body") => "player.body",
            _ => "player.head",
        },
        "engine.v1.HandPart" => match parent.map(|p| p.name) {
            Some("right_hand") => "player.rhand",
            _ => "player.lhand",
        },
        "engine.v1.UserBones" => match name {
            "bone_t" => "player_bones.user_bones.bone_t",
            _ => "player_bones.user_bones.bone_o",
        },
        _ => "frame",
    }
}

/// The name the oracle's range check (`frame::range`) reports for an enum number outside the
/// schema.
fn enum_label(msg: &Message, field: &Field) -> &'static str {
    match (msg.full_name, field.name) {
        ("telemetry.v1.RoundEnded", _) => "round_ended.winning_team",
        ("telemetry.v1.MatchEnded", _) => "match_ended.winning_team",
        ("telemetry.v1.PlayerJoined", _) => "player_joined.role",
        ("telemetry.v1.PlayerSwitchedTeam", "new_role") => "player_switched_team.new_role",
        ("telemetry.v1.PlayerSwitchedTeam", _) => "player_switched_team.prev_role",
        ("telemetry.v1.EmotePlayed", _) => "emote_played.emote",
        _ => "enum",
    }
}

/// Whether `number` names a value of `e`.
fn enum_known(e: &Enum, number: i32) -> bool {
    e.values.iter().any(|v| v.number == number)
}
