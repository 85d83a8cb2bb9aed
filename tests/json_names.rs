//! The schema's JSON names (issue 16): every `engine.v1` field pins its `json_name` (snake_case,
//! the game's own `/session` keys), the service emits exactly those, accepts every other
//! spelling a producer or an older client uses, and serves documents stored under the previous
//! version's lowerCamelCase keys in the new names, with the same content ids.
//!
//! The oracle is `tests/common/schema.rs`: the schema tables build.rs generates from the
//! `.proto` descriptors (`session_events::proto::schema`), and the previous version's schema,
//! frozen in `tests/fixtures/legacy_schema/`.

mod common;

use std::time::SystemTime;

use bson::{Bson, Document, RawDocumentBuf};
use common::schema::{self, Check, Dialect, FRAME};
use common::{Backend, TestApp, protojson, spawn_app_with, unique_name};
use serde_json::{Value, json};
use session_events::frame::{self, Encoding, EventDocument};
use session_events::ids::NodeId;
use session_events::proto::LobbySessionStateFrame;
use session_events::store::Store;
use session_events::store::embedded::EmbeddedStore;
use session_events::synth::{self, MatchGenerator, Profile};

backend_tests!(
    every_dialect_reads_back_in_schema_json_names,
    a_frame_in_any_dialect_gets_the_same_id,
    documents_stored_under_the_old_keys_read_back_in_the_new,
    an_echovr_session_comes_back_key_for_key,
);

const SESSION: &str = "892E23E2-8272-4B07-85E8-5E291AC85F93";

fn generator() -> MatchGenerator {
    MatchGenerator::new(
        uuid::Uuid::parse_str(SESSION).unwrap(),
        7,
        Profile::SessionWithBones,
    )
}

/// The game's own `/session` JSON (5 v 5 arena, every `SessionResponse` field present, zeros
/// included, 64-bit ids as numbers, as the game prints them).
fn echovr_session() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/echovr_session.json"
    );
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// A frame whose `session` is [`echovr_session`], with bones and a few events.
fn echovr_frame() -> LobbySessionStateFrame {
    let mut f = generator().frame(20);
    let body = json!({
        "frame_index": 1,
        "timestamp": "2025-06-01T18:00:02Z",
        "events": [{"round_started": {"round_number": 1}}],
        "session": echovr_session(),
    });
    let d = frame::decode(&serde_json::to_vec(&body).unwrap(), Encoding::Json).unwrap();
    assert_eq!(
        d.unknown_fields, 0,
        "every key of the game's /session is a schema key"
    );
    f.session = d.frame.session;
    f
}

/// [`echovr_frame`] with the fields the game left at zero set too, so that every field of
/// every `engine.v1` message is written (protojson omits defaults).
fn full_frame() -> LobbySessionStateFrame {
    let mut f = echovr_frame();
    f.timestamp.as_mut().unwrap().seconds += 1;
    let s = f.session.as_mut().unwrap();
    s.orange_team_restart_request = 1;
    s.blue_team_restart_request = 1;
    s.blue_round_score = 1;
    s.orange_round_score = 2;
    s.private_match = true;
    s.tournament_match = true;
    s.left_shoulder_pressed = 0.5;
    s.payload_multiplier = 1.5;
    s.payload_checkpoint = 2;
    s.payload_distance = 3.5;
    s.payload_defenders = 4;
    s.payload_speed = 5.5;
    s.err_code = -6;
    f.player_bones.as_mut().unwrap().err_code = 3;
    f
}

/// Frames carrying bones, a variety of events, the game's own session, and every field.
fn frames() -> Vec<LobbySessionStateFrame> {
    let mut g = generator();
    let mut frames: Vec<_> = (0..12).map(|i| g.frame(i)).collect();
    frames.push(echovr_frame());
    frames.push(full_frame());
    frames
}

/// One frame as a body in each dialect producers and older clients use.
fn bodies(f: &LobbySessionStateFrame) -> Vec<(&'static str, Vec<u8>, &'static str)> {
    let s = schema::schema();
    let frame = s.message(FRAME);
    let json = |d| serde_json::to_vec(&s.rekey_json(frame, &protojson(f), d)).unwrap();
    let ct = "application/json";
    vec![
        ("json-names", synth::to_json(f), ct),
        ("proto-names", synth::to_proto_names_json(f), ct),
        ("lower-camel", json(Dialect::LowerCamel), ct),
        ("legacy", json(Dialect::Legacy), ct),
        ("protobuf", synth::to_protobuf(f), "application/x-protobuf"),
    ]
}

/// The schema facts (frame-schema.md): every `engine.v1` field's JSON name is its snake_case
/// proto name, except these fused or capitalised keys of the game's `/session` JSON.
#[test]
fn engine_json_names_are_the_proto_names_but_the_fused_ones() {
    const FUSED: &[(&str, &str, &str)] = &[
        ("SessionResponse", "session_id", "sessionid"),
        ("SessionResponse", "session_ip", "sessionip"),
        ("TeamMember", "weapon", "Weapon"),
        ("TeamMember", "ordnance", "Ordnance"),
        ("TeamMember", "tac_mod", "TacMod"),
        ("TeamMember", "account_number", "userid"),
        ("TeamMember", "display_name", "name"),
        ("TeamMember", "slot_number", "playerid"),
        ("TeamMember", "jersey_number", "number"),
        ("TeamMember", "packet_loss_ratio", "packetlossratio"),
        ("TeamMember", "is_stunned", "stunned"),
        ("TeamMember", "is_invulnerable", "invulnerable"),
        ("TeamMember", "left_holding_onto", "holding_left"),
        ("TeamMember", "right_holding_onto", "holding_right"),
        ("TeamMember", "is_blocking", "blocking"),
        ("TeamMember", "has_possession", "possession"),
        ("TeamMember", "left_hand", "lhand"),
        ("TeamMember", "right_hand", "rhand"),
        ("Team", "team_name", "team"),
        ("Team", "has_possession", "possession"),
        ("UserBones", "player_index", "playerid"),
    ];
    let s = schema::schema();
    let mut fields = 0;
    let mut fused = Vec::new();
    for m in s.messages("engine.v1") {
        let short = m.full_name.trim_start_matches("engine.v1.");
        for f in m.fields {
            fields += 1;
            if f.json_name != f.name {
                fused.push((short, f.name, f.json_name));
            }
        }
    }
    println!(
        "{fields} engine.v1 fields, {} with a fused JSON name",
        fused.len()
    );
    fused.sort();
    let mut want = FUSED.to_vec();
    want.sort();
    assert_eq!(fused, want);
}

#[test]
fn the_strict_check_catches_the_previous_output() {
    // The previous version's GET output (frozen in the fixture) fails the check, key by key.
    let s = schema::schema();
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/frame_legacy_camel.json"
    );
    let old: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let bad = s.non_json_name_keys(s.message(FRAME), &old);
    println!(
        "{} keys of the previous output are not schema JSON names",
        bad.len()
    );
    assert!(
        bad.iter().any(|k| k.ends_with(".session.gameClockDisplay")),
        "{bad:?}"
    );
    assert!(
        bad.iter().any(|k| k.ends_with(".stats.possessionTime")),
        "{bad:?}"
    );
    // Renamed to the schema's names, the same document passes.
    let renamed = s.rekey_json(s.message(FRAME), &old, Dialect::JsonName);
    assert_eq!(
        s.non_json_name_keys(s.message(FRAME), &renamed),
        Vec::<String>::new()
    );
}

#[test]
fn the_dialects_really_differ() {
    // Guards the tests below: each JSON dialect spells the same frame with other keys.
    let f = echovr_frame();
    let b = bodies(&f);
    let text = |i: usize| String::from_utf8(b[i].1.clone()).unwrap();
    let has = |i: usize, key: &str| text(i).contains(&format!("\"{key}\":"));
    for (i, present, absent) in [
        (
            0,
            ["game_clock_display", "sessionid", "user_bones", "lhand"],
            ["gameClockDisplay", "session_id", "userBones", "left_hand"],
        ),
        (
            1,
            [
                "game_clock_display",
                "session_id",
                "user_bones",
                "left_hand",
            ],
            ["gameClockDisplay", "sessionid", "userBones", "lhand"],
        ),
        (
            2,
            ["gameClockDisplay", "sessionId", "userBones", "leftHand"],
            ["game_clock_display", "sessionid", "user_bones", "lhand"],
        ),
        (
            3,
            ["gameClockDisplay", "sessionid", "userBones", "lhand"],
            ["game_clock_display", "sessionId", "user_bones", "leftHand"],
        ),
    ] {
        for k in present {
            assert!(has(i, k), "{}: {k} missing", b[i].0);
        }
        for k in absent {
            assert!(!has(i, k), "{}: {k} present", b[i].0);
        }
    }
}

/// The strict check over the service's own rendering (no server): 200 frames, every event
/// kind, and every field of every `engine.v1` message must have been judged.
#[test]
fn rendered_data_uses_only_schema_json_names() {
    let s = schema::schema();
    let frame_msg = s.message(FRAME);
    let mut g = generator();
    let mut check = Check::default();
    let node = NodeId::parse("n").unwrap();
    for f in (0..200).map(|i| g.frame(i)).chain([full_frame()]) {
        let d = frame::decode(&synth::to_protobuf(&f), Encoding::Protobuf).unwrap();
        let doc = EventDocument::build(&d, &node, None, SystemTime::now()).unwrap();
        let mut out = Vec::new();
        frame::render_event_json(&frame::StoredEvent(doc.bson), &mut out).unwrap();
        let v: Value = serde_json::from_slice(&out).unwrap();
        s.check_keys(frame_msg, &v["data"], &mut check);
    }
    println!(
        "judged {} keys over {} distinct fields",
        check.keys,
        check.fields.len()
    );
    assert!(
        check.bad.is_empty(),
        "not schema JSON names: {:?}",
        &check.bad[..check.bad.len().min(20)]
    );
    let mut unseen = Vec::new();
    for m in s.messages("engine.v1") {
        for f in m.fields {
            let name = format!("{}.{}", m.full_name, f.name);
            if !check.fields.contains(&name) {
                unseen.push(name);
            }
        }
    }
    assert!(unseen.is_empty(), "the check never saw {unseen:?}");
}

/// GET's `data` as a frame (comparing JSON trees would trip over f32 digits: `to_value` widens
/// them, the service prints their shortest form).
fn decoded(data: &Value) -> LobbySessionStateFrame {
    serde_json::from_value(data.clone()).expect("GET data is a frame")
}

async fn post(app: &TestApp, body: Vec<u8>, content_type: &str, node: &str) -> String {
    let resp = app.post(body, content_type, &[("x-node-id", node)]).await;
    let status = resp.status();
    let text = resp.text().await.unwrap();
    assert_eq!(status, 200, "POST as node {node}: {text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    v["match_id"].as_str().unwrap().to_owned()
}

async fn every_dialect_reads_back_in_schema_json_names(backend: Backend) {
    let app = spawn_app_with(backend, |_| {}).await;
    let s = schema::schema();
    let frame_msg = s.message(FRAME);
    let frames = frames();
    let dialects: Vec<_> = bodies(&frames[0]).iter().map(|b| b.0).collect();
    for (k, dialect) in dialects.iter().enumerate() {
        // One node per dialect, so each dialect's frames are stored (not duplicates).
        let mut match_id = String::new();
        for f in &frames {
            let (_, body, ct) = bodies(f).swap_remove(k);
            match_id = post(&app, body, ct, dialect).await;
        }
        let events = app.events(&match_id).await;
        assert_eq!(events.len(), frames.len(), "{dialect}");
        let mut check = Check::default();
        for (event, f) in events.iter().zip(&frames) {
            s.check_keys(frame_msg, &event["data"], &mut check);
            assert_eq!(
                &decoded(&event["data"]),
                f,
                "{dialect}: served back as posted"
            );
        }
        println!(
            "{dialect}: {} frames, {} keys judged over {} fields, {} not schema JSON names",
            events.len(),
            check.keys,
            check.fields.len(),
            check.bad.len()
        );
        assert!(
            check.bad.is_empty(),
            "{dialect}: {:?}",
            &check.bad[..check.bad.len().min(20)]
        );
    }
    app.stop().await;
}

async fn a_frame_in_any_dialect_gets_the_same_id(backend: Backend) {
    let app = spawn_app_with(backend, |_| {}).await;
    let frames = frames();
    let mut match_id = String::new();
    let mut posts = 0;
    for f in &frames {
        for (_, body, ct) in bodies(f) {
            match_id = post(&app, body, ct, "same").await;
            posts += 1;
        }
    }
    let duplicates = app
        .stats
        .frames_duplicate
        .load(std::sync::atomic::Ordering::Relaxed);
    let stored = app
        .stats
        .frames_stored
        .load(std::sync::atomic::Ordering::Relaxed);
    println!(
        "{posts} posts of {} frames: {stored} stored, {duplicates} duplicates",
        frames.len()
    );
    assert_eq!(
        stored,
        frames.len() as u64,
        "one document per frame, whatever the dialect"
    );
    assert_eq!(duplicates, (posts - frames.len()) as u64);
    assert_eq!(app.events(&match_id).await.len(), frames.len());
    app.stop().await;
}

/// A document as the previous version stored it: the same `_id`, `match_id` and dates, and
/// `data` under the legacy schema's keys (`gameClockDisplay`, `userBones`, `pausedState`).
fn legacy_document(f: &LobbySessionStateFrame, node: &str) -> EventDocument {
    let s = schema::schema();
    let d = frame::decode(&synth::to_protobuf(f), Encoding::Protobuf).unwrap();
    let doc =
        EventDocument::build(&d, &NodeId::parse(node).unwrap(), None, SystemTime::now()).unwrap();
    let mut top: Document = doc.bson.to_document().unwrap();
    let data = top.get_document("data").unwrap().clone();
    let legacy = s.rekey_bson(s.message(FRAME), &data, Dialect::Legacy);
    top.insert("data", Bson::Document(legacy));
    let bson = RawDocumentBuf::from_document(&top).unwrap();
    EventDocument { bson, ..doc }
}

async fn documents_stored_under_the_old_keys_read_back_in_the_new(backend: Backend) {
    let frames = frames();
    let docs: Vec<_> = frames.iter().map(|f| legacy_document(f, "old")).collect();
    let text = format!("{:?}", docs[13].bson.to_document().unwrap());
    for (old, new) in [
        ("gameClockDisplay", "game_clock_display"),
        ("userBones", "user_bones"),
        ("pausedState", "paused_state"),
    ] {
        assert!(
            text.contains(old) && !text.contains(new),
            "legacy document has {old}, not {new}"
        );
    }

    // Straight into the store, as the previous version left it, before the service starts.
    let dir = tempfile::tempdir().unwrap();
    let database = unique_name("se_legacy");
    match backend {
        Backend::Mongo => {
            let client = mongodb::Client::with_uri_str(common::mongo_uri())
                .await
                .unwrap();
            let coll = client
                .database(&database)
                .collection::<RawDocumentBuf>(&common::test_config().collection_name);
            coll.insert_many(docs.iter().map(|d| d.bson.clone()))
                .await
                .unwrap();
        }
        Backend::Embedded => {
            let store = EmbeddedStore::open(&dir.path().join("data")).unwrap();
            let outcomes = store.write_batch(&docs).await.unwrap();
            assert!(
                outcomes
                    .iter()
                    .all(|o| *o == session_events::store::WriteOutcome::Stored)
            );
            store.close().await;
        }
    }
    let app = spawn_app_with(backend, |c| {
        c.database_name = database.clone();
        c.data_dir = dir.path().join("data");
    })
    .await;

    let s = schema::schema();
    let frame_msg = s.message(FRAME);
    let match_id = docs[0].match_id.as_str().to_owned();
    let events = app.events(&match_id).await;
    assert_eq!(events.len(), frames.len());
    let mut check = Check::default();
    for (event, f) in events.iter().zip(&frames) {
        s.check_keys(frame_msg, &event["data"], &mut check);
        assert_eq!(
            &decoded(&event["data"]),
            f,
            "an old document reads back as its frame"
        );
    }
    println!(
        "{} old-key documents read back: {} keys judged, {} not schema JSON names",
        events.len(),
        check.keys,
        check.bad.len()
    );
    assert!(
        check.bad.is_empty(),
        "{:?}",
        &check.bad[..check.bad.len().min(20)]
    );

    // Content ids did not change: the same frames posted now are duplicates of the old documents.
    for f in &frames {
        assert_eq!(
            post(&app, synth::to_json(f), "application/json", "old").await,
            match_id
        );
    }
    let duplicates = app
        .stats
        .frames_duplicate
        .load(std::sync::atomic::Ordering::Relaxed);
    println!("re-posted {} frames: {duplicates} duplicates", frames.len());
    assert_eq!(duplicates, frames.len() as u64);
    assert_eq!(app.events(&match_id).await.len(), frames.len());
    app.stop().await;
    drop(dir);
}

/// `want` (the game's JSON) and `got` (served back) hold the same keys and values. protojson
/// omits default values (0, false, "", empty lists) and writes 64-bit integers as strings;
/// nothing else may differ.
fn same(want: &Value, got: Option<&Value>, path: &str, compared: &mut usize) {
    let is_default = |v: &Value| match v {
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::Bool(b) => !b,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    };
    *compared += 1;
    let Some(got) = got else {
        assert!(is_default(want), "{path}: {want} missing from GET");
        return;
    };
    match (want, got) {
        (Value::Object(w), Value::Object(g)) => {
            for (k, v) in w {
                same(v, g.get(k), &format!("{path}.{k}"), compared);
            }
            for k in g.keys() {
                assert!(
                    w.contains_key(k),
                    "{path}.{k}: served but the game never sent it"
                );
            }
        }
        (Value::Array(w), Value::Array(g)) => {
            assert_eq!(w.len(), g.len(), "{path}");
            for (i, (w, g)) in w.iter().zip(g).enumerate() {
                same(w, Some(g), &format!("{path}[{i}]"), compared);
            }
        }
        (Value::Number(w), Value::String(g)) if w.is_u64() => {
            assert_eq!(&w.to_string(), g, "{path}: a 64-bit integer, as a string");
        }
        (Value::Number(w), Value::Number(g)) => {
            assert_eq!(w.as_f64(), g.as_f64(), "{path}");
        }
        (w, g) => assert_eq!(w, g, "{path}"),
    }
}

async fn an_echovr_session_comes_back_key_for_key(backend: Backend) {
    let app = spawn_app_with(backend, |_| {}).await;
    let session = echovr_session();
    let body = json!({
        "frameIndex": 1,
        "timestamp": "2025-06-01T18:00:02Z",
        "events": [{"roundStarted": {"roundNumber": 1}}],
        "session": session,
    });
    let match_id = post(
        &app,
        serde_json::to_vec(&body).unwrap(),
        "application/json",
        "game",
    )
    .await;
    let events = app.events(&match_id).await;
    assert_eq!(events.len(), 1);
    let mut compared = 0;
    same(
        &session,
        Some(&events[0]["data"]["session"]),
        "session",
        &mut compared,
    );
    println!("{compared} keys and values of the game's /session compared");
    app.stop().await;
}
