//! The field's producers, as they send frames today (see "Producers" in README.md): the C++
//! telemetry agent's POST to `/lobby-session-events`, `nevr-agent stream`'s WebSocket on `/ws`
//! (and the successor's `/v3/stream`), and batch POSTs (NDJSON, length-delimited protobuf).
//! Each runs on both stores and reads what it stored back.

mod common;

use std::time::Duration;

use common::ws::{self, Next};
use common::{Backend, TestApp, new_match, protojson, spawn_app, spawn_app_with};
use prost::Message as _;
use serde_json::Value;
use session_events::proto::LobbySessionStateFrame;
use session_events::proto::telemetry::v1::{Envelope, envelope};
use session_events::synth::{self, MatchGenerator};

backend_tests!(
    the_cpp_agents_request_is_stored,
    a_stream_of_mixed_dialects_is_answered_in_order_and_stored_once,
    the_successors_path_takes_identity_from_the_query,
    an_oversized_message_is_answered_413_and_closes_1009,
    shutdown_answers_what_was_read_and_closes_1001,
    ndjson_batch_with_one_bad_line,
    delimited_protobuf_batch_with_one_bad_frame,
    batch_limits_apply_to_the_whole_request,
);

/// Protojson with proto names and every enum as its number, as `nevr-agent` marshals
/// (`UseProtoNames`, `UseEnumNumbers`). Returns the JSON and how many enums were numbered.
fn proto_names_enum_numbers(frame: &LobbySessionStateFrame) -> (String, usize) {
    fn number(name: &str) -> Option<i64> {
        Some(match name {
            "ROLE_UNSPECIFIED" | "EMOTE_TYPE_UNSPECIFIED" => 0,
            "ROLE_BLUE_TEAM" | "EMOTE_TYPE_PRIMARY" => 1,
            "ROLE_ORANGE_TEAM" | "EMOTE_TYPE_SECONDARY" => 2,
            "ROLE_SPECTATOR" => 3,
            "ROLE_SOCIAL_PARTICIPANT" => 4,
            "ROLE_MODERATOR" => 5,
            _ => return None,
        })
    }
    fn walk(v: &mut Value, n: &mut usize) {
        match v {
            Value::String(s) => {
                if let Some(x) = number(s) {
                    *v = Value::from(x);
                    *n += 1;
                }
            }
            Value::Array(a) => a.iter_mut().for_each(|x| walk(x, n)),
            Value::Object(o) => o.values_mut().for_each(|x| walk(x, n)),
            _ => {}
        }
    }
    let mut value = synth::to_proto_names_value(frame);
    let mut n = 0;
    walk(&mut value, &mut n);
    (value.to_string(), n)
}

/// A frame of `m` holding at least one enum (a role), searching from `from`.
fn frame_with_enum(m: &mut MatchGenerator, from: u32) -> (LobbySessionStateFrame, String) {
    for i in from..from + 500 {
        let frame = m.frame(i);
        let (json, numbered) = proto_names_enum_numbers(&frame);
        if numbered > 0 {
            return (frame, json);
        }
    }
    panic!("no frame with an enum among 500");
}

fn binary_envelope(frame: &LobbySessionStateFrame) -> Vec<u8> {
    Envelope {
        message: Some(envelope::Message::Frame(frame.clone())),
    }
    .encode_to_vec()
}

/// The stored events of a match, each frame's protojson.
async fn stored(app: &TestApp, match_id: &str) -> Vec<Value> {
    app.events(match_id)
        .await
        .into_iter()
        .map(|e| e["data"].clone())
        .collect()
}

fn assert_stored_once(events: &[Value], frames: &[&LobbySessionStateFrame]) {
    assert_eq!(
        events.len(),
        frames.len(),
        "stored {} events for {} distinct frames",
        events.len(),
        frames.len()
    );
    for frame in frames {
        let want = protojson(frame);
        let copies = events.iter().filter(|e| **e == want).count();
        assert_eq!(
            copies, 1,
            "frame {} stored {copies} times",
            frame.frame_index
        );
    }
}

async fn the_cpp_agents_request_is_stored(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut m = new_match(11);
    let frame = m.frame(3);
    // As the agent posts it: proto names, no whitespace, its four headers, nothing else.
    let body = synth::to_proto_names_json(&frame);
    assert!(!body.contains(&b'\n') && body.windows(12).any(|w| w == b"\"session_id\""));
    let resp = app
        .http
        .post(app.url("/lobby-session-events"))
        .header("content-type", "application/json")
        .header("x-user-id", "agent-user-1")
        .header("x-node-id", "gs-eu-1")
        .header("user-agent", "TelemetryAgent/1.0")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let answer: Value = resp.json().await.unwrap();
    assert_eq!(answer["success"], true, "{answer}");
    let match_id = answer["match_id"].as_str().unwrap();
    assert_eq!(
        match_id,
        format!("{}.gs-eu-1", m.session_id().to_lowercase())
    );
    let events = app.events(match_id).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["data"], protojson(&frame));
    assert_eq!(events[0]["user_id"], "agent-user-1");

    // Same body rules as /session-events: a bad frame is a 400 there too.
    let resp = app
        .http
        .post(app.url("/lobby-session-events"))
        .header("content-type", "application/json")
        .body("{\"session\":{\"session_id\":\"not-a-uuid\"}}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let metrics = app.http.get(app.url("/metrics")).send().await.unwrap();
    let metrics = metrics.text().await.unwrap();
    assert!(
        metrics.contains("route=\"/lobby-session-events\""),
        "the agent's path has its own route label"
    );
}

async fn a_stream_of_mixed_dialects_is_answered_in_order_and_stored_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let (mut a, mut b) = (new_match(21), new_match(22));
    let (a0, a0_numbers) = frame_with_enum(&mut a, 0);
    let (b1, b1_numbers) = frame_with_enum(&mut b, 1);
    let (a2, b3, a4) = (
        a.frame(a0.frame_index + 2),
        b.frame(b1.frame_index + 3),
        a.frame(a0.frame_index + 4),
    );

    let url = ws::url(&app.base, "/ws");
    let mut socket =
        ws::connect(&url, &[("x-node-id", "ws-node"), ("x-user-id", "streamer")]).await;
    let header = r#"{"header":{"capture_id":"cap-1","created_at":"2025-06-01T18:00:00Z","metadata":{"game":"echo"}}}"#;
    // (what is sent, the match its reply names; None: a header; Some(""): an error)
    let a_id = format!("{}.ws-node", a.session_id().to_lowercase());
    let b_id = format!("{}.ws-node", b.session_id().to_lowercase());
    ws::send_text(&mut socket, header).await;
    ws::send_text(&mut socket, ws::envelope(a0_numbers.as_bytes())).await;
    ws::send_text(&mut socket, b1_numbers.clone()).await; // bare frame, proto names, enum numbers
    ws::send_text(&mut socket, "{\"frame\": {not json").await;
    ws::send_binary(&mut socket, binary_envelope(&a2)).await;
    ws::send_text(&mut socket, ws::envelope(&synth::to_json(&b3))).await; // JSON names
    ws::send_text(&mut socket, ws::envelope(a0_numbers.as_bytes())).await; // a0 again
    ws::send_binary(&mut socket, vec![0x12, 0x40, 1, 2, 3]).await; // truncated Envelope
    ws::send_text(
        &mut socket,
        synth::to_json(&a4)
            .into_iter()
            .map(char::from)
            .collect::<String>(),
    )
    .await;
    let expected: [Option<&str>; 9] = [
        None,
        Some(&a_id),
        Some(&b_id),
        Some(""),
        Some(&a_id),
        Some(&b_id),
        Some(&a_id),
        Some(""),
        Some(&a_id),
    ];
    for (i, want) in expected.iter().enumerate() {
        let reply = ws::reply(&mut socket).await;
        eprintln!("reply {i}: {reply}");
        match want {
            None => assert_eq!(reply, serde_json::json!({"success": true}), "message {i}"),
            Some("") => {
                assert_eq!(reply["success"], false, "message {i}: {reply}");
                assert_eq!(reply["status"], 400, "message {i}: {reply}");
                assert!(reply["error"].as_str().is_some_and(|e| !e.is_empty()));
            }
            Some(id) => {
                assert_eq!(reply["success"], true, "message {i}: {reply}");
                assert_eq!(reply["match_id"], *id, "message {i}: replies are in order");
            }
        }
    }
    socket.close(None).await.unwrap();

    assert_stored_once(&stored(&app, &a_id).await, &[&a0, &a2, &a4]);
    assert_stored_once(&stored(&app, &b_id).await, &[&b1, &b3]);
    let events = app.events(&a_id).await;
    assert!(events.iter().all(|e| e["user_id"] == "streamer"));
}

async fn the_successors_path_takes_identity_from_the_query(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut m = new_match(31);
    let frame = m.frame(0);
    let url = ws::url(&app.base, "/v3/stream?node=query-node&user=query-user");
    let mut socket = ws::connect(&url, &[]).await;
    ws::send_binary(&mut socket, binary_envelope(&frame)).await;
    let reply = ws::reply(&mut socket).await;
    let match_id = format!("{}.query-node", m.session_id().to_lowercase());
    assert_eq!(reply["match_id"], match_id.as_str(), "{reply}");
    let events = app.events(&match_id).await;
    assert_eq!(events[0]["user_id"], "query-user");

    // A bad node id is refused before the upgrade.
    let bad = ws::url(&app.base, "/ws?node=has%20space");
    assert_eq!(ws::try_connect(&bad, &[]).await.err(), Some(400));
    // Without an upgrade, the route is not a WebSocket: a JSON error, not a hang.
    let resp = app.http.get(app.url("/ws")).send().await.unwrap();
    assert!(resp.status().is_client_error(), "{}", resp.status());
}

async fn an_oversized_message_is_answered_413_and_closes_1009(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.max_body_bytes = 16 * 1024).await;
    let mut m = new_match(41);
    let small = synth::to_protobuf(&m.frame(0));
    assert!(small.len() < 16 * 1024);
    let mut socket = ws::connect(&ws::url(&app.base, "/ws"), &[("x-node-id", "n1")]).await;
    ws::send_binary(&mut socket, binary_envelope(&m.frame(0))).await;
    let big = format!("{{\"frame\":{{\"pad\":\"{}\"}}}}", "x".repeat(20 * 1024));
    ws::send_text(&mut socket, big).await;
    let first = ws::reply(&mut socket).await;
    assert_eq!(first["success"], true, "{first}");
    let second = ws::reply(&mut socket).await;
    assert_eq!(second["status"], 413, "{second}");
    match ws::next(&mut socket, Duration::from_secs(10)).await {
        Next::Closed(Some(frame)) => assert_eq!(u16::from(frame.code), 1009),
        other => panic!("expected a 1009 close, got {other:?}"),
    }
    let match_id = first["match_id"].as_str().unwrap();
    assert_eq!(app.events(match_id).await.len(), 1);
}

async fn shutdown_answers_what_was_read_and_closes_1001(backend: Backend) {
    let mut app = spawn_app(backend).await;
    let mut m = new_match(51);
    let match_id = format!("{}.n1", m.session_id().to_lowercase());
    let socket = ws::connect(&ws::url(&app.base, "/ws"), &[("x-node-id", "n1")]).await;
    let (mut sink, mut stream) = futures::StreamExt::split(socket);
    let frames: Vec<Vec<u8>> = (0..2000).map(|i| binary_envelope(&m.frame(i))).collect();
    // Streams until the service stops taking frames.
    let sender = tokio::spawn(async move {
        let mut sent = 0u32;
        for frame in frames {
            let send = futures::SinkExt::send(&mut sink, ws_binary(frame));
            match tokio::time::timeout(Duration::from_secs(20), send).await {
                Ok(Ok(())) => sent += 1,
                _ => break,
            }
            if sent.is_multiple_of(50) {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        sent
    });
    // Replies in order: reply k is frame k.
    let mut acked = Vec::new();
    let mut failed = 0u32;
    let mut replies = 0u32;
    loop {
        if replies == 200 {
            app.begin_stop();
        }
        let message = tokio::time::timeout(
            Duration::from_secs(60),
            futures::StreamExt::next(&mut stream),
        )
        .await
        .expect("the service answers or closes");
        match message {
            Some(Ok(tokio_tungstenite::tungstenite::Message::Text(text))) => {
                let reply: Value = serde_json::from_str(&text).unwrap();
                if reply["success"] == true {
                    acked.push(u64::from(replies));
                } else {
                    failed += 1;
                    assert_eq!(reply["status"], 503, "only shutdown refusals: {reply}");
                }
                replies += 1;
            }
            Some(Ok(tokio_tungstenite::tungstenite::Message::Close(frame))) => {
                let code = frame.map(|f| u16::from(f.code));
                assert_eq!(code, Some(1001), "closed as going away");
                break;
            }
            Some(Ok(_)) => continue,
            other => panic!("the stream ended without a 1001 close: {other:?}"),
        }
    }
    let sent = sender.await.unwrap();
    app.wait_stopped().await;
    eprintln!(
        "sent {sent} frames, {replies} replies: {} acknowledged, {failed} refused",
        acked.len()
    );
    assert!(acked.len() >= 200, "acknowledged before the stop");

    // Every acknowledged frame is in the store, read by a fresh service on the same data.
    // One whole-match read: on FerretDB it scans and sorts the match before the first batch
    // (docs/api.md, "Reads on FerretDB"), which took over the tests' 60 s bound on a loaded
    // machine; the read-back verifies, it is not under test, so it gets all the time it needs.
    let mut config = app.config.clone();
    config.mongo_timeout = Duration::from_secs(600);
    let reader = common::spawn_config(config).await;
    let indexes = common::frame_indexes(&reader.events(&match_id).await);
    for i in &acked {
        assert!(
            indexes.binary_search(i).is_ok(),
            "acknowledged frame {i} is stored"
        );
    }
    assert!(indexes.len() <= replies as usize + 1);
    drop(app);
}

fn ws_binary(bytes: Vec<u8>) -> tokio_tungstenite::tungstenite::Message {
    tokio_tungstenite::tungstenite::Message::Binary(bytes.into())
}

/// The per-line results of a batch answer.
async fn batch_results(resp: reqwest::Response) -> Vec<Value> {
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-type"],
        "application/x-ndjson",
        "one result per line"
    );
    let text = resp.text().await.unwrap();
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

async fn post_batch(app: &TestApp, body: Vec<u8>, content_type: &str) -> reqwest::Response {
    app.post(body, content_type, &[("x-node-id", "batcher")])
        .await
}

fn check_batch(results: &[Value], bad: usize, match_id: &str) {
    assert_eq!(results.len(), 100, "one result per frame");
    for (i, r) in results.iter().enumerate() {
        if i == bad {
            assert_eq!(r["success"], false, "line {i}: {r}");
            assert_eq!(r["status"], 400, "line {i}: {r}");
        } else {
            assert_eq!(r["success"], true, "line {i}: {r}");
            assert_eq!(r["match_id"], match_id, "line {i}");
        }
    }
}

async fn ndjson_batch_with_one_bad_line(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut m = new_match(61);
    let match_id = format!("{}.batcher", m.session_id().to_lowercase());
    let bad = 37;
    let mut body = Vec::new();
    for i in 0..100u32 {
        if i as usize == bad {
            body.extend_from_slice(b"{\"session\":{\"sessionid\":\"not-a-uuid\"}}");
        } else if i % 2 == 0 {
            body.extend(synth::to_json(&m.frame(i)));
        } else {
            body.extend(synth::to_proto_names_json(&m.frame(i)));
        }
        body.push(b'\n');
    }
    let results = batch_results(post_batch(&app, body, "application/x-ndjson").await).await;
    check_batch(&results, bad, &match_id);
    let indexes = common::frame_indexes(&app.events(&match_id).await);
    let want: Vec<u64> = (0..100).filter(|i| *i != bad as u64).collect();
    assert_eq!(indexes, want, "99 stored, once each");
}

async fn delimited_protobuf_batch_with_one_bad_frame(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut m = new_match(71);
    let match_id = format!("{}.batcher", m.session_id().to_lowercase());
    let bad = 0;
    let mut body = Vec::new();
    for i in 0..100u32 {
        let frame = if i as usize == bad {
            vec![0xff, 0xff, 0xff] // not a protobuf message
        } else {
            synth::to_protobuf(&m.frame(i))
        };
        prost::encode_length_delimiter(frame.len(), &mut body).unwrap();
        body.extend(frame);
    }
    let results =
        batch_results(post_batch(&app, body.clone(), "application/x-protobuf-delimited").await)
            .await;
    check_batch(&results, bad, &match_id);
    // The same batch again (a producer's retry) adds nothing.
    let again =
        batch_results(post_batch(&app, body, "application/x-protobuf-delimited").await).await;
    check_batch(&again, bad, &match_id);
    let indexes = common::frame_indexes(&app.events(&match_id).await);
    assert_eq!(
        indexes,
        (1..100).collect::<Vec<u64>>(),
        "99 stored, once each"
    );
}

async fn batch_limits_apply_to_the_whole_request(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.max_batch_frames = 10).await;
    let mut m = new_match(81);
    let body: Vec<u8> = (0..11u32)
        .flat_map(|i| {
            let mut line = synth::to_json(&m.frame(i));
            line.push(b'\n');
            line
        })
        .collect();
    let resp = post_batch(&app, body, "application/x-ndjson").await;
    assert_eq!(resp.status(), 413);
    let answer: Value = resp.json().await.unwrap();
    assert_eq!(answer["success"], false);
    let resp = post_batch(&app, b"\n\n".to_vec(), "application/x-ndjson").await;
    assert_eq!(resp.status(), 400, "a batch without frames");
    let match_id = format!("{}.batcher", m.session_id().to_lowercase());
    assert!(
        app.events(&match_id).await.is_empty(),
        "nothing of a refused batch is stored"
    );
}

/// Auth on the upgrade: no token and a read token are refused before any socket exists.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_upgrade_needs_the_write_token() {
    let write = "write:wwwwwwwwwwwwwwwwwwww";
    let read = "read:rrrrrrrrrrrrrrrrrrrr";
    let app = spawn_app_with(Backend::Embedded, |c| {
        c.auth_tokens = vec![write.parse().unwrap(), read.parse().unwrap()];
    })
    .await;
    let url = ws::url(&app.base, "/ws");
    assert_eq!(ws::try_connect(&url, &[]).await.err(), Some(401));
    assert_eq!(
        ws::try_connect(&url, &[("authorization", "Bearer rrrrrrrrrrrrrrrrrrrr")])
            .await
            .err(),
        Some(401)
    );
    let mut socket = ws::connect(&url, &[("authorization", "Bearer wwwwwwwwwwwwwwwwwwww")]).await;
    let mut m = new_match(91);
    ws::send_binary(&mut socket, binary_envelope(&m.frame(0))).await;
    assert_eq!(ws::reply(&mut socket).await["success"], true);
}
