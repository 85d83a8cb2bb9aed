//! Differential tests: the single-pass transcoder ([`super::decode_document`]) against the
//! previous path kept as the oracle ([`super::decode`] + [`EventDocument::build`]).
//!
//! On every input both must agree on accept or reject; an accepted frame must give
//! byte-identical documents (`data`, so `_id`, and the rest), the same match id, timestamp and unknown-field count (so the same
//! response, `{"success":true,"match_id":…}`); a refused one the same error class and
//! `frames_rejected_total` reason (so the same status; the message texts differ: serde_json's
//! and prost's wording is theirs).
//!
//! Inputs: synthetic frames (`crate::synth`) in both JSON dialects and as protobuf, structured
//! JSON mutations (renamed keys, numbers as strings, nulls, wrong types, unknown fields,
//! duplicate keys, whitespace) and byte mutations, protobuf concatenations (protobuf's merge)
//! and byte mutations, and every file of the fuzz corpus (`fuzz/corpus/`).

use std::time::{Duration, UNIX_EPOCH};

use proptest::prelude::*;
use serde_json::Value;

use super::{Encoding, EventDocument, FrameError, decode, decode_document};

mod bounds;
mod keys;
mod numbers;
mod protobuf_bounds;
use crate::ids::{NodeId, UserId};
use crate::proto::schema;
use crate::synth::{self, MatchGenerator, Profile};

/// What a path made of one input, in comparable form.
#[derive(Debug, PartialEq)]
enum Verdict {
    Accepted {
        /// The whole stored document (`_id` included), its `data` separately for messages.
        document: Vec<u8>,
        data: Vec<u8>,
        match_id: String,
        timestamp_ms: i64,
        unknown_fields: u32,
    },
    Refused {
        class: String,
        reason: &'static str,
    },
}

fn class(e: &FrameError) -> String {
    match e {
        FrameError::Syntax(_) | FrameError::JsonSyntax(_) => "json syntax".into(),
        FrameError::Schema(_) | FrameError::JsonSchema(_) => "json schema".into(),
        FrameError::Protobuf(_) | FrameError::Wire(_) => "protobuf".into(),
        FrameError::MissingSession => "missing session".into(),
        FrameError::SessionId(e) => format!("session id: {e}"),
        FrameError::NonFinite(field) => format!("non-finite {field}"),
        FrameError::OutOfRange(field) => format!("out of range {field}"),
        FrameError::DataKey(why) => format!("data key {why}"),
        FrameError::Limit(limit) => format!("limit {limit}"),
    }
}

fn refused(e: &FrameError) -> Verdict {
    Verdict::Refused {
        class: class(e),
        reason: e.reason(),
    }
}

fn inputs() -> (NodeId, UserId, std::time::SystemTime) {
    (
        NodeId::parse("node-7").unwrap(),
        UserId::from_header(Some("user-1")).unwrap().unwrap(),
        UNIX_EPOCH + Duration::from_millis(1_750_000_000_123),
    )
}

fn oracle(body: &[u8], encoding: Encoding) -> Verdict {
    let (node, user, at) = inputs();
    match decode(body, encoding) {
        Err(e) => refused(&e),
        Ok(decoded) => match EventDocument::build(&decoded, &node, Some(&user), at) {
            Err(e) => Verdict::Refused {
                class: format!("document: {e}"),
                reason: "document",
            },
            Ok(doc) => Verdict::Accepted {
                document: doc.bson.as_bytes().to_vec(),
                data: doc.bson.get_document("data").unwrap().as_bytes().to_vec(),
                match_id: doc.match_id.to_string(),
                timestamp_ms: doc.timestamp_ms,
                unknown_fields: decoded.unknown_fields,
            },
        },
    }
}

fn transcoder(body: &[u8], encoding: Encoding) -> Verdict {
    let (node, user, at) = inputs();
    match decode_document(body, encoding, &node, Some(&user), at) {
        Err(e) => refused(&e),
        Ok(ingested) => {
            let doc = ingested.doc;
            // The whole document must be valid BSON, readable by the read path.
            doc.bson.iter().for_each(|e| {
                e.expect("valid BSON element");
            });
            super::StoredEvent(doc.bson.clone())
                .frame()
                .expect("the read path decodes the stored frame");
            Verdict::Accepted {
                document: doc.bson.as_bytes().to_vec(),
                data: doc.bson.get_document("data").unwrap().as_bytes().to_vec(),
                match_id: doc.match_id.to_string(),
                timestamp_ms: doc.timestamp_ms,
                unknown_fields: ingested.unknown_fields,
            }
        }
    }
}

/// Asserts the two paths agree on `body`, printing what each decided when they do not.
fn agree(body: &[u8], encoding: Encoding) -> Verdict {
    let old = oracle(body, encoding);
    let new = transcoder(body, encoding);
    if old != new {
        let show = |v: &Verdict| match v {
            Verdict::Accepted { data, .. } => format!(
                "accepted: {:?}",
                bson::RawDocument::from_bytes(data).map(|d| d.to_owned())
            ),
            Verdict::Refused { class, .. } => format!("refused: {class}"),
        };
        let shown = if encoding == Encoding::Json {
            String::from_utf8_lossy(body).into_owned()
        } else {
            format!("{body:02x?}")
        };
        let (node, user, at) = inputs();
        let new_error = decode_document(body, encoding, &node, Some(&user), at)
            .err()
            .map(|e| e.to_string());
        let old_error = decode(body, encoding).err().map(|e| e.to_string());
        panic!(
            "the paths disagree on {encoding:?} input\n{}\n  oracle:     {} ({old_error:?})\n  transcoder: {} ({new_error:?})",
            &shown[..shown.len().min(4000)],
            show(&old),
            show(&new)
        );
    }
    new
}

fn generator(seed: u64, profile: Profile) -> MatchGenerator {
    let session = uuid::Uuid::from_u128(0x892e23e2_8272_4b07_85e8_5e291ac85f93 ^ u128::from(seed));
    MatchGenerator::new(session, seed, profile)
}

fn profile(bones: bool) -> Profile {
    if bones {
        Profile::SessionWithBones
    } else {
        Profile::Session
    }
}

#[test]
fn synthetic_frames_agree_in_every_dialect_and_as_protobuf() {
    let mut accepted = 0;
    for seed in 0..4 {
        for bones in [false, true] {
            let mut g = generator(seed, profile(bones));
            for i in 0..12 {
                let frame = g.frame(i);
                let json = agree(&synth::to_json(&frame), Encoding::Json);
                let proto_names = agree(&synth::to_proto_names_json(&frame), Encoding::Json);
                let protobuf = agree(&synth::to_protobuf(&frame), Encoding::Protobuf);
                assert!(matches!(json, Verdict::Accepted { .. }), "{json:?}");
                // Canonical: the same bytes (and so the same id) from every encoding.
                assert_eq!(json, proto_names, "JSON names vs proto names");
                assert_eq!(json, protobuf, "JSON vs protobuf");
                accepted += 1;
            }
        }
    }
    println!("{accepted} frames accepted identically from three encodings each");
}

#[test]
fn the_fuzz_corpus_agrees() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    let mut checked = 0;
    for (dir, encoding) in [
        ("decode_json", Some(Encoding::Json)),
        ("decode_protobuf", Some(Encoding::Protobuf)),
        ("decode_compressed", None),
        ("transcode", None),
    ] {
        let mut files: Vec<_> = std::fs::read_dir(root.join(dir))
            .unwrap_or_else(|e| panic!("fuzz corpus {dir}: {e}"))
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        for path in files {
            let raw = std::fs::read(&path).unwrap();
            let (body, encodings) = match (encoding, dir) {
                (Some(e), _) => (raw, vec![e]),
                // The transcoder's target: the first byte picks JSON (even) or protobuf.
                (None, "transcode") => {
                    let (&selector, body) = raw.split_first().expect("a selector byte");
                    let e = if selector % 2 == 0 {
                        Encoding::Json
                    } else {
                        Encoding::Protobuf
                    };
                    (body.to_vec(), vec![e])
                }
                (None, _) => (decompress(&raw), vec![Encoding::Json, Encoding::Protobuf]),
            };
            for encoding in encodings {
                agree(&body, encoding);
                checked += 1;
            }
        }
    }
    println!("{checked} corpus inputs agree");
    assert!(checked > 30, "the corpus was read ({checked} inputs)");
}

/// The compressed corpus's format (`fuzz/fuzz_targets/decode_compressed.rs`): the first byte
/// picks gzip (even) or zstd (odd), the rest is the stream.
fn decompress(raw: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let (&selector, stream) = raw.split_first().expect("a corpus file holds a selector");
    let mut out = Vec::new();
    if selector % 2 == 0 {
        flate2::read::GzDecoder::new(stream)
            .read_to_end(&mut out)
            .unwrap();
    } else {
        out = zstd::decode_all(stream).unwrap();
    }
    out
}

#[test]
fn hand_picked_edge_cases_agree() {
    let base = synth::to_json(&generator(1, Profile::Session).frame(3));
    let text = String::from_utf8(base.clone()).unwrap();
    let session = r#""session":{"sessionid":"892E23E2-8272-4B07-85E8-5E291AC85F93"}"#;
    let cases: Vec<String> = vec![
        String::new(),
        " ".into(),
        "{}".into(),
        "[]".into(),
        "null".into(),
        format!("{{{session}}}"),
        format!("{{{session}}} x"),
        format!("{{{session}}}\n\t "),
        format!("{{{session},}}"),
        format!("{{{session},\"session\":null}}"),
        format!("{{\"session\":null,{session}}}"),
        format!("{{\"session\":null}}"),
        format!("{{{session},\"frameIndex\":-0}}"),
        format!("{{{session},\"frameIndex\":1.0}}"),
        format!("{{{session},\"frameIndex\":1e400}}"),
        format!("{{{session},\"frameIndex\":\"1e400\"}}"),
        format!("{{{session},\"frameIndex\":\"+7\"}}"),
        format!("{{{session},\"frameIndex\":4294967296}}"),
        format!("{{{session},\"frameIndex\":4294967295}}"),
        format!("{{{session},\"frameIndex\":\"x\"}}"),
        format!("{{{session},\"frameIndex\":-x}}"),
        format!("{{{session},\"frameIndex\":01}}"),
        format!("{{{session},\"frameIndex\":1,\"frame_index\":2}}"),
        format!("{{{session},\"frameIndex\":null}}"),
        format!("{{{session},\"timestamp\":\"2024-02-30T00:00:00Z\"}}"),
        format!("{{{session},\"timestamp\":\"2016-12-31T23:59:60.5Z\"}}"),
        format!("{{{session},\"timestamp\":\"0000-01-01T00:00:00Z\"}}"),
        format!("{{{session},\"timestamp\":\"2024-05-01T12:00:00.123456+02:00\"}}"),
        format!("{{{session},\"timestamp\":\"2024-05-01t12:00:00z\"}}"),
        format!("{{{session},\"timestamp\":null}}"),
        format!("{{{session},\"timestamp\":5}}"),
        format!("{{{session},\"events\":[{{\"roundStarted\":{{}},\"roundEnded\":{{}}}}]}}"),
        format!("{{{session},\"events\":[{{\"roundStarted\":null,\"roundEnded\":{{}}}}]}}"),
        format!("{{{session},\"events\":[{{\"roundEnded\":{{\"winningTeam\":\"BLUE_TEAM\"}}}}]}}"),
        format!("{{{session},\"events\":[{{\"roundEnded\":{{\"winningTeam\":2}}}}]}}"),
        format!("{{{session},\"events\":[{{\"roundEnded\":{{\"winningTeam\":9}}}}]}}"),
        format!("{{{session},\"events\":[{{\"roundEnded\":{{\"winningTeam\":-0}}}}]}}"),
        format!("{{{session},\"events\":[{{\"roundEnded\":{{\"winningTeam\":\"1\"}}}}]}}"),
        format!("{{{session},\"events\":[{{\"emotePlayed\":{{\"emote\":1}}}}]}}"),
        format!(
            "{{{session},\"events\":[{{\"discPossessionChanged\":{{\"previousSlot\":3,\"playerSlot\":1}}}}]}}"
        ),
        format!(
            "{{{session},\"events\":[{{\"genericEvent\":{{\"data\":{{\"b\":\"1\",\"a\":\"2\",\"b\":\"3\"}}}}}}]}}"
        ),
        format!(
            "{{{session},\"events\":[{{\"genericEvent\":{{\"data\":{{\"a\\u0000\":\"x\"}}}}}}]}}"
        ),
        format!("{{{session},\"events\":[{{\"genericEvent\":{{\"data\":{{}}}}}}]}}"),
        format!("{{{session},\"events\":[]}}"),
        format!("{{{session},\"events\":[null]}}"),
        format!("{{{session},\"events\":[{{}},]}}"),
        format!("{{{session},\"unknown\":[1,{{\"a\":[\"\\ud800\"]}},-0.5e+7,true,null]}}"),
        format!("{{{session},\"unknown\":[1,]}}"),
        format!("{{{session},\"unknown\":\"\\x\"}}"),
        format!("{{{session},\"unknown\":{}}}", "[".repeat(200) + &"]".repeat(200)),
        format!("{{{session},\"events\":{}}}", "[".repeat(200) + &"]".repeat(200)),
        format!("{{{session},\"fr\\u0061meIndex\":5}}"),
        format!("{{{session},\"frameIndex\" : 5 , \"x\" : 1 }}"),
        r#"{"session":{"sessionid":"not-a-uuid"}}"#.into(),
        r#"{"session":{}}"#.into(),
        r#"{"session":{"sessionid":"892E23E2-8272-4B07-85E8-5E291AC85F93","game_clock":"NaN"}}"#
            .into(),
        r#"{"session":{"sessionid":"892E23E2-8272-4B07-85E8-5E291AC85F93","disc":{"position":[1,"Infinity",2]}}}"#
            .into(),
        r#"{"player_bones":{"user_bones":[{"bone_t":[1e39]}]},"session":{"session_id":"892E23E2-8272-4B07-85E8-5E291AC85F93"}}"#
            .into(),
        r#"{"session":{"session_id":"892E23E2-8272-4B07-85E8-5E291AC85F93","teams":[{"players":[{"userid":"18446744073709551615","account_number":1}]}]}}"#
            .into(),
        r#"{"session":{"session_id":"892E23E2-8272-4B07-85E8-5E291AC85F93","rules_changed_at":-1}}"#
            .into(),
        r#"{"session":{"session_id":"892E23E2-8272-4B07-85E8-5E291AC85F93","rules_changed_at":"18446744073709551615"}}"#
            .into(),
        r#"{"session":{"session_id":"892E\u0032\u00333E2-8272-4B07-85E8-5E291AC85F93","private_match":true,"tournament_match":false,"possession":[1,-2,0]}}"#
            .into(),
        text.replacen("{", "{\"x\":1,", 1),
        text.replace(",", " , "),
        text.replace("\"sessionid\"", "\"session_id\""),
        text[..text.len() - 1].to_string(),
        text.clone() + "{}",
    ];
    let mut accepted = 0;
    for case in &cases {
        if let Verdict::Accepted { .. } = agree(case.as_bytes(), Encoding::Json) {
            accepted += 1;
        }
    }
    println!(
        "{} hand-picked cases agree ({accepted} accepted)",
        cases.len()
    );
    assert!(accepted >= 10, "some cases are accepted: {accepted}");
}

/// Every key spelling the oracle knows for some field: for renaming keys in mutations. Only
/// the names protojson itself accepts (proto name and JSON name), not lowerCamelCase where it
/// differs from both (the transcoder's extra leniency, tested on its own below).
fn spellings() -> Vec<(&'static str, &'static str)> {
    let mut out = Vec::new();
    for m in schema::MESSAGES {
        for f in m.fields {
            if f.name != f.json_name {
                out.push((f.name, f.json_name));
                out.push((f.json_name, f.name));
            }
        }
    }
    out
}

/// One structured edit of a JSON tree, driven by `rng`.
fn mutate_value(v: &mut Value, rng: &mut fastrand::Rng, names: &[(&str, &str)]) {
    // Pick a node by walking down a random path (as a JSON pointer).
    let mut pointer = String::new();
    let mut at = &*v;
    loop {
        if rng.u8(..4) == 0 {
            break;
        }
        match at {
            Value::Object(map) if !map.is_empty() => {
                let (k, child) = map.iter().nth(rng.usize(..map.len())).unwrap();
                pointer.push('/');
                pointer.push_str(&k.replace('~', "~0").replace('/', "~1"));
                at = child;
            }
            Value::Array(items) if !items.is_empty() => {
                let i = rng.usize(..items.len());
                pointer.push_str(&format!("/{i}"));
                at = &items[i];
            }
            _ => break,
        }
    }
    let node = v
        .pointer_mut(&pointer)
        .expect("the pointer was just walked");
    const STRINGS: &[&str] = &[
        "",
        "0",
        "-0",
        "1e3",
        "1.5",
        "NaN",
        "Infinity",
        "-Infinity",
        "+7",
        "007",
        "BLUE_TEAM",
        "ROLE_ORANGE_TEAM",
        "EMOTE_TYPE_PRIMARY",
        "2024-05-01T12:00:00Z",
        "x\u{0}y",
        "é\u{1F600}",
        "18446744073709551616",
        "-9223372036854775809",
        "2147483648",
    ];
    let numbers = [
        "0",
        "-0",
        "1",
        "-1",
        "2147483647",
        "2147483648",
        "-2147483649",
        "4294967295",
        "4294967296",
        "9007199254740993",
        "18446744073709551615",
        "18446744073709551616",
        "1.0",
        "1.5",
        "1e3",
        "-1e-400",
        "1e38",
        "3.5e38",
        "1e308",
        "5e-324",
        "0.1",
    ];
    match rng.u8(..12) {
        0 => *node = Value::Null,
        1 => *node = Value::String(STRINGS[rng.usize(..STRINGS.len())].into()),
        2 => *node = serde_json::from_str(numbers[rng.usize(..numbers.len())]).unwrap(),
        3 => *node = Value::Bool(rng.bool()),
        4 => *node = Value::Array(vec![]),
        5 => *node = Value::Object(Default::default()),
        6 => {
            if let Value::Number(n) = node {
                *node = Value::String(n.to_string());
            } else if let Value::String(s) = node
                && let Ok(n) = s.parse::<serde_json::Number>()
            {
                *node = Value::Number(n);
            }
        }
        7 | 8 => {
            if let Value::Object(map) = node {
                // Rename a key to its other spelling.
                let keys: Vec<String> = map.keys().cloned().collect();
                if let Some(k) = keys.get(rng.usize(..keys.len().max(1)))
                    && let Some((_, to)) = names.iter().find(|(from, _)| from == k)
                {
                    let value = map.remove(k).unwrap();
                    map.insert((*to).into(), value);
                }
            }
        }
        9 => {
            if let Value::Object(map) = node {
                map.insert(
                    format!("unknown_{}", rng.u8(..3)),
                    serde_json::json!([1, {"a": "b", "c": [null, true]}, -2.5e-3]),
                );
            }
        }
        10 => {
            if let Value::Array(items) = node
                && let Some(first) = items.first().cloned()
            {
                items.push(first);
            }
        }
        _ => {
            if let Value::Number(n) = node
                && let Some(f) = n.as_f64()
            {
                *node = serde_json::json!(-f);
            }
        }
    }
}

/// Byte edits: delete, insert, replace, duplicate a span.
fn mutate_bytes(body: &mut Vec<u8>, rng: &mut fastrand::Rng, alphabet: &[u8]) {
    if body.is_empty() {
        body.push(alphabet[rng.usize(..alphabet.len())]);
        return;
    }
    let at = rng.usize(..body.len());
    match rng.u8(..4) {
        0 => {
            body.remove(at);
        }
        1 => body.insert(at, alphabet[rng.usize(..alphabet.len())]),
        2 => body[at] = alphabet[rng.usize(..alphabet.len())],
        _ => {
            let end = (at + rng.usize(1..64)).min(body.len());
            let span = body[at..end].to_vec();
            let to = rng.usize(..=body.len());
            body.splice(to..to, span);
        }
    }
}

fn cases() -> u32 {
    std::env::var("DIFFERENTIAL_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300)
}

/// One mutated JSON case (the proptest's body).
#[allow(clippy::too_many_arguments)]
fn json_case(
    seed: u64,
    bones: bool,
    index: u32,
    proto_names: bool,
    pretty: bool,
    edits: usize,
    byte_edits: usize,
    rng_seed: u64,
) -> Verdict {
    let frame = generator(seed, profile(bones)).frame(index);
    let mut value = if proto_names {
        synth::to_proto_names_value(&frame)
    } else {
        serde_json::to_value(&frame).unwrap()
    };
    let mut rng = fastrand::Rng::with_seed(rng_seed);
    let names = spellings();
    for _ in 0..edits {
        mutate_value(&mut value, &mut rng, &names);
    }
    // serde_json's map is sorted: the keys arrive out of schema order.
    let mut body = if pretty {
        serde_json::to_vec_pretty(&value).unwrap()
    } else {
        serde_json::to_vec(&value).unwrap()
    };
    for _ in 0..byte_edits {
        mutate_bytes(
            &mut body,
            &mut rng,
            b"{}[]\",:0123456789-+.eE \\ntfnu\x00\xff",
        );
    }
    agree(&body, Encoding::Json)
}

/// One mutated protobuf case (the proptest's body).
fn protobuf_case(
    seed: u64,
    bones: bool,
    index: u32,
    concat: bool,
    byte_edits: usize,
    rng_seed: u64,
) -> Verdict {
    let mut g = generator(seed, profile(bones));
    let mut body = synth::to_protobuf(&g.frame(index));
    if concat {
        // Concatenated encodings merge: scalars replaced, messages merged, lists appended.
        body.extend(synth::to_protobuf(&g.frame(index + 1)));
    }
    let mut rng = fastrand::Rng::with_seed(rng_seed);
    let alphabet: Vec<u8> = (0..=255).collect();
    for _ in 0..byte_edits {
        mutate_bytes(&mut body, &mut rng, &alphabet);
    }
    agree(&body, Encoding::Protobuf)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn mutated_json_agrees(
        seed in 0u64..64,
        bones in any::<bool>(),
        index in 0u32..40,
        proto_names in any::<bool>(),
        pretty in any::<bool>(),
        edits in 0usize..6,
        byte_edits in 0usize..3,
        rng_seed in any::<u64>(),
    ) {
        json_case(seed, bones, index, proto_names, pretty, edits, byte_edits, rng_seed);
    }

    #[test]
    fn mutated_protobuf_agrees(
        seed in 0u64..64,
        bones in any::<bool>(),
        index in 0u32..40,
        concat in any::<bool>(),
        byte_edits in 0usize..4,
        rng_seed in any::<u64>(),
    ) {
        protobuf_case(seed, bones, index, concat, byte_edits, rng_seed);
    }
}

/// The mutations reach both verdicts and many refusal classes (else the proptests above would
/// compare little): counted over a fixed set of cases.
#[test]
fn mutations_reach_accepts_and_many_refusals() {
    let mut tally = std::collections::BTreeMap::<String, u32>::new();
    let mut count = |v: Verdict, kind: &str| {
        let key = match v {
            Verdict::Accepted { .. } => format!("{kind} accepted"),
            Verdict::Refused { reason, .. } => format!("{kind} refused {reason}"),
        };
        *tally.entry(key).or_default() += 1;
    };
    for i in 0..150u64 {
        let edits = (i % 5) as usize;
        let byte_edits = usize::from(i % 7 == 0);
        count(
            json_case(
                i % 8,
                i % 3 == 0,
                i as u32,
                i % 2 == 0,
                i % 4 == 0,
                edits,
                byte_edits,
                i,
            ),
            "json",
        );
        count(
            protobuf_case(i % 8, i % 3 == 0, i as u32, i % 2 == 1, (i % 3) as usize, i),
            "protobuf",
        );
    }
    println!("{tally:#?}");
    for key in [
        "json accepted",
        "json refused schema",
        "json refused bad_json",
        "protobuf accepted",
        "protobuf refused bad_protobuf",
    ] {
        assert!(
            tally.get(key).copied().unwrap_or(0) > 0,
            "no case was {key}: {tally:?}"
        );
    }
}

/// The transcoder's own leniency beyond the oracle: lowerCamelCase of the proto name is
/// accepted where an explicit JSON name differs from it (older producers), and stored under
/// the JSON name, the same bytes as the JSON-name spelling.
#[test]
fn lower_camel_case_names_are_accepted_and_stored_canonically() {
    let frame = generator(2, Profile::Session).frame(1);
    let json = String::from_utf8(synth::to_json(&frame)).unwrap();
    let camel = json
        .replace("\"sessionid\"", "\"sessionId\"")
        .replace("\"userid\"", "\"accountNumber\"")
        .replace("\"playerid\"", "\"slotNumber\"");
    assert_ne!(json, camel);
    let canonical = transcoder(json.as_bytes(), Encoding::Json);
    assert!(
        matches!(canonical, Verdict::Accepted { .. }),
        "{canonical:?}"
    );
    assert_eq!(transcoder(camel.as_bytes(), Encoding::Json), canonical);
}

/// Found by `mutated_json_agrees`: `"playerSlot":null` in a `discPossessionChanged` event, which
/// the oracle's hand-written `DiscPossessionChanged` deserializer accepted as 0 while every
/// other number field (and the transcoder) refuses `null`.
#[test]
fn a_null_number_is_refused_in_every_message() {
    let verdict = json_case(0, false, 25, false, false, 1, 0, 2290401927267814998);
    assert!(matches!(verdict, Verdict::Refused { .. }), "{verdict:?}");
    let session = r#""session":{"sessionid":"892E23E2-8272-4B07-85E8-5E291AC85F93"}"#;
    for event in [
        r#"{"discPossessionChanged":{"playerSlot":null}}"#,
        r#"{"discPossessionChanged":{"previousSlot":null}}"#,
        r#"{"discCaught":{"playerSlot":null}}"#,
    ] {
        let body = format!(r#"{{{session},"events":[{event}]}}"#);
        let verdict = agree(body.as_bytes(), Encoding::Json);
        assert!(
            matches!(verdict, Verdict::Refused { .. }),
            "{event}: {verdict:?}"
        );
    }
}
