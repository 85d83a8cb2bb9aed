//! Role and DiscPossessionChanged: both producer generations.

use super::*;

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
    let body = include_bytes!("../../../tests/fixtures/old_generation.json");
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
