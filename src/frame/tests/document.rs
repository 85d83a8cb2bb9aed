//! The stored document: content-derived id, timestamps, round trip, rendering.

use super::*;

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
    let body = include_bytes!("../../../tests/fixtures/old_generation.json");
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
