//! The HTTP contract, run against both stores (MongoDB via `MONGO_URI`, and the embedded store).

mod common;

use std::io::Write;

use common::{Backend, TestApp, new_match, protojson, spawn_app, spawn_app_with};
use futures::future::join_all;
use pbjson_types::Timestamp;
use session_events::synth;

backend_tests!(
    round_trip_in_every_encoding,
    match_ids_are_canonical,
    bad_frames_are_400_and_store_nothing,
    media_types_encodings_and_size_limits,
    unknown_fields_are_ignored_and_counted,
    events_are_ordered_by_frame_timestamp,
    the_same_frame_is_stored_once,
    concurrent_posts_share_batches,
    paging_has_no_gaps_or_repeats,
    read_parameters_are_validated,
    health_and_probes,
    unknown_routes_and_methods,
    enqueue_mode_answers_202_and_still_stores,
    hostile_input_is_refused_and_never_reaches_the_store,
);

fn match_path(match_id: &str) -> String {
    format!("/session-events/{match_id}")
}

async fn round_trip_in_every_encoding(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut m = new_match(1);
    let frames: Vec<_> = (0..3).map(|i| m.frame(i)).collect();

    let r1 = app.post_json(synth::to_json(&frames[0]), Some("n1")).await;
    assert_eq!(r1.status(), 200);
    let r2 = app
        .post_json(synth::to_proto_names_json(&frames[1]), Some("n1"))
        .await;
    assert_eq!(r2.status(), 200);
    let r3 = app
        .post(
            synth::to_protobuf(&frames[2]),
            "application/x-protobuf",
            &[("x-node-id", "n1"), ("x-user-id", "player-7")],
        )
        .await;
    assert_eq!(r3.status(), 200);
    let body: serde_json::Value = r3.json().await.unwrap();
    let match_id = body["match_id"].as_str().unwrap().to_owned();
    assert_eq!(body["success"], true);

    let events = app.events(&match_id).await;
    assert_eq!(events.len(), 3);
    for (event, frame) in events.iter().zip(&frames) {
        assert_eq!(event["match_id"], match_id.as_str());
        assert_eq!(
            event["data"],
            protojson(frame),
            "data must be the protojson of what was posted"
        );
    }
    assert!(
        events[0].get("user_id").is_none(),
        "no X-User-ID → no user_id"
    );
    assert_eq!(events[2]["user_id"], "player-7");
}

async fn match_ids_are_canonical(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut m = new_match(2);
    let upper = m.session_id().to_owned();
    assert_eq!(
        upper,
        upper.to_uppercase(),
        "the generator prints ids like the game"
    );
    let lower = upper.to_lowercase();

    let id = app.store(&m.frame(0), "eu.west.node-1").await;
    assert_eq!(id, format!("{lower}.eu.west.node-1"));

    let resp = app.post_json(synth::to_json(&m.frame(1)), None).await;
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["match_id"], format!("{lower}.default-node"));
    let resp = app
        .post(
            synth::to_json(&m.frame(2)),
            "application/json",
            &[("x-node-id", "")],
        )
        .await;
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["match_id"], format!("{lower}.default-node"));

    // The uuid part of a GET is matched case-insensitively; the node part is split after it.
    assert_eq!(
        app.events(&format!("{upper}.eu.west.node-1")).await.len(),
        1
    );
    assert_eq!(app.events(&format!("{lower}.default-node")).await.len(), 2);
    assert_eq!(app.events(&format!("{lower}.eu")).await.len(), 0);
}

/// Expects a 400 with a JSON error, and returns the error message.
async fn expect_400(resp: reqwest::Response) -> String {
    let status = resp.status();
    let body: serde_json::Value = resp.json().await.expect("error bodies are JSON");
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["success"], false);
    let msg = body["error"].as_str().expect("error message").to_owned();
    assert!(!msg.is_empty());
    msg
}

async fn bad_frames_are_400_and_store_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut m = new_match(3);
    let good = protojson(&m.frame(0));
    let session = m.session_id().to_lowercase();
    let with = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut v = good.clone();
        f(&mut v);
        serde_json::to_vec(&v).unwrap()
    };

    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "nil uuid",
            with(&|v| v["session"]["sessionid"] = "00000000-0000-0000-0000-000000000000".into()),
        ),
        (
            "missing session",
            with(&|v| {
                v.as_object_mut().unwrap().remove("session");
            }),
        ),
        (
            "bad uuid",
            with(&|v| v["session"]["sessionid"] = "not-a-uuid".into()),
        ),
        (
            "wrong type",
            with(&|v| v["frameIndex"] = serde_json::json!({"a": 1})),
        ),
        (
            "string in int field",
            with(&|v| v["session"]["blue_points"] = "lots".into()),
        ),
        ("NaN", with(&|v| v["session"]["game_clock"] = "NaN".into())),
        (
            "trailing garbage",
            [serde_json::to_vec(&good).unwrap(), b" trailing".to_vec()].concat(),
        ),
        (
            "second value",
            [serde_json::to_vec(&good).unwrap(), b"{}".to_vec()].concat(),
        ),
        ("not JSON", b"{\"frameIndex\": ".to_vec()),
    ];
    for (name, body) in cases {
        let msg = expect_400(app.post_json(body, Some("n1")).await).await;
        assert!(!msg.contains("internal"), "{name}: {msg}");
    }
    let msg = expect_400(
        app.post(vec![0xff, 0xff, 0xff], "application/x-protobuf", &[])
            .await,
    )
    .await;
    assert!(msg.contains("protobuf"), "{msg}");
    for node in ["a/b", "a?b", "a#b", "50%", &"n".repeat(129)] {
        let msg = expect_400(
            app.post_json(serde_json::to_vec(&good).unwrap(), Some(node))
                .await,
        )
        .await;
        assert!(msg.contains("node id"), "{node}: {msg}");
    }

    assert_eq!(app.stats.frames_stored(), 0, "nothing reached the store");
    assert_eq!(app.events(&format!("{session}.n1")).await.len(), 0);
    // The good frame still goes through afterwards.
    assert_eq!(
        app.post_json(serde_json::to_vec(&good).unwrap(), Some("n1"))
            .await
            .status(),
        200
    );
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

async fn expect_status(resp: reqwest::Response, status: u16) -> serde_json::Value {
    let got = resp.status().as_u16();
    let body: serde_json::Value = resp.json().await.expect("JSON body");
    assert_eq!(got, status, "{body}");
    body
}

async fn media_types_encodings_and_size_limits(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.max_body_bytes = 64 * 1024).await;
    let mut m = new_match(4);
    let json = synth::to_json(&m.frame(0));
    let match_id = format!("{}.n1", m.session_id().to_lowercase());
    let node = [("x-node-id", "n1")];

    let body = expect_status(app.post(json.clone(), "text/plain", &node).await, 415).await;
    assert_eq!(body["success"], false);
    expect_status(
        app.post(json.clone(), "application/json; charset=utf-8", &node)
            .await,
        200,
    )
    .await;

    let gz = gzip(&synth::to_json(&m.frame(1)));
    let h = [("x-node-id", "n1"), ("content-encoding", "gzip")];
    expect_status(app.post(gz, "application/json", &h).await, 200).await;
    let zs = zstd::encode_all(&synth::to_json(&m.frame(2))[..], 3).unwrap();
    let h = [("x-node-id", "n1"), ("content-encoding", "zstd")];
    expect_status(app.post(zs, "application/json", &h).await, 200).await;
    let h = [("x-node-id", "n1"), ("content-encoding", "br")];
    expect_status(app.post(json.clone(), "application/json", &h).await, 415).await;

    // Over the limit as sent, and (a compression bomb) only after decompression.
    let big = vec![b' '; 65 * 1024];
    let body = expect_status(app.post(big.clone(), "application/json", &node).await, 413).await;
    assert!(body["error"].as_str().unwrap().contains("limit"));
    let bomb = gzip(&vec![b' '; 4 * 1024 * 1024]);
    assert!(bomb.len() < 64 * 1024);
    let h = [("x-node-id", "n1"), ("content-encoding", "gzip")];
    expect_status(app.post(bomb, "application/json", &h).await, 413).await;

    assert_eq!(app.events(&match_id).await.len(), 3);
}

async fn unknown_fields_are_ignored_and_counted(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut m = new_match(5);
    let frame = m.frame(0);
    let mut v = protojson(&frame);
    v["futureField"] = serde_json::json!({"nested": [1, 2, 3]});
    v["session"]["newCounter"] = 7.into();
    v["session"]["teams"][0]["players"][0]["newThing"] = "x".into();

    let before = metric_sum(&app, "session_events_frames_unknown_fields_total").await;
    let id = app.store_raw_ok(serde_json::to_vec(&v).unwrap()).await;
    let after = metric_sum(&app, "session_events_frames_unknown_fields_total").await;
    assert!(
        after - before >= 3.0,
        "3 unknown fields counted: {before} → {after}"
    );

    let events = app.events(&id).await;
    assert_eq!(events.len(), 1);
    assert_eq!(
        events[0]["data"],
        protojson(&frame),
        "unknown fields are dropped, the rest kept"
    );
}

trait StoreRaw {
    async fn store_raw_ok(&self, body: Vec<u8>) -> String;
}

impl StoreRaw for TestApp {
    async fn store_raw_ok(&self, body: Vec<u8>) -> String {
        let body = expect_status(self.post_json(body, Some("n1")).await, 200).await;
        body["match_id"].as_str().unwrap().to_owned()
    }
}

/// Sum of every series of a metric in this process's exposition.
pub async fn metric_sum(app: &TestApp, name: &str) -> f64 {
    let text = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with([' ', '{']))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

async fn events_are_ordered_by_frame_timestamp(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut m = new_match(6);
    let frames: Vec<_> = (0..6).map(|i| m.frame(i)).collect();
    let mut id = String::new();
    for i in [4, 1, 5, 0, 3, 2] {
        id = app.store(&frames[i], "n1").await;
    }
    let indexes: Vec<u64> = app
        .events(&id)
        .await
        .iter()
        .map(|e| e["data"]["frameIndex"].as_u64().unwrap_or(0))
        .collect();
    assert_eq!(indexes, [0, 1, 2, 3, 4, 5]);

    // A frame without a timestamp is filed at its receive time: after 2025, before 2100.
    let mut undated = m.frame(10);
    undated.timestamp = None;
    let mut future = m.frame(11);
    future.timestamp = Some(Timestamp {
        seconds: 4_102_444_800,
        nanos: 0,
    });
    app.store(&future, "n1").await;
    app.store(&undated, "n1").await;
    let indexes: Vec<u64> = app
        .events(&id)
        .await
        .iter()
        .map(|e| e["data"]["frameIndex"].as_u64().unwrap_or(0))
        .collect();
    assert_eq!(indexes, [0, 1, 2, 3, 4, 5, 10, 11]);
}

async fn the_same_frame_is_stored_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut m = new_match(7);
    let frame = m.frame(0);
    let id = app.store(&frame, "n1").await;
    assert_eq!(app.store(&frame, "n1").await, id, "a retry answers success");

    let concurrent =
        join_all((0..8).map(|_| app.post_json(synth::to_json(&frame), Some("n1")))).await;
    for resp in concurrent {
        assert_eq!(resp.status(), 200);
    }
    let other = m.frame(1);
    join_all((0..8).map(|_| app.post_json(synth::to_json(&other), Some("n1")))).await;
    assert_eq!(
        app.events(&id).await.len(),
        2,
        "each distinct frame stored once"
    );

    // The same content from another user is another event.
    let resp = app
        .post(
            synth::to_json(&frame),
            "application/json",
            &[("x-node-id", "n1"), ("x-user-id", "u2")],
        )
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(app.events(&id).await.len(), 3);
    assert!(app.stats.frames_duplicate() >= 1);
}

async fn concurrent_posts_share_batches(backend: Backend) {
    let app = spawn_app_with(backend, |c| {
        c.batch_linger = std::time::Duration::from_millis(20)
    })
    .await;
    // FerretDB scans a collection in memory on every non-_id query: keep it small.
    let matches: u64 = 8;
    let per_match: u32 = 10;
    let mut gens: Vec<_> = (0..matches).map(|i| new_match(100 + i)).collect();
    let mut bodies = Vec::new();
    for (g, gen_) in gens.iter_mut().enumerate() {
        for i in 0..per_match {
            bodies.push((g, synth::to_json(&gen_.frame(i))));
        }
    }
    let node = |g: usize| format!("node-{g}");
    let responses = join_all(bodies.into_iter().map(|(g, body)| {
        let app = &app;
        async move { app.post_json(body, Some(&node(g))).await.status().as_u16() }
    }))
    .await;
    assert!(responses.iter().all(|s| *s == 200), "{responses:?}");

    let frames = matches * u64::from(per_match);
    assert_eq!(app.stats.frames_stored(), frames);
    let calls = app.stats.write_calls();
    assert!(
        calls < frames / 2,
        "{frames} frames took {calls} insert calls: no batching"
    );
    for (g, gen_) in gens.iter().enumerate() {
        let id = format!("{}.{}", gen_.session_id().to_lowercase(), node(g));
        assert_eq!(app.events(&id).await.len(), per_match as usize);
    }
}

async fn paging_has_no_gaps_or_repeats(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut m = new_match(8);
    let n = 25;
    let mut id = String::new();
    for i in 0..n {
        id = app.store(&m.frame(i), "n1").await;
    }
    let all: Vec<u64> = app
        .events(&id)
        .await
        .iter()
        .map(|e| e["data"]["frameIndex"].as_u64().unwrap_or(0))
        .collect();
    assert_eq!(all, (0..u64::from(n)).collect::<Vec<_>>());

    let mut paged = Vec::new();
    let mut after: Option<String> = None;
    let mut pages = 0;
    loop {
        let q = match &after {
            Some(c) => format!("{}?limit=7&after={c}", match_path(&id)),
            None => format!("{}?limit=7", match_path(&id)),
        };
        let (status, body) = app.get(&q).await;
        assert_eq!(status, 200, "{body}");
        let events = body["events"].as_array().unwrap();
        assert_eq!(body["count"].as_u64(), Some(events.len() as u64));
        paged.extend(
            events
                .iter()
                .map(|e| e["data"]["frameIndex"].as_u64().unwrap_or(0)),
        );
        pages += 1;
        match body.get("next").and_then(|n| n.as_str()) {
            Some(c) => after = Some(c.to_owned()),
            None => break,
        }
        assert!(pages < 10);
    }
    assert_eq!(paged, all, "pages concatenate to the whole match");
    assert_eq!(pages, 4);

    // since/until bound the frame timestamp, inclusive (frames are 100 ms apart from 18:00).
    let q = format!(
        "{}?since=2025-06-01T18:00:00.500Z&until=2025-06-01T18:00:01Z",
        match_path(&id)
    );
    let (_, body) = app.get(&q).await;
    let idx: Vec<u64> = body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["data"]["frameIndex"].as_u64().unwrap_or(0))
        .collect();
    assert_eq!(idx, [5, 6, 7, 8, 9, 10]);
}

async fn read_parameters_are_validated(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = format!("{}.n1", uuid::Uuid::new_v4());
    let (status, body) = app.get(&match_path(&id)).await;
    assert_eq!((status, body["count"].as_u64()), (200, Some(0)));
    assert_eq!(body["events"], serde_json::json!([]));
    for bad in [
        match_path("not-a-match"),
        match_path(&uuid::Uuid::new_v4().to_string()),
        match_path("00000000-0000-0000-0000-000000000000.n1"),
        format!("{}?limit=0", match_path(&id)),
        format!("{}?limit=abc", match_path(&id)),
        format!("{}?after=garbage", match_path(&id)),
        format!("{}?since=yesterday", match_path(&id)),
    ] {
        let (status, body) = app.get(&bad).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert_eq!(body["success"], false);
    }
}

async fn health_and_probes(backend: Backend) {
    let app = spawn_app(backend).await;
    let (status, body) = app.get("/health").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "healthy");
    assert!(chrono::DateTime::parse_from_rfc3339(body["timestamp"].as_str().unwrap()).is_ok());
    assert_eq!(app.get("/livez").await.0, 200);
    assert_eq!(app.get("/readyz").await.0, 200);
}

async fn unknown_routes_and_methods(backend: Backend) {
    let app = spawn_app(backend).await;
    let (status, body) = app.get("/nope").await;
    assert_eq!((status, &body["success"]), (404, &serde_json::json!(false)));
    let resp = app
        .http
        .put(app.url("/session-events"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 405);
    assert_eq!(resp.headers()["allow"], "POST");
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["success"], false);
    let resp = app
        .http
        .delete(app.url(&match_path(&format!("{}.n", uuid::Uuid::new_v4()))))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 405);
}

async fn enqueue_mode_answers_202_and_still_stores(backend: Backend) {
    let app = spawn_app_with(backend, |c| {
        c.ack_mode = session_events::config::AckMode::Enqueue
    })
    .await;
    let mut m = new_match(9);
    let frame = m.frame(0);
    let body = expect_status(app.post_json(synth::to_json(&frame), Some("n1")).await, 202).await;
    assert_eq!(body["success"], true);
    let match_id = body["match_id"].as_str().unwrap().to_owned();
    // Written behind the answer: it shows up shortly after.
    // A liveness bound, generous for a busy machine.
    let until = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let events = app.events(&match_id).await;
        if let [event] = &events[..] {
            assert_eq!(event["data"], protojson(&frame));
            break;
        }
        assert!(
            std::time::Instant::now() < until,
            "a 202 frame was never stored"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

async fn hostile_input_is_refused_and_never_reaches_the_store(backend: Backend) {
    let app = spawn_app(backend).await;
    let uuid = uuid::Uuid::new_v4();
    // Match ids that look like operators, paths, control characters, or are just huge.
    for raw in [
        format!("{uuid}.%2E%2E%2Fetc%2Fpasswd"),
        format!("{uuid}.n%00x"),
        format!("{uuid}.%E2%98%83"),
        format!("{uuid}.{}", "n".repeat(5000)),
        "%24gt".to_owned(),
    ] {
        let (status, body) = app.get(&match_path(&raw)).await;
        assert_eq!(status, 400, "{raw}: {body}");
    }
    // Operator-looking node ids are legal visible ASCII: they are stored and matched literally,
    // never interpreted as query operators.
    let mut m = new_match(10);
    let good = synth::to_json(&m.frame(0));
    let id = expect_status(
        app.post(
            good.clone(),
            "application/json",
            &[("x-node-id", r#"{"$ne":1}"#)],
        )
        .await,
        200,
    )
    .await;
    let id = id["match_id"].as_str().unwrap().to_owned();
    assert_eq!(
        app.events(&id.replace('%', "%25").replace('"', "%22"))
            .await
            .len(),
        1
    );
    for raw in [r#"{"$ne":2}"#, r#"{"$gt":""}"#, "$where", "$gt"] {
        let path = format!("{}.{raw}", m.session_id()).replace('"', "%22");
        let (status, body) = app.get(&match_path(&path)).await;
        assert_eq!(
            (status, body["count"].as_u64()),
            (200, Some(0)),
            "{raw}: {body}"
        );
    }
    let node_cases: [&[u8]; 3] = [b"\xe2\x98\x83", b"a\tb", b"../../x"];
    for node in node_cases {
        let resp = app
            .http
            .post(app.url("/session-events"))
            .header("content-type", "application/json")
            .header(
                "x-node-id",
                reqwest::header::HeaderValue::from_bytes(node).unwrap(),
            )
            .body(good.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400, "node {node:?}");
    }
    let long_user = "u".repeat(300);
    let resp = app
        .post(
            good.clone(),
            "application/json",
            &[("x-user-id", &long_user)],
        )
        .await;
    assert_eq!(resp.status(), 400);

    let session = m.session_id().to_owned();
    let deep = format!("{}{}{}", "[".repeat(10_000), "1", "]".repeat(10_000));
    let bodies: Vec<Vec<u8>> = vec![
        format!(r#"{{"session":{{"sessionid":"{session}"}},"events":{deep}}}"#).into_bytes(),
        format!(r#"{{"session":{{"sessionid":"{session}"}},"frameIndex":1e30}}"#).into_bytes(),
        format!(r#"{{"session":{{"sessionid":"{session}"}},"frameIndex":123456789012345678901234567890}}"#).into_bytes(),
        format!(r#"{{"session":{{"sessionid":"{session}","sessionid":"{uuid}"}}}}"#).into_bytes(),
        format!(r#"{{"session":{{"sessionid":"{session}","gameClock":NaN}}}}"#).into_bytes(),
        br#"{"session":{"sessionid":{"$gt":""}}}"#.to_vec(),
    ];
    for body in bodies {
        expect_400(app.post_json(body, Some("n1")).await).await;
    }
    assert_eq!(
        app.stats.frames_stored(),
        1,
        "only the literal-node frame was written"
    );
}
