//! The generator: sizes, shape, determinism, coverage of every event kind.

mod encode;

use super::*;
use crate::frame::{self, Encoding};
use crate::proto::LobbySessionStateFrame;
use crate::proto::engine::v1::TeamMember;
use crate::proto::telemetry::v1::Role;
use crate::proto::telemetry::v1::lobby_session_event::Event;

const SESSION: &str = "892E23E2-8272-4B07-85E8-5E291AC85F93";

fn generator(profile: Profile) -> MatchGenerator {
    MatchGenerator::new(Uuid::parse_str(SESSION).unwrap(), 7, profile)
}

fn mean_len(profile: Profile, encode: fn(&LobbySessionStateFrame) -> Vec<u8>) -> usize {
    let mut g = generator(profile);
    let n = 200;
    (0..n)
        .map(|i| encode(&g.frame(i * 37)).len())
        .sum::<usize>()
        / n as usize
}

#[test]
fn sizes_match_the_spec() {
    for (profile, target) in [
        (Profile::Session, 12_000),
        (Profile::SessionWithBones, 30_000),
    ] {
        let json = mean_len(profile, to_json);
        let proto_names = mean_len(profile, to_proto_names_json);
        let protobuf = mean_len(profile, to_protobuf);
        println!(
            "{profile:?}: json names {json} B, proto names {proto_names} B, protobuf {protobuf} B"
        );
        for len in [json, proto_names] {
            assert!(
                (target * 3 / 4..=target * 5 / 4).contains(&len),
                "{profile:?}: {len} bytes is not within 25% of {target}"
            );
        }
        // The spec estimates ~5 KB without bones; 51 doubles per player put a floor near 6 KB.
        assert!(
            protobuf * 10 < json * 7,
            "protobuf {protobuf} B vs JSON {json} B"
        );
        if profile == Profile::Session {
            assert!((4_000..=8_000).contains(&protobuf), "protobuf {protobuf} B");
        }
    }
}

#[test]
fn session_and_teams_look_like_a_5v5_match() {
    let f = generator(Profile::Session).frame(0);
    let s = f.session.as_ref().unwrap();
    assert_eq!(s.session_id, SESSION);
    assert_eq!(s.teams.len(), 3);
    let players: Vec<&TeamMember> = s.teams.iter().flat_map(|t| &t.players).collect();
    assert_eq!(players.len(), 10);
    let mut slots: Vec<i32> = players.iter().map(|p| p.slot_number).collect();
    slots.sort_unstable();
    assert_eq!(slots, (0..10).collect::<Vec<_>>());
    assert_eq!(players.iter().filter(|p| p.has_possession).count(), 1);
    for p in &players {
        assert!(!p.display_name.is_empty());
        assert!(p.account_number > 1 << 40);
        assert_eq!(p.velocity.len(), 3);
        assert_eq!(p.head.as_ref().unwrap().position.len(), 3);
        assert_eq!(p.left_hand.as_ref().unwrap().pos.len(), 3);
        assert!(p.stats.is_some());
    }
    assert!(f.player_bones.is_none());
    let bones = generator(Profile::SessionWithBones)
        .frame(0)
        .player_bones
        .unwrap();
    assert_eq!(bones.user_bones.len(), 10);
    for u in &bones.user_bones {
        assert_eq!(u.bone_t.len(), 69);
        assert_eq!(u.bone_o.len(), 92);
    }
}

#[test]
fn frames_are_deterministic_and_random_access() {
    let mut a = generator(Profile::SessionWithBones);
    let mut b = generator(Profile::SessionWithBones);
    let forward: Vec<_> = (0..50).map(|i| a.frame(i)).collect();
    let backward: Vec<_> = (0..50).rev().map(|i| b.frame(i)).collect();
    assert!(forward.iter().eq(backward.iter().rev()));
    assert_eq!(to_json(&forward[3]), to_json(&a.frame(3)));
    let mut other = MatchGenerator::new(Uuid::parse_str(SESSION).unwrap(), 8, Profile::Session);
    assert_ne!(
        other.frame(3).session,
        generator(Profile::Session).frame(3).session
    );
}

#[test]
fn frames_are_unique_and_ordered() {
    let mut g = generator(Profile::Session).with_start_unix_ms(1_700_000_000_050);
    let frames: Vec<_> = (0..300).map(|i| g.frame(i)).collect();
    let ts = |f: &LobbySessionStateFrame| {
        let t = f.timestamp.unwrap();
        t.seconds * 1000 + i64::from(t.nanos) / 1_000_000
    };
    assert_eq!(ts(&frames[0]), 1_700_000_000_050);
    for (i, w) in frames.windows(2).enumerate() {
        assert_eq!(w[0].frame_index, i as u32);
        assert_eq!(ts(&w[1]) - ts(&w[0]), FRAME_INTERVAL_MS);
    }
    let distinct: std::collections::HashSet<Vec<u8>> = frames.iter().map(to_protobuf).collect();
    assert_eq!(distinct.len(), frames.len());
}

#[test]
fn every_event_kind_appears() {
    let mut g = generator(Profile::Session);
    let mut kinds = std::collections::BTreeSet::new();
    for i in 0..200 {
        let f = g.frame(i);
        assert!(!f.events.is_empty(), "frame {i} has no event");
        for e in &f.events {
            let json = serde_json::to_value(e).unwrap();
            let key = json.as_object().unwrap().keys().next().unwrap().clone();
            kinds.insert(key);
        }
    }
    assert_eq!(kinds.len(), 24, "{kinds:?}");
    let joined = g.frame(0);
    match &joined.events[0].event {
        Some(Event::PlayerJoined(j)) => {
            assert_eq!(j.role, Role::BlueTeam as i32);
            assert!(j.player.is_some());
        }
        other => panic!("frame 0 should carry player_joined, not {other:?}"),
    }
}

#[test]
fn all_numbers_are_finite() {
    for profile in [Profile::Session, Profile::SessionWithBones] {
        let mut g = generator(profile);
        for i in (0..100_000).step_by(997) {
            // decode() rejects any NaN or infinity.
            frame::decode(&to_protobuf(&g.frame(i)), Encoding::Protobuf).unwrap();
        }
    }
}
