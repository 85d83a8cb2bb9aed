//! The three encodings and the key dialects (JSON names, proto names, lowerCamelCase), mixed.

use super::*;

#[test]
fn json_names_proto_names_and_protobuf_decode_to_the_same_frame() {
    for profile in [Profile::Session, Profile::SessionWithBones] {
        let mut g = generator(profile);
        for i in [0, 1, 3, 5, 17, 20, 57, 99] {
            let frame = g.frame(i);
            let a = ok(&synth::to_json(&frame));
            let b = ok(&synth::to_proto_names_json(&frame));
            let c = decode(&synth::to_protobuf(&frame), Encoding::Protobuf).unwrap();
            let d = ok(&synth::to_lower_camel_json(&frame));
            assert_eq!(a.frame, frame);
            assert_eq!(b.frame, frame);
            assert_eq!(c.frame, frame);
            assert_eq!(d.frame, frame);
            assert_eq!(
                (
                    a.unknown_fields,
                    b.unknown_fields,
                    c.unknown_fields,
                    d.unknown_fields
                ),
                (0, 0, 0, 0)
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

#[test]
fn engine_keys_are_the_games_own_and_camel_case_is_an_alias() {
    let frame = generator(Profile::SessionWithBones).frame(20);
    let json = String::from_utf8(synth::to_json(&frame)).unwrap();
    let camel = String::from_utf8(synth::to_lower_camel_json(&frame)).unwrap();
    for (schema, legacy) in [
        ("game_clock_display", "gameClockDisplay"),
        ("possession_time", "possessionTime"),
        ("user_bones", "userBones"),
        ("bone_t", "boneT"),
        ("last_throw", "lastThrow"),
    ] {
        let (schema, legacy) = (format!("\"{schema}\":"), format!("\"{legacy}\":"));
        assert!(
            json.contains(&schema) && !json.contains(&legacy),
            "{schema}"
        );
        assert!(
            camel.contains(&legacy) && !camel.contains(&schema),
            "{legacy}"
        );
    }
    // telemetry.v1 keeps protojson's lowerCamelCase: the same in both.
    assert!(json.contains("\"frameIndex\":") && camel.contains("\"frameIndex\":"));
}

/// Documents and ids do not depend on the spelling: the previous version's own output (frozen
/// in the fixture), the schema's names, proto names and protobuf give one document.
#[test]
fn every_dialect_gives_the_same_document_and_id() {
    let frames = [
        ok(include_bytes!(
            "../../../tests/fixtures/frame_legacy_camel.json"
        )),
        ok(include_bytes!(
            "../../../tests/fixtures/frame_json_names.json"
        )),
        ok(include_bytes!(
            "../../../tests/fixtures/frame_proto_names.json"
        )),
    ];
    let node = node("n1");
    let docs: Vec<_> = frames
        .iter()
        .map(|d| EventDocument::build(d, &node, None, at(5)).unwrap())
        .collect();
    for d in &docs[1..] {
        assert_eq!(d.id, docs[0].id);
        assert_eq!(d.bson, docs[0].bson);
    }
}

#[test]
fn a_field_under_its_json_name_and_its_alias_is_refused() {
    for session in [
        json!({"sessionid": SESSION, "game_status": "a", "gameStatus": "b"}),
        json!({"sessionid": SESSION, "pause": {"pausedState": "a", "paused_state": "b"}}),
        json!({"sessionid": SESSION, "sessionId": SESSION}),
    ] {
        let e = err(&json(&minimal(json!({ "session": session }))));
        assert!(matches!(e, FrameError::Schema(_)), "{e}");
        assert!(e.to_string().contains("duplicate field"), "{e}");
    }
}
