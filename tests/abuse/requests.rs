//! Requests made to hurt: made-up methods and paths (2, metric cardinality), `$`/`.` keys (6),
//! gzip, bombs, slowloris and smuggling (8), and tokens kept out of debug logs.

use super::*;

backend_tests!(
    made_up_methods_and_paths_add_no_metric_series,
    dollar_and_dot_keys_are_a_400,
    gzip_is_strict_and_case_insensitive,
    earlier_cases_bombs_slowloris_smuggling,
);

// 2. Metric label cardinality.

async fn made_up_methods_and_paths_add_no_metric_series(backend: Backend) {
    let service = start(backend, &[]).await;
    let addr = addr(&service);
    let before = scrape(&service.base()).await.len();
    for i in 0..300 {
        let req = format!("MADEUP{i} /nope/{i} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let answer = exchange(&addr, req.as_bytes(), Duration::from_secs(5)).await;
        assert!(status_of(&answer) >= 400, "{answer}");
    }
    let text = scrape(&service.base()).await;
    let methods: BTreeSet<&str> = text
        .lines()
        .filter(|l| l.starts_with("session_events_http_request"))
        .filter_map(|l| l.split("method=\"").nth(1)?.split('"').next())
        .collect();
    let routes: BTreeSet<&str> = text
        .lines()
        .filter(|l| l.starts_with("session_events_http_request"))
        .filter_map(|l| l.split("route=\"").nth(1)?.split('"').next())
        .collect();
    println!(
        "/metrics {before} -> {} bytes; {} method labels {:?}…; routes {routes:?}",
        text.len(),
        methods.len(),
        methods.iter().take(5).collect::<Vec<_>>()
    );
    assert!(
        methods.len() <= 10 && !methods.iter().any(|m| m.starts_with("MADEUP")),
        "method labels come from a fixed set: {methods:?}"
    );
    assert!(
        !routes.iter().any(|r| r.starts_with("/nope")),
        "route labels come from the matched route: {routes:?}"
    );
    assert!(methods.contains("other") && routes.contains("unmatched"));
    let took = livez(&service).await;
    report(
        "made_up_methods",
        backend,
        &service,
        &format!("metrics_bytes={}", text.len()),
        took,
    );
}

// 6. `$` and `.` in GenericEvent.data keys.

async fn dollar_and_dot_keys_are_a_400(backend: Backend) {
    let service = start(backend, &[]).await;
    let mut m = new_match(7);
    let mut statuses = Vec::new();
    for key in ["$where", "a.b", "$", "."] {
        let mut frame: LobbySessionStateFrame = m.frame(0);
        frame.events.push(LobbySessionEvent {
            event: Some(Event::GenericEvent(GenericEvent {
                event_type: "abuse.keys".into(),
                data: BTreeMap::from([(key.to_owned(), "v".to_owned())]),
                payload: String::new(),
            })),
        });
        let (status, body, _) = post(&service, synth::to_json(&frame), &[]).await;
        assert_eq!(status, 400, "{key}: {body}");
        assert!(
            body["error"].as_str().unwrap().contains("data key"),
            "{body}"
        );
        let (status, body, _) = post(
            &service,
            frame.encode_to_vec(),
            &[("content-type", "application/x-protobuf")],
        )
        .await;
        assert_eq!(status, 400, "{key} (protobuf): {body}");
        statuses.push(status);
    }
    // Nothing of it was stored; a key that merely holds `$` later on is fine.
    let mut frame = m.frame(1);
    frame.events.push(LobbySessionEvent {
        event: Some(Event::GenericEvent(GenericEvent {
            event_type: "abuse.keys".into(),
            data: BTreeMap::from([("price$".to_owned(), "v".to_owned())]),
            payload: String::new(),
        })),
    });
    let (status, body, _) = post(&service, synth::to_json(&frame), &[]).await;
    assert_eq!(status, 200, "{body}");
    let id = body["match_id"].as_str().unwrap();
    let events: serde_json::Value = reqwest::get(format!("{}/session-events/{id}", service.base()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(events["count"], 1, "{events}");
    let took = livez(&service).await;
    report(
        "dollar_dot_keys",
        backend,
        &service,
        &format!("{statuses:?}"),
        took,
    );
}

// 8. The small ones.

async fn gzip_is_strict_and_case_insensitive(backend: Backend) {
    let service = start(backend, &[]).await;
    let mut m = new_match(8);
    let frame = synth::to_json(&m.frame(0));
    let mut two_members = gzip(&frame);
    two_members.extend(gzip(b"{\"more\":1}"));
    let (status, body, _) = post(
        &service,
        two_members,
        &[
            ("content-type", "application/json"),
            ("content-encoding", "gzip"),
        ],
    )
    .await;
    assert_eq!(status, 400, "data after the first gzip member: {body}");
    let mut trailing = gzip(&frame);
    trailing.extend_from_slice(b"garbage");
    let (trailing_status, body, _) = post(
        &service,
        trailing,
        &[
            ("content-type", "application/json"),
            ("content-encoding", "gzip"),
        ],
    )
    .await;
    assert_eq!(
        trailing_status, 400,
        "garbage after the gzip member: {body}"
    );
    let (upper, body, _) = post(
        &service,
        gzip(&frame),
        &[
            ("content-type", "application/json"),
            ("content-encoding", "GZIP"),
        ],
    )
    .await;
    assert_eq!(upper, 200, "Content-Encoding is case-insensitive: {body}");
    let took = livez(&service).await;
    report(
        "gzip",
        backend,
        &service,
        &format!("two_members={status} trailing={trailing_status} GZIP={upper}"),
        took,
    );
}

async fn earlier_cases_bombs_slowloris_smuggling(backend: Backend) {
    let service = start(backend, &[]).await;
    let addr = addr(&service);
    // A gzip bomb: 64 MiB of zeros in ~64 KB.
    let bomb = gzip(&vec![0u8; 64 * MIB as usize]);
    let (bomb_status, body, _) = post(
        &service,
        bomb,
        &[
            ("content-type", "application/json"),
            ("content-encoding", "gzip"),
        ],
    )
    .await;
    assert_eq!(bomb_status, 413, "{body}");
    // Smuggling shapes: Content-Length with Transfer-Encoding, two different lengths.
    let both = "POST /session-events HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\
                Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
    let te_cl = status_of(&exchange(&addr, both.as_bytes(), Duration::from_secs(5)).await);
    let two = "POST /session-events HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\
               Content-Length: 5\r\n\r\n{}{}{";
    let cl_cl = status_of(&exchange(&addr, two.as_bytes(), Duration::from_secs(5)).await);
    assert_eq!(cl_cl, 400);
    assert!((400..500).contains(&te_cl), "{te_cl}");
    // Slowloris: headers that never finish are cut off at HEADER_READ_TIMEOUT (2 s).
    let started = Instant::now();
    let slow = exchange(
        &addr,
        b"POST /session-events HTTP/1.1\r\nHost: x\r\n",
        Duration::from_secs(10),
    )
    .await;
    let held = started.elapsed();
    assert!(held < Duration::from_secs(8), "slowloris held {held:?}");
    assert!(
        slow.is_empty() || slow.starts_with("HTTP/1.1 408"),
        "{slow}"
    );
    let took = livez(&service).await;
    report(
        "bombs_slowloris_smuggling",
        backend,
        &service,
        &format!(
            "bomb={bomb_status} te+cl={te_cl} cl+cl={cl_cl} slowloris_ms={}",
            held.as_millis()
        ),
        took,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debug_logs_never_hold_an_access_token() {
    let service = start(Backend::Embedded, &[("RUST_LOG", "debug")]).await;
    let secret = "SeCrEtToKeN0123456789";
    let id = format!("{}.n1", uuid::Uuid::new_v4());
    for path in [
        format!("/session-events/{id}?access_token={secret}"),
        format!("/session-events/{id}?limit=1&access_token={secret}"),
        format!("/nope?access_token={secret}"),
    ] {
        let _ = reqwest::get(format!("{}{path}", service.base()))
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let log = service.log();
    assert!(
        log.contains("limit=1"),
        "the request is logged at debug: {log}"
    );
    assert!(!log.contains(secret), "the access token is in the log");
    let took = livez(&service).await;
    report(
        "access_token_log",
        Backend::Embedded,
        &service,
        "redacted",
        took,
    );
}
