//! Bad JSON, bad protobuf, bad sessions: refused with a clear error.

use super::*;

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
        format!(r#"{{"session":{{"sessionid":"{SESSION}","game_clock":NaN}}}}"#).into_bytes(),
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
        json!({"session": {"sessionid": SESSION, "game_status": 3}}),
        json!({"session": {"sessionid": SESSION, "private_match": "yes"}}),
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
    let e = err(&json(&json!({"session": {"game_status": "playing"}})));
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
        json!({"session": {"sessionid": SESSION, "game_clock": "NaN"}}),
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
