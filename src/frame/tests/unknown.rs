//! Unknown fields: ignored and counted, never changing the document.

use super::*;

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
