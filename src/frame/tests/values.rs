//! Values the stored protojson cannot carry (non-finite numbers, enums and timestamps out of range): refused at decode.

use super::*;

#[test]
fn non_finite_numbers_are_refused() {
    let member =
        |field: &str, v: Value| json!({"sessionid": SESSION, "teams": [{"players": [{field: v}]}]});
    let cases = [
        (
            minimal(json!({"session": {"sessionid": SESSION, "game_clock": "NaN"}})),
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
                json!({"session": {"sessionid": SESSION, "teams": [{"stats": {"possession_time": "Infinity"}}]}}),
            ),
            "teams.stats.possession_time",
        ),
        (
            minimal(
                json!({"session": {"sessionid": SESSION}, "playerBones": {"user_bones": [{"bone_t": [0.5, "NaN"]}]}}),
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
                json!({"session": {"sessionid": SESSION}, "playerBones": {"user_bones": [{"bone_t": [1e39]}]}}),
            ),
            "player_bones.user_bones.bone_t",
        ),
        (
            with_event(json!({"discThrown": {"throwDetails": {"arm_speed": "NaN"}}})),
            "last_throw",
        ),
        (
            with_event(json!({"playerJoined": {"player": {"velocity": ["Infinity"]}}})),
            "player.velocity",
        ),
        (
            with_event(json!({"roundPaused": {"pauseState": {"paused_timer": "NaN"}}})),
            "pause.paused_timer",
        ),
        (
            with_event(json!({"goalScored": {"scoreDetails": {"disc_speed": "Infinity"}}})),
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
