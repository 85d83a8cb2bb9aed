//! A generated frame in the encodings producers send: protojson with the schema's JSON names,
//! protojson with proto field names, protojson in lowerCamelCase (older clients), binary
//! protobuf.

use serde_json::Value;

use crate::proto::LobbySessionStateFrame;
use crate::proto::schema::{self, Field, Kind, Message};

/// protojson with the schema's JSON names (`frameIndex`, `sessionid`, `game_clock_display`,
/// `userid`, `lhand`, `user_bones`), as Go producers send it and as the service returns it.
///
/// # Panics
/// If the frame holds an enum number outside the schema or a timestamp chrono cannot represent
/// (pbjson refuses to write those); generated frames never do.
pub fn to_json(frame: &LobbySessionStateFrame) -> Vec<u8> {
    serde_json::to_vec(frame).expect("frame serializes as protojson")
}

/// The same frame as a C++ producer sends it: protojson with every key the proto field name
/// (`frame_index`, `session_id`, `player_bones`, `account_number`, `left_hand`, `slot_number`,
/// `player_index`), so tests and load runs exercise the second accepted spelling.
///
/// Builds a JSON tree to rename the keys, so it costs several times [`to_json`]: load
/// generators should render their bodies before the run.
///
/// # Panics
/// As [`to_json`].
pub fn to_proto_names_json(frame: &LobbySessionStateFrame) -> Vec<u8> {
    serde_json::to_vec(&to_proto_names_value(frame)).expect("a JSON value serializes")
}

/// [`to_proto_names_json`] as a JSON tree (for pretty-printing or further edits in tests).
pub fn to_proto_names_value(frame: &LobbySessionStateFrame) -> Value {
    let value = serde_json::to_value(frame).expect("frame serializes as protojson");
    rename(value, schema::frame(), Naming::ProtoName)
}

/// The same frame with every key protoc's default lowerCamelCase of the proto name
/// (`gameClockDisplay`, `sessionId`, `userBones`, `boneT`): what this service emitted for
/// `engine.v1` before every field pinned its JSON name, and what older clients echo back.
/// Accepted on input; never emitted.
///
/// # Panics
/// As [`to_json`].
pub fn to_lower_camel_json(frame: &LobbySessionStateFrame) -> Vec<u8> {
    let value = serde_json::to_value(frame).expect("frame serializes as protojson");
    let value = rename(value, schema::frame(), Naming::LowerCamel);
    serde_json::to_vec(&value).expect("a JSON value serializes")
}

/// Binary protobuf (`application/x-protobuf`).
pub fn to_protobuf(frame: &LobbySessionStateFrame) -> Vec<u8> {
    prost::Message::encode_to_vec(frame)
}

/// The key spelling [`rename`] writes.
#[derive(Debug, Clone, Copy)]
enum Naming {
    ProtoName,
    LowerCamel,
}

/// Renames the keys of `value` (protojson of `msg`) from JSON names to `naming`, walking the
/// schema tables build.rs generates from the descriptors: a JSON name can stand for different
/// proto names in different messages (`playerid` is `slot_number` in a `TeamMember` but
/// `player_index` in `UserBones`), and map keys are data, never renamed.
fn rename(value: Value, msg: &'static Message, naming: Naming) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| match msg.field_by_json_key(&k) {
                    Some(f) => {
                        let key = match naming {
                            Naming::ProtoName => f.name,
                            Naming::LowerCamel => f.camel_name,
                        };
                        (key.to_owned(), rename_value(v, f, naming))
                    }
                    None => (k, v),
                })
                .collect(),
        ),
        other => other,
    }
}

fn rename_value(value: Value, f: &'static Field, naming: Naming) -> Value {
    match (f.kind, value) {
        // A repeated field: every element is of the field's kind.
        (_, Value::Array(items)) => Value::Array(
            items
                .into_iter()
                .map(|v| rename_value(v, f, naming))
                .collect(),
        ),
        (Kind::Message(m), v) => rename(v, m, naming),
        // The tree holds a `float` as an f64 whose shortest digits are longer than the f32's:
        // print the f32's digits, as a C++ or Go producer does.
        (Kind::Float, Value::Number(n)) => match n.as_f64().and_then(f32_digits) {
            Some(short) => Value::Number(short),
            None => Value::Number(n),
        },
        (_, v) => v,
    }
}

/// The f64 nearest to the shortest decimal of `wide as f32`, when it converts back to the same
/// f32 (the f64 then prints with those short digits).
fn f32_digits(wide: f64) -> Option<serde_json::Number> {
    let narrow = wide as f32;
    let short: f64 = narrow.to_string().parse().ok()?;
    if short as f32 == narrow && narrow.is_finite() {
        serde_json::Number::from_f64(short)
    } else {
        None
    }
}
