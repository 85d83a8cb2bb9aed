//! The encodings: every form decodes to the same frame, proto names cover every field, the
//! fixtures are generated frames.

use serde_json::Value;

use super::{SESSION, generator};
use crate::frame::{self, Encoding};
use crate::proto::LobbySessionStateFrame;
use crate::proto::engine::v1::PlayerStats;
use crate::proto::telemetry::v1::lobby_session_event::Event;
use crate::synth::*;

fn assert_decodes_to(body: &[u8], encoding: Encoding, want: &LobbySessionStateFrame) {
    let d = frame::decode(body, encoding).unwrap_or_else(|e| panic!("{encoding:?}: {e}"));
    assert_eq!(&d.frame, want, "{encoding:?}");
    assert_eq!(
        d.unknown_fields, 0,
        "{encoding:?}: the renamed keys must all be known"
    );
    assert_eq!(d.session.uuid(), Uuid::parse_str(SESSION).unwrap());
}

#[test]
fn all_three_encodings_decode_to_the_same_frame() {
    for profile in [Profile::Session, Profile::SessionWithBones] {
        let mut g = generator(profile);
        for i in 0..100 {
            let f = g.frame(i);
            assert_decodes_to(&to_json(&f), Encoding::Json, &f);
            assert_decodes_to(&to_proto_names_json(&f), Encoding::Json, &f);
            assert_decodes_to(&to_protobuf(&f), Encoding::Protobuf, &f);
        }
    }
}

/// Every field of every message set to a non-default value, so that each rename is
/// exercised (the generator leaves some fields at their defaults, as the game does).
fn full_frame() -> LobbySessionStateFrame {
    let mut f = generator(Profile::SessionWithBones).frame(5);
    let s = f.session.as_mut().unwrap();
    s.orange_team_restart_request = 1;
    s.blue_team_restart_request = 1;
    s.private_match = true;
    s.tournament_match = true;
    s.left_shoulder_pressed = 0.5;
    s.payload_multiplier = 1.5;
    s.payload_checkpoint = 2;
    s.payload_distance = 3.5;
    s.payload_defenders = 4;
    s.payload_speed = 5.5;
    s.err_code = -6;
    s.pause.as_mut().unwrap().unpaused_timer = 1.25;
    s.pause.as_mut().unwrap().paused_timer = 2.25;
    s.teams.iter_mut().for_each(|t| t.has_possession = true);
    let m = &mut s.teams[0].players[1];
    m.stats = Some(PlayerStats {
        possession_time: 1.5,
        points: 2,
        saves: 3,
        goals: 4,
        stuns: 5,
        passes: 6,
        catches: 7,
        steals: 8,
        blocks: 9,
        interceptions: 10,
        assists: 11,
        shots_taken: 12,
    });
    m.is_stunned = true;
    m.is_invulnerable = true;
    m.is_blocking = true;
    m.is_emote_playing = true;
    m.has_possession = true;
    f.player_bones.as_mut().unwrap().err_code = 3;
    f
}

#[test]
fn proto_names_cover_every_field() {
    let f = full_frame();
    assert_decodes_to(&to_proto_names_json(&f), Encoding::Json, &f);
    let v = to_proto_names_value(&f);
    let s = &v["session"];
    for key in [
        "session_id",
        "session_ip",
        "orange_team_restart_request",
        "blue_team_restart_request",
        "left_shoulder_pressed2",
        "right_shoulder_pressed2",
        "rules_changed_at",
        "payload_multiplier",
        "err_code",
        "game_clock_display",
        "last_throw",
        "last_score",
    ] {
        assert!(
            s.get(key).is_some(),
            "session.{key} missing: {:?}",
            s.as_object().unwrap().keys()
        );
    }
    assert!(s.get("possession").unwrap().is_array());
    let team = &s["teams"][0];
    for key in ["team_name", "has_possession", "players", "stats"] {
        assert!(team.get(key).is_some(), "team.{key}");
    }
    let member = &team["players"][1];
    for key in [
        "weapon",
        "ordnance",
        "tac_mod",
        "account_number",
        "display_name",
        "slot_number",
        "jersey_number",
        "packet_loss_ratio",
        "is_stunned",
        "is_invulnerable",
        "left_holding_onto",
        "right_holding_onto",
        "is_blocking",
        "is_emote_playing",
        "has_possession",
        "left_hand",
        "right_hand",
    ] {
        assert!(member.get(key).is_some(), "player.{key}");
    }
    let stats = member["stats"].as_object().unwrap();
    assert_eq!(stats.len(), 12);
    assert!(stats.contains_key("possession_time") && stats.contains_key("shots_taken"));
    let bones = &v["player_bones"];
    assert_eq!(bones["err_code"], 3);
    assert!(bones["user_bones"][3].get("player_index").is_some());
    assert!(bones["user_bones"][3].get("bone_t").is_some());
    assert!(v.get("frame_index").is_some());
    // Frame 5 carries disc_caught then disc_possession_changed.
    assert!(v["events"][0]["disc_caught"].get("player_slot").is_some());
    assert!(
        v["events"][1]["disc_possession_changed"]
            .get("previous_player_slot")
            .is_some()
    );
}

/// No key outside a map is left in a JSON-name spelling.
#[test]
fn proto_names_have_no_json_names_left() {
    fn walk(v: &Value, in_map: bool, path: &str) {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    if !in_map {
                        assert!(
                            !k.chars().any(|c| c.is_ascii_uppercase()),
                            "{path}.{k} is not a proto name"
                        );
                        assert!(
                            !["sessionid", "userid", "playerid", "lhand", "name", "team"]
                                .contains(&k.as_str())
                                || (k == "team"
                                    && (path.ends_with("last_score")
                                        || path.ends_with("score_details"))),
                            "{path}.{k} is a JSON name"
                        );
                    }
                    walk(v, k == "data", &format!("{path}.{k}"));
                }
            }
            Value::Array(a) => a.iter().for_each(|v| walk(v, false, path)),
            _ => {}
        }
    }
    let mut g = generator(Profile::SessionWithBones);
    for i in 0..40 {
        walk(&to_proto_names_value(&g.frame(i)), false, "");
    }
    walk(&to_proto_names_value(&full_frame()), false, "");
}

#[test]
fn map_keys_are_not_renamed() {
    let mut f = generator(Profile::Session).frame(3);
    let Some(Event::GenericEvent(e)) = &mut f.events[0].event else {
        panic!("frame 3 should carry a generic event");
    };
    e.data.insert("someKey".into(), "v".into());
    e.data.insert("playerid".into(), "v".into());
    let v = to_proto_names_value(&f);
    let data = &v["events"][0]["generic_event"]["data"];
    assert_eq!(data["someKey"], "v");
    assert_eq!(data["playerid"], "v");
    assert_decodes_to(&to_proto_names_json(&f), Encoding::Json, &f);
}

/// The fixtures in `tests/fixtures/` are frame 20 of this generator. Regenerate them with
/// `SYNTH_WRITE_FIXTURES=1 cargo test --lib synth::tests::fixtures`.
#[test]
fn fixtures_are_generated_frames() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    // Frame 20 carries player_joined and a non-zero frame_index (zero would be omitted).
    let f = generator(Profile::Session).frame(20);
    let want = [
        ("frame_json_names.json", serde_json::to_value(&f).unwrap()),
        ("frame_proto_names.json", to_proto_names_value(&f)),
    ];
    for (name, value) in want {
        let path = dir.join(name);
        if std::env::var_os("SYNTH_WRITE_FIXTURES").is_some() {
            let mut text = serde_json::to_string_pretty(&value).unwrap();
            text.push('\n');
            std::fs::write(&path, text).unwrap();
        }
        let body = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let on_disk: Value = serde_json::from_slice(&body).unwrap();
        assert!(
            on_disk == value,
            "{name} is stale: regenerate with SYNTH_WRITE_FIXTURES=1"
        );
        assert_decodes_to(&body, Encoding::Json, &f);
    }
    // What the service emitted before every engine.v1 field pinned its json_name
    // (`gameClockDisplay`, `userBones`): frozen as the previous version wrote it, never
    // regenerated, and still accepted as the same frame.
    let legacy = std::fs::read(dir.join("frame_legacy_camel.json")).unwrap();
    assert!(String::from_utf8_lossy(&legacy).contains("\"gameClockDisplay\""));
    assert_decodes_to(&legacy, Encoding::Json, &f);
}
