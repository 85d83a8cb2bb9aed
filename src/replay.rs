//! The replay formats community tools open (`docs/api.md`, "Replay export"): the text lines of
//! an `.echoreplay` and the game-native JSON they carry.
//!
//! An `.echoreplay` line is `<time> TAB <session JSON> [TAB SPACE <bones JSON>] CRLF`, with
//! `<time>` the frame's timestamp as `yyyy/MM/dd HH:mm:ss.fff` (UTC) and the JSON in the
//! **game's own form**, which differs from protojson: every field is emitted (defaults too),
//! enums are numbers, 64-bit integers (`userid`, `rules_changed_at`) are bare numbers, floats
//! never use exponent notation. Spark rejects a line with other than two TAB fields and ignores
//! a session JSON of 800 characters or fewer, so bones are an opt-in third field.
//!
//! The game-native JSON is rendered by walking the schema tables generated from `proto/`
//! ([`crate::proto::schema`]) over the frame's protojson, so a field added to the schema is
//! exported without touching this file, under its `json_name` (the game's key).

use std::io::Write as _;

use serde_json::Value;

use crate::proto::LobbySessionStateFrame;
use crate::proto::schema::{self, Cardinality, Field, Kind, Message};

/// Nested messages deeper than this are not expanded (the session schema is 4 deep; the bound
/// only guards against a recursive message ever being added).
const MAX_DEPTH: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("the frame has no session")]
    NoSession,
    #[error("could not render the frame: {0}")]
    Json(#[from] serde_json::Error),
    #[error("stored value of `{0}` is not a valid {1}")]
    Value(&'static str, &'static str),
}

/// `2026/11/27 12:00:00.100` (UTC).
pub fn echoreplay_time(ms: i64, out: &mut Vec<u8>) {
    let t = chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default();
    let _ = write!(out, "{}", t.format("%Y/%m/%d %H:%M:%S%.3f"));
}

/// Appends one `.echoreplay` line (CRLF included) for `frame`, stamped `timestamp_ms`.
pub fn echoreplay_line(
    frame: &LobbySessionStateFrame,
    timestamp_ms: i64,
    bones: bool,
    out: &mut Vec<u8>,
) -> Result<(), ReplayError> {
    let session = frame.session.as_ref().ok_or(ReplayError::NoSession)?;
    echoreplay_time(timestamp_ms, out);
    out.push(b'\t');
    let session_msg = message_of(schema::frame(), "session");
    render_message(Some(&serde_json::to_value(session)?), session_msg, out, 0)?;
    if bones && let Some(b) = &frame.player_bones {
        out.extend_from_slice(b"\t ");
        let bones_msg = message_of(schema::frame(), "player_bones");
        render_message(Some(&serde_json::to_value(b)?), bones_msg, out, 0)?;
    }
    out.extend_from_slice(b"\r\n");
    Ok(())
}

/// The message type of a message field of `parent` (schema facts: these fields exist).
fn message_of(parent: &'static Message, field: &str) -> &'static Message {
    match parent.field_by_name(field).map(|f| f.kind) {
        Some(Kind::Message(m)) => m,
        _ => panic!(
            "schema: {}.{field} is not a message field",
            parent.full_name
        ),
    }
}

/// Renders a message in the game's form from its protojson `value` (`None`: all defaults).
pub fn render_message(
    value: Option<&Value>,
    msg: &'static Message,
    out: &mut Vec<u8>,
    depth: usize,
) -> Result<(), ReplayError> {
    let obj = value.and_then(Value::as_object);
    out.push(b'{');
    let mut first = true;
    for field in msg.fields {
        let v = obj.and_then(|o| o.get(field.json_name).or_else(|| o.get(field.name)));
        // A oneof has one member set; the others are absent, not defaults.
        if field.oneof.is_some() && v.is_none() {
            continue;
        }
        if matches!(field.kind, Kind::Message(_))
            && field.cardinality == Cardinality::Singular
            && v.is_none()
            && depth >= MAX_DEPTH
        {
            continue;
        }
        if !first {
            out.push(b',');
        }
        first = false;
        serde_json::to_writer(&mut *out, field.json_name)?;
        out.push(b':');
        render_field(v, field, out, depth)?;
    }
    out.push(b'}');
    Ok(())
}

fn render_field(
    v: Option<&Value>,
    field: &'static Field,
    out: &mut Vec<u8>,
    depth: usize,
) -> Result<(), ReplayError> {
    match field.cardinality {
        Cardinality::Repeated => {
            out.push(b'[');
            for (i, item) in v
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
            {
                if i > 0 {
                    out.push(b',');
                }
                render_value(Some(item), field.kind, field.name, out, depth)?;
            }
            out.push(b']');
        }
        Cardinality::Map => {
            let Kind::Map(entry) = field.kind else {
                return Err(ReplayError::Value(field.name, "map"));
            };
            out.push(b'{');
            for (i, (k, item)) in v
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
                .enumerate()
            {
                if i > 0 {
                    out.push(b',');
                }
                serde_json::to_writer(&mut *out, k)?;
                out.push(b':');
                render_value(Some(item), entry.value, field.name, out, depth)?;
            }
            out.push(b'}');
        }
        Cardinality::Singular | Cardinality::Optional => {
            render_value(v, field.kind, field.name, out, depth)?;
        }
    }
    Ok(())
}

/// One value of `kind` from its protojson form; `None` renders the kind's default.
fn render_value(
    v: Option<&Value>,
    kind: Kind,
    name: &'static str,
    out: &mut Vec<u8>,
    depth: usize,
) -> Result<(), ReplayError> {
    match kind {
        Kind::Double | Kind::Float => {
            let x = match v {
                None => 0.0,
                Some(Value::Number(n)) => n.as_f64().ok_or(ReplayError::Value(name, "number"))?,
                // protojson may quote numbers; non-finite values never reach the store.
                Some(Value::String(s)) => s
                    .parse::<f64>()
                    .ok()
                    .filter(|x| x.is_finite())
                    .ok_or(ReplayError::Value(name, "number"))?,
                Some(_) => return Err(ReplayError::Value(name, "number")),
            };
            // `Display` of f64 is the shortest round-trip decimal and never uses an exponent.
            let _ = write!(out, "{x}");
            if x.fract() == 0.0 && x.abs() < 1e16 {
                // Keep floats looking like floats (`0.0`), as the game writes them.
                out.extend_from_slice(b".0");
            }
        }
        Kind::Int32
        | Kind::Int64
        | Kind::SInt32
        | Kind::SInt64
        | Kind::SFixed32
        | Kind::SFixed64
        | Kind::UInt32
        | Kind::UInt64
        | Kind::Fixed32
        | Kind::Fixed64 => match v {
            None => out.push(b'0'),
            // Bare digits, whether protojson wrote a number or (64-bit) a string.
            Some(Value::Number(n)) if n.is_i64() || n.is_u64() => {
                let _ = write!(out, "{n}");
            }
            Some(Value::String(s)) if is_integer(s) => out.extend_from_slice(s.as_bytes()),
            Some(_) => return Err(ReplayError::Value(name, "integer")),
        },
        Kind::Bool => out.extend_from_slice(match v {
            None | Some(Value::Bool(false)) => b"false",
            Some(Value::Bool(true)) => b"true",
            Some(_) => return Err(ReplayError::Value(name, "bool")),
        }),
        Kind::String | Kind::Bytes | Kind::Timestamp => match v {
            None => out.extend_from_slice(b"\"\""),
            Some(Value::String(s)) => serde_json::to_writer(&mut *out, s)?,
            Some(_) => return Err(ReplayError::Value(name, "string")),
        },
        Kind::Enum(e) => {
            let n = match v {
                None => 0,
                Some(Value::String(s)) => {
                    e.number(s).ok_or(ReplayError::Value(name, "enum value"))?
                }
                Some(Value::Number(n)) => n
                    .as_i64()
                    .and_then(|n| i32::try_from(n).ok())
                    .ok_or(ReplayError::Value(name, "enum value"))?,
                Some(_) => return Err(ReplayError::Value(name, "enum value")),
            };
            let _ = write!(out, "{n}");
        }
        Kind::Message(m) => render_message(v, m, out, depth + 1)?,
        Kind::Map(_) => return Err(ReplayError::Value(name, "map value")),
    }
    Ok(())
}

fn is_integer(s: &str) -> bool {
    let digits = s.strip_prefix('-').unwrap_or(s);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::{MatchGenerator, Profile};

    fn line(bones: bool) -> (LobbySessionStateFrame, String) {
        let mut m = MatchGenerator::new(
            uuid::Uuid::from_u128(0x892e23e2_8272_4b07_85e8_5e291ac85f93),
            3,
            Profile::SessionWithBones,
        );
        let frame = m.frame(5);
        let mut out = Vec::new();
        echoreplay_line(&frame, 1_764_244_800_100, bones, &mut out).unwrap();
        (frame, String::from_utf8(out).unwrap())
    }

    #[test]
    fn lines_follow_sparks_rules() {
        let (frame, text) = line(false);
        let body = text.strip_suffix("\r\n").expect("CRLF");
        let fields: Vec<&str> = body.split('\t').collect();
        assert_eq!(fields.len(), 2, "exactly two TAB fields");
        assert_eq!(fields[0], "2025/11/27 12:00:00.100");
        assert!(fields[1].len() > 800);
        let session: Value = serde_json::from_str(fields[1]).unwrap();
        let want = frame.session.as_ref().unwrap();
        assert_eq!(session["sessionid"], want.session_id.as_str());
        // Every field of the schema is there, defaults included, under its json_name.
        let msg = message_of(schema::frame(), "session");
        for f in msg.fields {
            assert!(
                session.get(f.json_name).is_some(),
                "missing {}",
                f.json_name
            );
        }
        // 64-bit ids are bare numbers with every digit; enums are numbers; no exponents.
        let player = &want.teams[0].players[0];
        let uid_text = format!("\"userid\":{}", player.account_number);
        assert!(fields[1].contains(&uid_text), "{uid_text}");
        assert!(!fields[1].contains("e-") && !fields[1].contains("E-"));
        assert!(session["teams"][0]["players"][0]["userid"].is_u64());
    }

    #[test]
    fn bones_are_an_opt_in_third_field() {
        let (frame, text) = line(true);
        let fields: Vec<&str> = text.trim_end().split('\t').collect();
        assert_eq!(fields.len(), 3);
        let bones: Value = serde_json::from_str(fields[2].trim_start()).unwrap();
        let want = frame.player_bones.as_ref().unwrap();
        assert_eq!(
            bones["user_bones"].as_array().unwrap().len(),
            want.user_bones.len()
        );
        assert!(bones["user_bones"][0]["bone_t"].is_array());
    }

    #[test]
    fn floats_never_use_exponents() {
        let mut out = Vec::new();
        for x in [1e-7, 2.5e20, 0.0, -3.25] {
            render_value(Some(&serde_json::json!(x)), Kind::Double, "x", &mut out, 0).unwrap();
            out.push(b' ');
        }
        let s = String::from_utf8(out).unwrap();
        assert_eq!(s, "0.0000001 250000000000000000000 0.0 -3.25 ");
    }
}
