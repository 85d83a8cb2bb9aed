//! Decoding, validation and the stored document, against synthetic and hand-written frames.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prost::Message;
use serde_json::{Value, json};

use super::*;
use crate::ids::{IdError, NodeId, UserId};
use crate::proto::telemetry::v1::lobby_session_event::Event;
use crate::proto::telemetry::v1::{LobbySessionEvent, PlayerJoined, Role};
use crate::synth::{self, MatchGenerator, Profile};

const SESSION: &str = "892E23E2-8272-4B07-85E8-5E291AC85F93";
const SESSION_LOWER: &str = "892e23e2-8272-4b07-85e8-5e291ac85f93";

fn generator(profile: Profile) -> MatchGenerator {
    MatchGenerator::new(uuid::Uuid::parse_str(SESSION).unwrap(), 42, profile)
}

fn sample() -> LobbySessionStateFrame {
    generator(Profile::Session).frame(20)
}

fn json(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap()
}

fn decode_json(body: &[u8]) -> Result<DecodedFrame, FrameError> {
    decode(body, Encoding::Json)
}

fn ok(body: &[u8]) -> DecodedFrame {
    decode_json(body).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(body)))
}

fn err(body: &[u8]) -> FrameError {
    match decode_json(body) {
        Ok(d) => panic!("accepted {}: {:?}", String::from_utf8_lossy(body), d.frame),
        Err(e) => e,
    }
}

/// The smallest valid frame, plus `extra` merged into it (top level).
fn minimal(extra: Value) -> Value {
    let mut v = json!({"frameIndex": 1, "session": {"sessionid": SESSION}});
    for (k, x) in extra.as_object().unwrap() {
        v[k] = x.clone();
    }
    v
}

/// A minimal frame carrying one event.
fn with_event(event: Value) -> Value {
    minimal(json!({ "events": [event] }))
}

fn only_event(body: &[u8]) -> Event {
    let mut frame = ok(body).frame;
    assert_eq!(frame.events.len(), 1);
    frame.events.remove(0).event.expect("event set")
}

// ---------------------------------------------------------------------------------------------
// The three encodings and mixed JSON names

#[test]
fn json_names_proto_names_and_protobuf_decode_to_the_same_frame() {
    for profile in [Profile::Session, Profile::SessionWithBones] {
        let mut g = generator(profile);
        for i in [0, 1, 3, 5, 17, 20, 57, 99] {
            let frame = g.frame(i);
            let a = ok(&synth::to_json(&frame));
            let b = ok(&synth::to_proto_names_json(&frame));
            let c = decode(&synth::to_protobuf(&frame), Encoding::Protobuf).unwrap();
            assert_eq!(a.frame, frame);
            assert_eq!(b.frame, frame);
            assert_eq!(c.frame, frame);
            assert_eq!(
                (a.unknown_fields, b.unknown_fields, c.unknown_fields),
                (0, 0, 0)
            );
            assert_eq!(a.session, c.session);
        }
    }
}

#[test]
fn json_and_proto_names_differ_as_text() {
    // Guards the test above: the two JSON forms must really use different keys.
    let frame = generator(Profile::SessionWithBones).frame(20);
    let a = String::from_utf8(synth::to_json(&frame)).unwrap();
    let b = String::from_utf8(synth::to_proto_names_json(&frame)).unwrap();
    for (json_name, proto_name) in [
        ("\"frameIndex\"", "\"frame_index\""),
        ("\"sessionid\"", "\"session_id\""),
        ("\"playerBones\"", "\"player_bones\""),
        ("\"userid\"", "\"account_number\""),
        ("\"lhand\"", "\"left_hand\""),
        ("\"playerJoined\"", "\"player_joined\""),
    ] {
        assert!(
            a.contains(json_name) && !a.contains(proto_name),
            "{json_name}"
        );
        assert!(
            b.contains(proto_name) && !b.contains(json_name),
            "{proto_name}"
        );
    }
}

#[test]
fn mixed_json_and_proto_names_decode_to_the_same_frame() {
    let frame = generator(Profile::SessionWithBones).frame(20);
    let json_names = serde_json::to_value(&frame).unwrap();
    let proto_names = synth::to_proto_names_value(&frame);
    let mut mixed = json_names.clone();
    let top = mixed.as_object_mut().unwrap();
    top.remove("frameIndex");
    top.insert("frame_index".into(), proto_names["frame_index"].clone());
    top.remove("playerBones");
    top.insert("player_bones".into(), proto_names["player_bones"].clone());
    // One team in proto names, one in JSON names; inside a JSON-name player, some proto names.
    mixed["session"]["teams"][1] = proto_names["session"]["teams"][1].clone();
    let player = mixed["session"]["teams"][0]["players"][2]
        .as_object_mut()
        .unwrap();
    for (from, to) in [
        ("userid", "account_number"),
        ("lhand", "left_hand"),
        ("name", "display_name"),
    ] {
        let v = player.remove(from).unwrap();
        player.insert(to.into(), v);
    }
    let session = mixed["session"].as_object_mut().unwrap();
    let id = session.remove("sessionid").unwrap();
    session.insert("session_id".into(), id);
    // And the lowerCamelCase this service emitted before every engine.v1 field pinned its
    // json_name (older clients echo it back).
    let clock = session.remove("game_clock_display").unwrap();
    session.insert("gameClockDisplay".into(), clock);
    let status = session.remove("game_status").unwrap();
    session.insert("gameStatus".into(), status);
    mixed["events"][0] = proto_names["events"][0].clone();

    let decoded = ok(&json(&mixed));
    assert_eq!(decoded.frame, frame);
    assert_eq!(decoded.unknown_fields, 0);
}

#[test]
fn a_field_given_under_both_names_is_refused() {
    let body = json(&json!({"frameIndex": 1, "frame_index": 2, "session": {"sessionid": SESSION}}));
    assert!(matches!(err(&body), FrameError::Schema(_)));
    let body = json(&minimal(
        json!({"session": {"sessionid": SESSION, "session_id": SESSION}}),
    ));
    assert!(matches!(err(&body), FrameError::Schema(_)));
}

#[test]
fn duplicate_keys_are_refused() {
    let cases = [
        format!(r#"{{"frameIndex":1,"frameIndex":2,"session":{{"sessionid":"{SESSION}"}}}}"#),
        format!(r#"{{"session":{{"sessionid":"{SESSION}","gameStatus":"a","gameStatus":"b"}}}}"#),
        format!(
            r#"{{"session":{{"sessionid":"{SESSION}"}},"events":[{{"discPossessionChanged":{{"previousSlot":1,"previousPlayerSlot":2}}}}]}}"#
        ),
        format!(
            r#"{{"session":{{"sessionid":"{SESSION}"}},"events":[{{"roundStarted":{{}},"roundEnded":{{}}}}]}}"#
        ),
    ];
    for body in cases {
        let e = err(body.as_bytes());
        assert!(matches!(e, FrameError::Schema(_)), "{body}: {e}");
        assert_eq!(e.reason(), "schema");
    }
}

// ---------------------------------------------------------------------------------------------
// 64-bit integers

#[test]
fn sixty_four_bit_ints_accepted_as_strings_and_numbers() {
    let big = u64::MAX; // not representable as a double
    for (account, rules) in [
        (json!(big.to_string()), json!("1710015000")),
        (json!(big), json!(1_710_015_000u64)),
    ] {
        let body = minimal(json!({
            "session": {
                "sessionid": SESSION,
                "rules_changed_at": rules,
                "teams": [{"players": [{"userid": account, "playerid": 1}]}]
            }
        }));
        let frame = ok(&json(&body)).frame;
        let session = frame.session.as_ref().unwrap();
        assert_eq!(session.rules_changed_at, 1_710_015_000);
        assert_eq!(session.teams[0].players[0].account_number, big);

        // Emitted as strings, whatever the input was.
        let out = serde_json::to_value(&frame).unwrap();
        assert_eq!(out["session"]["rules_changed_at"], json!("1710015000"));
        assert_eq!(
            out["session"]["teams"][0]["players"][0]["userid"],
            json!(big.to_string())
        );
    }
    // The proto name works too, and 2^53 + 1 survives (a double would round it).
    let body = minimal(json!({
        "session": {"sessionid": SESSION, "teams": [{"players": [{"account_number": 9_007_199_254_740_993u64}]}]}
    }));
    let frame = ok(&json(&body)).frame;
    assert_eq!(
        frame.session.unwrap().teams[0].players[0].account_number,
        9_007_199_254_740_993
    );
}

#[test]
fn sixty_four_bit_ints_out_of_range_or_fractional_are_refused() {
    for bad in [
        json!(-1),
        json!("-1"),
        json!(1.5),
        json!("18446744073709551616"),
        json!("12ab"),
    ] {
        let body = minimal(json!({"session": {"sessionid": SESSION, "rulesChangedAt": bad}}));
        let e = err(&json(&body));
        assert!(matches!(e, FrameError::Schema(_)), "{bad}: {e}");
    }
}

// ---------------------------------------------------------------------------------------------
// Role and DiscPossessionChanged: both producer generations

#[test]
fn role_accepts_new_and_old_names_and_numbers() {
    for role in [json!("ROLE_BLUE_TEAM"), json!("BLUE_TEAM"), json!(1)] {
        let body = json(&with_event(json!({"playerJoined": {"role": role}})));
        let frame = ok(&body).frame;
        let Some(Event::PlayerJoined(j)) = &frame.events[0].event else {
            panic!("{role}: not a PlayerJoined")
        };
        assert_eq!(j.role, Role::BlueTeam as i32, "{role}");
        let out = serde_json::to_value(&frame).unwrap();
        assert_eq!(out["events"][0]["playerJoined"]["role"], "ROLE_BLUE_TEAM");
    }
    for (name, role) in [
        ("ORANGE_TEAM", Role::OrangeTeam),
        ("SPECTATOR", Role::Spectator),
        ("SOCIAL_PARTICIPANT", Role::SocialParticipant),
        ("MODERATOR", Role::Moderator),
        ("ROLE_MODERATOR", Role::Moderator),
        ("ROLE_UNSPECIFIED", Role::Unspecified),
    ] {
        let body = json(&with_event(json!({"matchEnded": {"winningTeam": name}})));
        let Event::MatchEnded(m) = only_event(&body) else {
            panic!("not MatchEnded")
        };
        assert_eq!(m.winning_team, role as i32, "{name}");
    }
}

#[test]
fn role_refuses_unknown_names_and_numbers() {
    for bad in [
        json!("PURPLE_TEAM"),
        json!("role_blue_team"),
        json!(9),
        json!(-1),
        json!(1.5),
        json!(true),
    ] {
        let body = json(&with_event(json!({"playerJoined": {"role": bad}})));
        let e = err(&body);
        assert!(matches!(e, FrameError::Schema(_)), "{bad}: {e}");
    }
}

#[test]
fn disc_possession_previous_slot_accepts_every_spelling() {
    for key in [
        "previousPlayerSlot",
        "previous_player_slot",
        "previousSlot",
        "previous_slot",
    ] {
        for player_key in ["playerSlot", "player_slot"] {
            let body = json(&with_event(
                json!({"discPossessionChanged": {player_key: 4, key: -1}}),
            ));
            let frame = ok(&body).frame;
            let Some(Event::DiscPossessionChanged(d)) = &frame.events[0].event else {
                panic!("{key}: not DiscPossessionChanged")
            };
            assert_eq!((d.player_slot, d.previous_player_slot), (4, -1), "{key}");
            let out = serde_json::to_value(&frame).unwrap();
            assert_eq!(
                out["events"][0]["discPossessionChanged"],
                json!({"playerSlot": 4, "previousPlayerSlot": -1}),
                "{key}"
            );
        }
    }
    // Proto-style name in proto-names form of the event container too, and ints as strings.
    let body = json(&with_event(
        json!({"disc_possession_changed": {"player_slot": "7", "previous_slot": "2"}}),
    ));
    let Event::DiscPossessionChanged(d) = only_event(&body) else {
        panic!("not DiscPossessionChanged")
    };
    assert_eq!((d.player_slot, d.previous_player_slot), (7, 2));
}

#[test]
fn disc_possession_wrong_types_are_schema_errors() {
    for bad in [
        json!("x"),
        json!([1]),
        json!({"a": 1}),
        json!(2_147_483_648u64),
    ] {
        let body = json(&with_event(
            json!({"discPossessionChanged": {"previousSlot": bad}}),
        ));
        assert!(matches!(err(&body), FrameError::Schema(_)), "{bad}");
    }
}

#[test]
fn old_generation_fixture_decodes() {
    let body = include_bytes!("../../tests/fixtures/old_generation.json");
    let decoded = ok(body);
    assert_eq!(decoded.unknown_fields, 0);
    let f = &decoded.frame;
    assert_eq!(f.frame_index, 4711);
    assert_eq!(
        decoded.session.uuid(),
        uuid::Uuid::parse_str("a1b2c3d4-0000-4e5f-8a9b-0123456789ab").unwrap()
    );
    let events: Vec<&Event> = f.events.iter().filter_map(|e| e.event.as_ref()).collect();
    assert_eq!(events.len(), 7);
    let Event::PlayerJoined(j) = events[0] else {
        panic!()
    };
    assert_eq!(j.role, Role::BlueTeam as i32);
    let p = j.player.as_ref().unwrap();
    assert_eq!(
        (p.slot_number, p.account_number),
        (3, 3_963_667_097_037_078)
    );
    let Event::DiscPossessionChanged(d) = events[1] else {
        panic!()
    };
    assert_eq!((d.player_slot, d.previous_player_slot), (3, -1));
    let Event::PlayerSwitchedTeam(s) = events[2] else {
        panic!()
    };
    assert_eq!(
        (s.new_role, s.prev_role),
        (Role::Spectator as i32, Role::OrangeTeam as i32)
    );
    let Event::EmotePlayed(e) = events[3] else {
        panic!()
    };
    assert_eq!((e.player_slot, e.emote), (3, 0));
    let Event::PlayerSteal(s) = events[4] else {
        panic!()
    };
    assert_eq!((s.total_steals, s.victim_player_slot), (2, 0));
    let Event::RoundEnded(r) = events[5] else {
        panic!()
    };
    assert_eq!(r.winning_team, Role::OrangeTeam as i32);
    let session = f.session.as_ref().unwrap();
    assert_eq!(session.rules_changed_at, 1_710_015_000);
    assert_eq!(
        session.teams[0].players[0].account_number,
        3_963_667_097_037_078
    );
    assert!(session.teams[0].has_possession);

    // Served back in the newest names.
    let out = String::from_utf8(synth::to_json(f)).unwrap();
    assert!(out.contains("\"previousPlayerSlot\":-1"));
    assert!(out.contains("\"ROLE_BLUE_TEAM\"") && out.contains("\"ROLE_ORANGE_TEAM\""));
    assert!(!out.contains("previousSlot") && !out.contains("\"BLUE_TEAM\""));
}

#[test]
fn old_generation_with_proto_names_decodes() {
    let body = json(&with_event(json!({
        "player_switched_team": {"player_slot": 1, "new_role": "ORANGE_TEAM", "prev_role": "BLUE_TEAM"}
    })));
    let Event::PlayerSwitchedTeam(s) = only_event(&body) else {
        panic!()
    };
    assert_eq!(
        (s.new_role, s.prev_role),
        (Role::OrangeTeam as i32, Role::BlueTeam as i32)
    );
}

// ---------------------------------------------------------------------------------------------
// Unknown fields

#[test]
fn unknown_fields_are_ignored_and_counted() {
    let frame = sample();
    let mut v = serde_json::to_value(&frame).unwrap();
    let mut added = 0;
    let mut add = |obj: &mut Value, key: &str, value: Value| {
        assert!(obj.get(key).is_none());
        obj[key] = value;
        added += 1;
    };
    // Unknown values of every shape, including ones holding known field names.
    add(
        &mut v,
        "topLevelExtra",
        json!({"session": {"sessionid": "x"}, "n": [1, 2]}),
    );
    add(&mut v, "capture_note", json!("from a newer producer"));
    add(
        &mut v["session"],
        "newSessionField",
        json!([{"playerid": 1}]),
    );
    add(&mut v["session"]["disc"], "spin", json!(3.5));
    add(
        &mut v["session"]["teams"][0]["players"][1],
        "voice_chat",
        json!(true),
    );
    add(&mut v["session"]["teams"][1]["stats"], "dunks", json!(null));
    add(
        &mut v["events"][0]["playerJoined"],
        "joinedVia",
        json!("invite"),
    );
    add(
        &mut v["events"][0]["playerJoined"]["player"],
        "hat",
        json!("tophat"),
    );
    let events = v["events"].as_array_mut().unwrap();
    events.push(json!({"discPossessionChanged": {"playerSlot": 2, "futureField": 1}}));
    events.push(json!({"playerTeleported": {"playerSlot": 2}}));
    events.push(json!({"roundStarted": {"roundNumber": 3, "reason": "overtime"}}));
    added += 3;

    let decoded = ok(&json(&v));
    assert_eq!(decoded.unknown_fields, added);
    let mut want = frame;
    want.events.push(LobbySessionEvent {
        event: Some(Event::DiscPossessionChanged(
            crate::proto::telemetry::v1::DiscPossessionChanged {
                player_slot: 2,
                previous_player_slot: 0,
            },
        )),
    });
    // An event holding only an unknown kind decodes as an event with nothing set.
    want.events.push(LobbySessionEvent { event: None });
    want.events.push(LobbySessionEvent {
        event: Some(Event::RoundStarted(
            crate::proto::telemetry::v1::RoundStarted { round_number: 3 },
        )),
    });
    assert_eq!(decoded.frame, want);
}

#[test]
fn a_known_frame_has_no_unknown_fields() {
    assert_eq!(ok(&json(&minimal(json!({})))).unknown_fields, 0);
    assert_eq!(ok(&synth::to_json(&sample())).unknown_fields, 0);
}

// ---------------------------------------------------------------------------------------------
// Rejections

#[test]
fn bytes_after_the_json_value_are_refused() {
    let good = synth::to_json(&sample());
    assert!(
        decode_json(&[&good[..], b" \n\t"].concat()).is_ok(),
        "trailing whitespace is fine"
    );
    for tail in [&b"x"[..], b"}", b",", b"\0", b" // comment"] {
        let e = err(&[&good[..], tail].concat());
        assert!(matches!(e, FrameError::Syntax(_)), "{tail:?}: {e}");
        assert_eq!(e.reason(), "bad_json");
    }
}

#[test]
fn a_second_json_value_is_refused() {
    let good = synth::to_json(&sample());
    for body in [
        [&good[..], &good[..]].concat(),
        [&good[..], b"\n", &good[..]].concat(),
        [&good[..], b" 1"].concat(),
    ] {
        let e = err(&body);
        assert!(matches!(e, FrameError::Syntax(_)), "{e}");
    }
}

#[test]
fn malformed_json_is_a_syntax_error() {
    let good = synth::to_json(&sample());
    let cases: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"{".to_vec(),
        good[..good.len() / 2].to_vec(),
        b"{frameIndex: 1}".to_vec(),
        b"{\"frameIndex\": 1,}".to_vec(),
        format!(r#"{{"session":{{"sessionid":"{SESSION}","gameClock":NaN}}}}"#).into_bytes(),
        b"\xef\xbb\xbf{}".to_vec(),
    ];
    for body in cases {
        let e = err(&body);
        assert!(
            matches!(e, FrameError::Syntax(_)),
            "{}: {e}",
            String::from_utf8_lossy(&body)
        );
        assert_eq!(e.reason(), "bad_json");
    }
}

#[test]
fn wrong_types_are_schema_errors() {
    let cases = [
        json!({"frameIndex": "abc", "session": {"sessionid": SESSION}}),
        json!({"frameIndex": -1, "session": {"sessionid": SESSION}}),
        json!({"frameIndex": true, "session": {"sessionid": SESSION}}),
        json!({"frameIndex": 4_294_967_296u64, "session": {"sessionid": SESSION}}),
        json!({"session": {"sessionid": SESSION, "teams": {}}}),
        json!({"session": {"sessionid": SESSION, "teams": [{"players": {"name": "x"}}]}}),
        json!({"session": {"sessionid": SESSION, "disc": {"position": 1.0}}}),
        json!({"session": {"sessionid": SESSION, "disc": []}}),
        json!({"session": {"sessionid": SESSION, "gameStatus": 3}}),
        json!({"session": {"sessionid": SESSION, "privateMatch": "yes"}}),
        json!({"session": {"sessionid": 12}}),
        json!({"session": "892E23E2-8272-4B07-85E8-5E291AC85F93"}),
        json!({"session": {"sessionid": SESSION}, "events": {}}),
        json!({"session": {"sessionid": SESSION}, "timestamp": "yesterday"}),
        json!({"session": {"sessionid": SESSION}, "timestamp": 1_700_000_000}),
        json!({"session": {"sessionid": SESSION}, "events": [{"genericEvent": {"data": {"k": 1}}}]}),
        json!([]),
        json!(null),
        json!("frame"),
    ];
    for body in cases {
        let e = err(&json(&body));
        assert!(matches!(e, FrameError::Schema(_)), "{body}: {e}");
        assert_eq!(e.reason(), "schema");
    }
}

#[test]
fn numbers_as_strings_are_accepted_where_protojson_allows() {
    let body = minimal(
        json!({"frameIndex": "17", "session": {"sessionid": SESSION, "gameClock": "12.5", "bluePoints": "3"}}),
    );
    let f = ok(&json(&body)).frame;
    assert_eq!(f.frame_index, 17);
    let s = f.session.unwrap();
    assert_eq!((s.game_clock, s.blue_points), (12.5, 3));
}

#[test]
fn missing_session_is_refused() {
    for body in [
        json!({"frameIndex": 1}),
        json!({}),
        json!({"session": null}),
    ] {
        let e = err(&json(&body));
        assert!(matches!(e, FrameError::MissingSession), "{body}: {e}");
        assert_eq!(e.reason(), "schema");
    }
    let mut f = sample();
    f.session = None;
    let e = decode(&f.encode_to_vec(), Encoding::Protobuf).unwrap_err();
    assert!(matches!(e, FrameError::MissingSession));
}

#[test]
fn bad_session_ids_are_refused() {
    let cases = [
        (
            "00000000-0000-0000-0000-000000000000",
            IdError::NilSessionId,
        ),
        ("00000000000000000000000000000000", IdError::NilSessionId),
        ("not-a-uuid", IdError::BadSessionId),
        ("", IdError::BadSessionId),
        ("892E23E2-8272-4B07-85E8-5E291AC85F9", IdError::BadSessionId),
        (
            "892E23E2-8272-4B07-85E8-5E291AC85F93.node",
            IdError::BadSessionId,
        ),
    ];
    for (id, want) in cases {
        let e = err(&json(&json!({"session": {"sessionid": id}})));
        match &e {
            FrameError::SessionId(got) => assert_eq!(got, &want, "{id}"),
            other => panic!("{id}: {other}"),
        }
        assert_eq!(e.reason(), "bad_id");
    }
    // A session without a session id at all.
    let e = err(&json(&json!({"session": {"gameStatus": "playing"}})));
    assert!(
        matches!(e, FrameError::SessionId(IdError::BadSessionId)),
        "{e}"
    );
}

#[test]
fn session_id_spellings_are_lenient() {
    for id in [
        SESSION,
        SESSION_LOWER,
        "892e23e282724b0785e85e291ac85f93",
        "{892E23E2-8272-4B07-85E8-5E291AC85F93}",
        "urn:uuid:892e23e2-8272-4b07-85e8-5e291ac85f93",
    ] {
        let d = ok(&json(&json!({"session": {"session_id": id}})));
        assert_eq!(d.session.uuid().to_string(), SESSION_LOWER, "{id}");
    }
}

#[test]
fn non_finite_numbers_are_refused() {
    let member =
        |field: &str, v: Value| json!({"sessionid": SESSION, "teams": [{"players": [{field: v}]}]});
    let cases = [
        (
            minimal(json!({"session": {"sessionid": SESSION, "gameClock": "NaN"}})),
            "session.game_clock",
        ),
        (
            minimal(json!({"session": {"sessionid": SESSION, "payload_speed": "-Infinity"}})),
            "session.payload_speed",
        ),
        (
            minimal(
                json!({"session": {"sessionid": SESSION, "disc": {"position": [0, "Infinity", 0]}}}),
            ),
            "disc.position",
        ),
        (
            minimal(json!({"session": member("packetlossratio", json!("NaN"))})),
            "player.packetlossratio",
        ),
        (
            minimal(json!({"session": member("velocity", json!([1, 2, "NaN"]))})),
            "player.velocity",
        ),
        (
            minimal(json!({"session": member("lhand", json!({"pos": ["Infinity"]}))})),
            "player.lhand",
        ),
        (
            minimal(json!({"session": member("stats", json!({"possession_time": "NaN"}))})),
            "player.stats.possession_time",
        ),
        (
            minimal(
                json!({"session": {"sessionid": SESSION, "teams": [{"stats": {"possessionTime": "Infinity"}}]}}),
            ),
            "teams.stats.possession_time",
        ),
        (
            minimal(
                json!({"session": {"sessionid": SESSION}, "playerBones": {"userBones": [{"boneT": [0.5, "NaN"]}]}}),
            ),
            "player_bones.user_bones.bone_t",
        ),
        (
            minimal(
                json!({"session": {"sessionid": SESSION}, "player_bones": {"user_bones": [{"bone_o": ["-Infinity"]}]}}),
            ),
            "player_bones.user_bones.bone_o",
        ),
        // Finite as a double, infinite as the float the field holds.
        (
            minimal(
                json!({"session": {"sessionid": SESSION}, "playerBones": {"userBones": [{"boneT": [1e39]}]}}),
            ),
            "player_bones.user_bones.bone_t",
        ),
        (
            with_event(json!({"discThrown": {"throwDetails": {"armSpeed": "NaN"}}})),
            "last_throw",
        ),
        (
            with_event(json!({"playerJoined": {"player": {"velocity": ["Infinity"]}}})),
            "player.velocity",
        ),
        (
            with_event(json!({"roundPaused": {"pauseState": {"pausedTimer": "NaN"}}})),
            "pause.paused_timer",
        ),
        (
            with_event(json!({"goalScored": {"scoreDetails": {"discSpeed": "Infinity"}}})),
            "last_score.disc_speed",
        ),
    ];
    for (body, field) in cases {
        let e = err(&json(&body));
        match &e {
            FrameError::NonFinite(got) => assert_eq!(*got, field, "{body}"),
            other => panic!("{body}: {other}"),
        }
        assert_eq!(e.reason(), "schema");
    }
}

#[test]
fn non_finite_numbers_in_protobuf_are_refused() {
    let mut f = generator(Profile::SessionWithBones).frame(3);
    f.player_bones.as_mut().unwrap().user_bones[4].bone_o[7] = f32::NAN;
    let e = decode(&f.encode_to_vec(), Encoding::Protobuf).unwrap_err();
    assert!(
        matches!(e, FrameError::NonFinite("player_bones.user_bones.bone_o")),
        "{e}"
    );

    let mut f = sample();
    f.session.as_mut().unwrap().teams[1].players[2]
        .head
        .as_mut()
        .unwrap()
        .up[1] = f64::INFINITY;
    let e = decode(&f.encode_to_vec(), Encoding::Protobuf).unwrap_err();
    assert!(matches!(e, FrameError::NonFinite("player.head")), "{e}");
}

#[test]
fn truncated_or_garbage_protobuf_is_refused() {
    let body = synth::to_protobuf(&sample());
    for cut in [body.len() - 1, body.len() / 2, 3] {
        let e = decode(&body[..cut], Encoding::Protobuf).unwrap_err();
        assert!(matches!(e, FrameError::Protobuf(_)), "cut at {cut}: {e}");
        assert_eq!(e.reason(), "bad_protobuf");
    }
    // A JSON body sent as protobuf.
    let e = decode(&synth::to_json(&sample()), Encoding::Protobuf).unwrap_err();
    assert!(matches!(e, FrameError::Protobuf(_)), "{e}");
}

#[test]
fn errors_say_what_was_wrong() {
    let e = err(&json(&minimal(
        json!({"session": {"sessionid": SESSION, "gameClock": "NaN"}}),
    )));
    assert_eq!(
        e.to_string(),
        "session.game_clock holds a non-finite number (NaN or Infinity)"
    );
    let e = err(br#"{"frameIndex": "abc"}"#);
    assert!(
        e.to_string()
            .starts_with("frame does not match the schema: "),
        "{e}"
    );
    assert_eq!(err(b"{}").to_string(), "frame has no session");
}

/// An enum number outside the schema passes binary decoding, but the stored document cannot be
/// written (pbjson refuses to serialize it): bad input must be a 400 at decode time, never an
/// error later when the document is built (the HTTP layer maps that to a 500).
#[test]
fn protobuf_enum_out_of_range_is_refused_at_decode() {
    let mut f = sample();
    f.events = vec![LobbySessionEvent {
        event: Some(Event::PlayerJoined(PlayerJoined {
            player: None,
            role: 9,
        })),
    }];
    accepted_but_not_storable(&f.encode_to_vec()).unwrap();
}

/// The same for a `Timestamp` chrono cannot represent (negative nanos, or beyond year 9999).
#[test]
fn protobuf_timestamp_out_of_range_is_refused_at_decode() {
    let cases = [
        (1_700_000_000, -1),
        (1_700_000_000, 2_000_000_000),
        (253_402_300_800, 0), // 10000-01-01, past protobuf's range
        (i64::MAX / 2, 0),
    ];
    let failed: Vec<_> = cases
        .into_iter()
        .filter(|&(seconds, nanos)| {
            let mut f = sample();
            f.timestamp = Some(pbjson_types::Timestamp { seconds, nanos });
            accepted_but_not_storable(&f.encode_to_vec()).is_err()
        })
        .collect();
    assert!(failed.is_empty(), "accepted but not storable: {failed:?}");
}

#[test]
fn leap_second_timestamp_round_trips() {
    let body = json(&minimal(json!({"timestamp": "2016-12-31T23:59:60.5Z"})));
    let decoded = ok(&body);
    let doc = EventDocument::build(&decoded, &node("n"), None, at(0)).unwrap();
    let mut out = Vec::new();
    render_event_json(&StoredEvent(doc.bson), &mut out).unwrap();
    let v: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(ok(&json(&v["data"])).frame, decoded.frame);
}

#[test]
fn valid_protobuf_frames_are_storable_and_served_back() {
    // Guards `accepted_but_not_storable`, which the two tests above rely on.
    for profile in [Profile::Session, Profile::SessionWithBones] {
        let f = generator(profile).frame(77);
        accepted_but_not_storable(&f.encode_to_vec()).unwrap();
    }
}

/// `Err` when `decode()` accepts the body but the stored document cannot be built from it, or
/// what GET would serve from it is not accepted back by POST.
fn accepted_but_not_storable(body: &[u8]) -> Result<(), String> {
    let Ok(decoded) = decode(body, Encoding::Protobuf) else {
        return Ok(());
    };
    let node = NodeId::parse("node1").unwrap();
    let doc = EventDocument::build(&decoded, &node, None, SystemTime::now())
        .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    render_event_json(&StoredEvent(doc.bson), &mut out).map_err(|e| e.to_string())?;
    let served: Value = serde_json::from_slice(&out).map_err(|e| e.to_string())?;
    decode_json(&json(&served["data"])).map_err(|e| format!("served data refused: {e}"))?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The stored document

fn at(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

fn node(n: &str) -> NodeId {
    NodeId::parse(n).unwrap()
}

fn user(u: &str) -> Option<UserId> {
    UserId::from_header(Some(u)).unwrap()
}

fn build(frame: &LobbySessionStateFrame, n: &str, u: Option<&UserId>) -> EventDocument {
    let decoded = decode(&frame.encode_to_vec(), Encoding::Protobuf).unwrap();
    EventDocument::build(&decoded, &node(n), u, at(1_800_000_000_000)).unwrap()
}

#[test]
fn document_id_is_content_derived() {
    let f = sample();
    let alice = user("alice");
    let base = build(&f, "node1", alice.as_ref());

    // Same frame, match and user: same id, whenever and in whichever encoding it arrives.
    for body in [synth::to_json(&f), synth::to_proto_names_json(&f)] {
        let decoded = decode_json(&body).unwrap();
        let again = EventDocument::build(&decoded, &node("node1"), alice.as_ref(), at(1)).unwrap();
        assert_eq!(again.id, base.id);
    }
    assert_eq!(build(&f, "node1", alice.as_ref()).id, base.id);

    let mut other_field = f.clone();
    other_field.session.as_mut().unwrap().teams[0].players[0].ping += 1;
    let mut other_index = f.clone();
    other_index.frame_index += 1;
    let different = [
        build(&f, "node2", alice.as_ref()).id,
        build(&f, "node1", user("bob").as_ref()).id,
        build(&f, "node1", None).id,
        build(&other_field, "node1", alice.as_ref()).id,
        build(&other_index, "node1", alice.as_ref()).id,
    ];
    for (i, id) in different.iter().enumerate() {
        assert_ne!(*id, base.id, "case {i}");
    }
    let distinct: std::collections::HashSet<_> = different.iter().collect();
    assert_eq!(distinct.len(), different.len());
    assert_eq!(EventId::from_hex(&base.id.to_hex()), Some(base.id));
    assert_eq!(base.id.to_hex().len(), 32);
}

#[test]
fn document_id_separates_match_and_user() {
    // The id must not be fooled by moving bytes between the node and the user id.
    let f = sample();
    let a = build(&f, "node1.x", user("y").as_ref()).id;
    let b = build(&f, "node1", user("x.y").as_ref()).id;
    let c = build(&f, "node1.xy", None).id;
    assert_ne!(a, b);
    assert_ne!(a, c);
    assert_ne!(b, c);
}

#[test]
fn document_timestamp_and_match_id() {
    let f = sample(); // frame 20: 2 s after the generator's start
    let doc = build(&f, "node1", None);
    assert_eq!(doc.timestamp_ms, synth::DEFAULT_START_UNIX_MS + 2_000);
    assert_eq!(doc.received_at_ms, 1_800_000_000_000);
    assert_eq!(doc.match_id.as_str(), format!("{SESSION_LOWER}.node1"));

    let mut untimed = f.clone();
    untimed.timestamp = None;
    let doc = build(&untimed, "node1", None);
    assert_eq!(doc.timestamp_ms, 1_800_000_000_000);
    assert_eq!(doc.received_at_ms, 1_800_000_000_000);

    // Sub-millisecond precision is floored; times before 1970 work.
    let mut early = f;
    early.timestamp = Some(pbjson_types::Timestamp {
        seconds: -2,
        nanos: 999_999_999,
    });
    assert_eq!(build(&early, "node1", None).timestamp_ms, -1_001);
}

#[test]
fn stored_document_round_trips() {
    for profile in [Profile::Session, Profile::SessionWithBones] {
        let f = generator(profile).frame(20);
        for u in [user("player-7"), None] {
            round_trip(&f, u.as_ref());
        }
    }
}

fn round_trip(f: &LobbySessionStateFrame, u: Option<&UserId>) {
    let doc = build(f, "node.with.dots", u);
    let stored = StoredEvent(doc.bson.clone());
    assert_eq!(stored.id().unwrap(), doc.id);
    assert_eq!(stored.timestamp_ms().unwrap(), doc.timestamp_ms);
    assert_eq!(stored.received_at_ms().unwrap(), doc.received_at_ms);
    assert_eq!(&stored.frame().unwrap(), f);
    assert_eq!(
        doc.bson.get_str("match_id").unwrap(),
        format!("{SESSION_LOWER}.node.with.dots")
    );
    assert_eq!(doc.bson.get_str("node_id").unwrap(), "node.with.dots");
    assert_eq!(doc.size(), doc.bson.as_bytes().len());

    let mut out = Vec::new();
    render_event_json(&stored, &mut out).unwrap();
    let rendered: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(
        rendered["match_id"],
        format!("{SESSION_LOWER}.node.with.dots")
    );
    match u {
        Some(u) => assert_eq!(rendered["user_id"], u.as_str()),
        None => assert!(rendered.get("user_id").is_none(), "{}", rendered["user_id"]),
    }
    assert_eq!(
        rendered.as_object().unwrap().len(),
        2 + usize::from(u.is_some())
    );
    // Compared as parsed text: `to_value` widens the bones' f32 to f64 digits, while the JSON
    // writer prints the f32's own shortest digits (the same numbers once decoded).
    let posted: Value = serde_json::from_slice(&synth::to_json(f)).unwrap();
    assert_eq!(rendered["data"], posted);
    if f.player_bones.is_none() {
        assert_eq!(rendered["data"], serde_json::to_value(f).unwrap());
    }
    // What GET serves, POST accepts, and it is the same frame.
    assert_eq!(&ok(&json(&rendered["data"])).frame, f);
}

#[test]
fn rendered_data_is_protojson() {
    let body = include_bytes!("../../tests/fixtures/old_generation.json");
    let decoded = ok(body);
    let doc = EventDocument::build(&decoded, &node("n"), None, at(0)).unwrap();
    let mut out = Vec::new();
    render_event_json(&StoredEvent(doc.bson), &mut out).unwrap();
    let v: Value = serde_json::from_slice(&out).unwrap();
    let data = &v["data"];
    assert_eq!(data["frameIndex"], 4711);
    assert_eq!(
        data["timestamp"]
            .as_str()
            .map(|t| t.starts_with("2024-03-09T20:15:42.3")),
        Some(true)
    );
    assert_eq!(data["session"]["rules_changed_at"], "1710015000");
    assert_eq!(
        data["session"]["teams"][0]["players"][0]["userid"],
        "3963667097037078"
    );
    assert_eq!(data["events"][0]["playerJoined"]["role"], "ROLE_BLUE_TEAM");
    assert_eq!(
        data["events"][1]["discPossessionChanged"]["previousPlayerSlot"],
        -1
    );
    assert_eq!(
        data["session"]["sessionid"],
        "A1B2C3D4-0000-4E5F-8A9B-0123456789AB"
    );
}

#[test]
fn unknown_fields_do_not_change_the_document() {
    let f = sample();
    let mut v = serde_json::to_value(&f).unwrap();
    v["session"]["brandNew"] = json!(1);
    let with_unknown = decode_json(&json(&v)).unwrap();
    let plain = decode_json(&synth::to_json(&f)).unwrap();
    let a = EventDocument::build(&with_unknown, &node("n"), None, at(5)).unwrap();
    let b = EventDocument::build(&plain, &node("n"), None, at(5)).unwrap();
    assert_eq!(a.id, b.id);
    assert_eq!(a.bson, b.bson);
}
