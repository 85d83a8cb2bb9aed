//! The abuse suite: what an unauthenticated client can try against the service, replayed on
//! both stores against the real binary run as a child process (so its memory is its own).
//! Each case asserts the status the client gets, that `/livez` still answers fast (a generous
//! bound: this is liveness, not speed), and that peak RSS stays under the memory bound the
//! README documents for the configuration below. Every figure judged is printed, one
//! `ABUSE case=… backend=…` line per case.
//!
//! The full-disk case mounts a small tmpfs, so it needs root (or CAP_SYS_ADMIN); it fails with
//! a message saying so otherwise.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::time::{Duration, Instant};

use common::service_process::{ServiceProcess, scrape};
use common::{Backend, new_match};
use prost::Message;
use session_events::proto::LobbySessionStateFrame;
use session_events::proto::engine::v1::{Team, TeamMember};
use session_events::proto::telemetry::v1::lobby_session_event::Event;
use session_events::proto::telemetry::v1::{GenericEvent, LobbySessionEvent};
use session_events::synth;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

backend_tests!(
    silent_connections_do_not_lock_out_clients,
    idle_http2_connections_are_closed,
    made_up_methods_and_paths_add_no_metric_series,
    amplifying_bodies_are_refused_without_starving_probes,
    a_document_over_mongodbs_limit_is_a_413,
    stalled_readers_are_bounded_and_cut_off,
    bodies_in_flight_are_bounded,
    dollar_and_dot_keys_are_a_400,
    gzip_is_strict_and_case_insensitive,
    earlier_cases_bombs_slowloris_smuggling,
);

const MIB: u64 = 1024 * 1024;
const QUEUE_MAX_BYTES: u64 = 8 * MIB;
const CACHE_BYTES: u64 = 8 * MIB;
const BODIES_IN_FLIGHT: u64 = 16 * MIB;
const READS_IN_FLIGHT: u64 = 4;
/// `session_events::store::embedded::READ_PAGE_BYTES`; one server batch on MongoDB.
const READ_PAGE_BYTES_EMBEDDED: u64 = 4 * MIB;
const READ_BATCH_BYTES_MONGO: u64 = 16 * MIB;
/// Liveness, not speed: a busy machine may be slow, but a starved runtime takes seconds.
const LIVEZ_BOUND: Duration = Duration::from_secs(1);

/// The README's bound: 64 MiB (process, runtime, connections) + 2 × QUEUE_MAX_BYTES
/// + 3 × MAX_BODY_BYTES_IN_FLIGHT + 2 × MAX_READS_IN_FLIGHT × a read page + EMBEDDED_CACHE_BYTES.
fn memory_bound(backend: Backend) -> u64 {
    let page = match backend {
        Backend::Embedded => READ_PAGE_BYTES_EMBEDDED,
        Backend::Mongo => READ_BATCH_BYTES_MONGO,
    };
    64 * MIB + 2 * QUEUE_MAX_BYTES + 3 * BODIES_IN_FLIGHT + 2 * READS_IN_FLIGHT * page + CACHE_BYTES
}

/// The configuration every case runs with (small bounds, so they are reached quickly), plus
/// the case's own settings (later entries win).
async fn start(backend: Backend, extra: &[(&str, &str)]) -> ServiceProcess {
    let mut env: Vec<(&str, String)> = vec![
        ("QUEUE_MAX_BYTES", QUEUE_MAX_BYTES.to_string()),
        ("EMBEDDED_CACHE_BYTES", CACHE_BYTES.to_string()),
        ("MAX_BODY_BYTES_IN_FLIGHT", BODIES_IN_FLIGHT.to_string()),
        ("MAX_READS_IN_FLIGHT", READS_IN_FLIGHT.to_string()),
        ("SERVER_TIMEOUT", "20s".into()),
        ("MONGO_TIMEOUT", "15s".into()),
        ("HEADER_READ_TIMEOUT", "2s".into()),
        ("SEND_TIMEOUT", "3s".into()),
    ];
    env.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
    ServiceProcess::start_on(backend, &env).await
}

fn addr(service: &ServiceProcess) -> String {
    service.base().trim_start_matches("http://").to_owned()
}

/// Time of one `/livez` on a fresh connection; asserts it answers 200 within the bound.
async fn livez(service: &ServiceProcess) -> Duration {
    let started = Instant::now();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let status = http
        .get(format!("{}/livez", service.base()))
        .send()
        .await
        .map(|r| r.status().as_u16());
    let took = started.elapsed();
    assert_eq!(status.ok(), Some(200), "/livez after {took:?}");
    took
}

/// Prints the case's figures and asserts the liveness and memory bounds.
fn report(case: &str, backend: Backend, service: &ServiceProcess, status: &str, livez: Duration) {
    let peak = service.peak_rss_bytes();
    let bound = memory_bound(backend);
    println!(
        "ABUSE case={case} backend={backend:?} status={status} rss_peak_mib={:.1} \
         bound_mib={:.0} livez_ms={:.1}",
        peak as f64 / MIB as f64,
        bound as f64 / MIB as f64,
        livez.as_secs_f64() * 1e3
    );
    assert!(
        livez < LIVEZ_BOUND,
        "{case}: /livez took {livez:?} (bound {LIVEZ_BOUND:?})"
    );
    assert!(
        peak < bound,
        "{case}: peak RSS {} MiB over the documented bound {} MiB",
        peak / MIB,
        bound / MIB
    );
}

/// Writes `request` and reads until the server closes or `within` passes.
async fn exchange(addr: &str, request: &[u8], within: Duration) -> String {
    let mut conn = TcpStream::connect(addr).await.unwrap();
    let _ = conn.write_all(request).await;
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(within, conn.read_to_end(&mut buf)).await;
    String::from_utf8_lossy(&buf).into_owned()
}

fn status_of(response: &str) -> u16 {
    response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

async fn post(
    service: &ServiceProcess,
    body: Vec<u8>,
    headers: &[(&str, &str)],
) -> (u16, serde_json::Value, Duration) {
    let started = Instant::now();
    let mut req = reqwest::Client::new()
        .post(format!("{}/session-events", service.base()))
        .header("x-node-id", "n1")
        .timeout(Duration::from_secs(60))
        .body(body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.expect("POST reached the service");
    let status = resp.status().as_u16();
    let retry_after = resp.headers().get("retry-after").is_some();
    let text = resp.text().await.unwrap_or_default();
    let mut body: serde_json::Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("POST answer is not JSON ({e}): {text:?}"));
    body["retry_after_header"] = retry_after.into();
    (status, body, started.elapsed())
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

/// A valid frame of match `m` with a GenericEvent whose payload is `payload_bytes` long.
fn big_frame(m: &mut synth::MatchGenerator, index: u32, payload_bytes: usize) -> Vec<u8> {
    let mut frame = m.frame(index);
    frame.events.push(LobbySessionEvent {
        event: Some(Event::GenericEvent(GenericEvent {
            event_type: "abuse.big".into(),
            data: BTreeMap::new(),
            payload: "p".repeat(payload_bytes),
        })),
    });
    synth::to_json(&frame)
}

// 1. Silent connections.

async fn silent_connections_do_not_lock_out_clients(backend: Backend) {
    let service = start(backend, &[("MAX_CONNECTIONS", "100")]).await;
    let addr = addr(&service);
    // 100 sockets that never send a byte, and some that stop inside the HTTP/2 preface (the
    // auto builder is still choosing a protocol) or right after it.
    let mut silent = Vec::new();
    for i in 0..100 {
        let mut c = TcpStream::connect(&addr).await.unwrap();
        match i % 4 {
            0 => c.write_all(b"PRI * HTTP/2.0\r\n").await.unwrap(),
            1 => c.write_all(H2_PREFACE).await.unwrap(),
            _ => {}
        }
        silent.push(c);
    }
    // By construction: wait past the first-request bound (2 s) twice over.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let mut closed = 0;
    for c in &mut silent {
        let mut buf = [0u8; 256];
        // Closed by the server: EOF (possibly after its SETTINGS / GOAWAY) or a reset.
        loop {
            match tokio::time::timeout(Duration::from_millis(500), c.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => {
                    closed += 1;
                    break;
                }
                Ok(Ok(_)) => continue,
                Err(_) => break,
            }
        }
    }
    let took = livez(&service).await;
    println!("silent connections closed by the server: {closed}/100");
    assert_eq!(closed, 100, "every silent connection is closed");
    report(
        "silent_connections",
        backend,
        &service,
        &format!("closed={closed}/100"),
        took,
    );
}

/// The HTTP/2 connection preface plus an empty SETTINGS frame.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";

async fn idle_http2_connections_are_closed(backend: Backend) {
    let service = start(backend, &[]).await;
    // A raw h2 client that sends the preface and nothing else, and is answered a GOAWAY and EOF.
    let started = Instant::now();
    let answer = exchange(&addr(&service), H2_PREFACE, Duration::from_secs(10)).await;
    let held = started.elapsed();
    println!("h2 connection after the preface held for {held:?}");
    assert!(
        held < Duration::from_secs(8),
        "an idle h2 connection is closed after the idle timeout (2 s), held {held:?}"
    );
    // A GOAWAY frame (type 7) is in what the server sent.
    assert!(
        answer.as_bytes().windows(4).any(|w| w[3] == 7 && w[0] == 0),
        "no GOAWAY before the close"
    );
    let took = livez(&service).await;
    report(
        "idle_h2",
        backend,
        &service,
        &format!("closed_after_ms={}", held.as_millis()),
        took,
    );
}

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

// 3. Decoding amplification.

/// ~1 MB bodies of hundreds of thousands of empty messages: JSON `"players":[{},{},…]` and
/// the protobuf equivalent (two bytes an element).
fn amplifying_bodies() -> Vec<(Vec<u8>, &'static str)> {
    let mut m = new_match(3);
    let mut frame = m.frame(0);
    let session = frame.session.as_mut().unwrap();
    session.teams = vec![Team {
        players: vec![TeamMember::default(); 340_000],
        ..Team::default()
    }];
    let json = synth::to_json(&frame);
    let session = frame.session.as_mut().unwrap();
    session.teams[0].players = vec![TeamMember::default(); 500_000];
    let proto = frame.encode_to_vec();
    assert!(json.len() < 1024 * 1024 && proto.len() < 1024 * 1024);
    vec![
        (json, "application/json"),
        (proto, "application/x-protobuf"),
    ]
}

async fn amplifying_bodies_are_refused_without_starving_probes(backend: Backend) {
    let service = start(backend, &[]).await;
    let bodies = amplifying_bodies();
    let base = service.base();
    let mut posts = Vec::new();
    for i in 0..8 {
        let (body, ct) = bodies[i % 2].clone();
        let url = format!("{base}/session-events");
        posts.push(tokio::spawn(async move {
            let resp = reqwest::Client::new()
                .post(url)
                .header("content-type", ct)
                .header("x-node-id", "n1")
                .timeout(Duration::from_secs(120))
                .body(body)
                .send()
                .await
                .unwrap();
            let status = resp.status().as_u16();
            (status, resp.text().await.unwrap_or_default())
        }));
    }
    // /livez and /readyz while the bodies are being decoded.
    let mut worst = Duration::ZERO;
    while posts.iter().any(|p| !p.is_finished()) {
        worst = worst.max(livez(&service).await);
        let started = Instant::now();
        let ready = reqwest::get(format!("{base}/readyz"))
            .await
            .unwrap()
            .status();
        worst = worst.max(started.elapsed());
        assert_eq!(ready, 200);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut statuses = Vec::new();
    for p in posts {
        let (status, text) = p.await.unwrap();
        assert!(
            status == 413 && text.contains("\"success\":false"),
            "{status} {text}"
        );
        statuses.push(status);
    }
    // The bounds leave honest frames alone.
    let (status, body, _) = post(&service, synth::to_json(&new_match(4).frame(0)), &[]).await;
    assert_eq!(status, 200, "{body}");
    report(
        "decode_amplification",
        backend,
        &service,
        &format!("{statuses:?}"),
        worst,
    );
}

async fn a_document_over_mongodbs_limit_is_a_413(backend: Backend) {
    // A body limit an operator raised: the frame fits it, its document does not fit 16 MiB.
    let limit = (20 * MIB).to_string();
    let service = start(
        backend,
        &[
            ("MAX_BODY_BYTES", &limit),
            ("MAX_BODY_BYTES_IN_FLIGHT", &limit),
        ],
    )
    .await;
    let mut m = new_match(5);
    let (status, body, _) = post(&service, big_frame(&mut m, 0, 17 * MIB as usize), &[]).await;
    println!("17 MiB payload: {status} {body}");
    assert_eq!(status, 413, "{body}");
    let took = livez(&service).await;
    // This case alone raises the body bound: judge RSS against its own settings.
    let peak = service.peak_rss_bytes();
    println!(
        "ABUSE case=document_over_16mib backend={backend:?} status={status} rss_peak_mib={:.1} livez_ms={:.1}",
        peak as f64 / MIB as f64,
        took.as_secs_f64() * 1e3
    );
    assert!(peak < memory_bound(backend) + 3 * 20 * MIB);
}

// 4. Readers that stop reading.

async fn stalled_readers_are_bounded_and_cut_off(backend: Backend) {
    let service = start(backend, &[]).await;
    let mut m = new_match(6);
    let mut match_id = String::new();
    // FerretDB (SQLite) builds a whole first batch before answering: 64 MB of it takes longer
    // than MONGO_TIMEOUT on a busy machine, and the case is about the service, not the store.
    let frames = if backend == Backend::Mongo { 16 } else { 64 };
    for i in 0..frames {
        let (status, body, _) = post(&service, big_frame(&mut m, i, 950_000), &[]).await;
        assert_eq!(status, 200, "{body}");
        match_id = body["match_id"].as_str().unwrap().to_owned();
    }
    let after_writes = service.rss_bytes();
    let addr = addr(&service);
    // Six readers that read the response head and then stop reading.
    let request = format!("GET /session-events/{match_id} HTTP/1.1\r\nHost: x\r\n\r\n");
    let mut readers = Vec::new();
    let mut refused = 0;
    for _ in 0..6 {
        let mut c = TcpStream::connect(&addr).await.unwrap();
        c.write_all(request.as_bytes()).await.unwrap();
        let mut head = [0u8; 12];
        c.read_exact(&mut head).await.unwrap();
        let head = String::from_utf8_lossy(&head).into_owned();
        if head.ends_with("503") {
            refused += 1;
        } else {
            assert!(head.ends_with("200"), "{head}");
        }
        readers.push(c);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let stalled_rss = service.rss_bytes();
    // Past the send timeout (3 s) the stalled responses are cut off and their reads end.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let http = reqwest::Client::new();
    let fresh = http
        .get(format!(
            "{}/session-events/{match_id}?limit=1",
            service.base()
        ))
        .send()
        .await
        .unwrap()
        .status();
    drop(readers);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = service.rss_bytes();
    println!(
        "rss after writes {} MiB, with stalled readers {} MiB, after {} MiB; refused {refused}/6, fresh read {fresh}",
        after_writes / MIB,
        stalled_rss / MIB,
        after / MIB
    );
    assert_eq!(refused, 2, "reads beyond MAX_READS_IN_FLIGHT (4) are 503");
    assert_eq!(
        fresh, 200,
        "stalled reads were cut off and their permits returned"
    );
    assert!(
        after < memory_bound(backend),
        "memory is returned after the readers go"
    );
    let took = livez(&service).await;
    report(
        "stalled_readers",
        backend,
        &service,
        &format!("refused={refused}/6 fresh={fresh}"),
        took,
    );
}

// 5. Bodies in flight.

async fn bodies_in_flight_are_bounded(backend: Backend) {
    let service = start(backend, &[]).await;
    let addr = addr(&service);
    // 300 clients each announce ~1 MB, send all but the last few bytes, and stall.
    let len = 1_000_000;
    let head = format!(
        "POST /session-events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         X-Node-Id: n1\r\nContent-Length: {len}\r\n\r\n"
    );
    let body = vec![b' '; len - 10];
    let mut tasks = Vec::new();
    for _ in 0..300 {
        let (addr, head, body) = (addr.clone(), head.clone(), body.clone());
        tasks.push(tokio::spawn(async move {
            let mut c = TcpStream::connect(&addr).await.unwrap();
            let _ = c.write_all(head.as_bytes()).await;
            let _ = c.write_all(&body).await;
            let mut buf = vec![0u8; 4096];
            // A refusal arrives at once; an accepted body waits for its last bytes.
            let n = tokio::time::timeout(Duration::from_secs(8), c.read(&mut buf))
                .await
                .ok()
                .and_then(Result::ok)
                .unwrap_or(0);
            let answer = String::from_utf8_lossy(&buf[..n]).into_owned();
            (answer, c)
        }));
    }
    let mut refused = 0;
    let mut retry_after = 0;
    let mut conns = Vec::new();
    for t in tasks {
        let (answer, c) = t.await.unwrap();
        if status_of(&answer) == 503 {
            refused += 1;
            retry_after += usize::from(answer.to_ascii_lowercase().contains("retry-after:"));
        }
        conns.push(c);
    }
    let took = livez(&service).await;
    println!("refused {refused}/300 (Retry-After on {retry_after})");
    assert!(
        refused >= 250,
        "bodies beyond MAX_BODY_BYTES_IN_FLIGHT (16 MiB) are 503: {refused}/300"
    );
    assert_eq!(retry_after, refused);
    report(
        "bodies_in_flight",
        backend,
        &service,
        &format!("503={refused}/300"),
        took,
    );
    drop(conns);
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

// 7. A full disk (embedded store): a tmpfs of a few MiB holds the data directory.

/// A tmpfs mounted on a fresh directory for the test's lifetime.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            ok,
            "mounting a {size} tmpfs failed: the full-disk test needs root (or CAP_SYS_ADMIN)"
        );
        Self { dir }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_turns_readiness_503_and_posts_fail_fast() {
    let disk = Tmpfs::mount("8m");
    // Room the test frees later, to show the service recovers when the disk does.
    let filler = disk.dir.path().join("filler");
    std::fs::write(&filler, vec![1u8; 2 * MIB as usize]).unwrap();
    let data = disk.dir.path().join("data").display().to_string();
    let service = start(
        Backend::Embedded,
        &[("DATA_DIR", &data), ("SERVER_TIMEOUT", "10s")],
    )
    .await;
    let mut m = new_match(9);
    let mut stored = 0;
    let mut first_failure = None;
    for i in 0..2000 {
        let (status, body, took) = post(&service, big_frame(&mut m, i, 50_000), &[]).await;
        if status != 200 {
            first_failure = Some((status, body, took));
            break;
        }
        stored += 1;
    }
    let (status, body, took) = first_failure.expect("the disk fills up");
    println!("stored {stored} frames; first failure {status} after {took:?}: {body}");
    let ready = reqwest::get(format!("{}/readyz", service.base()))
        .await
        .unwrap();
    let ready_status = ready.status().as_u16();
    let ready_body = ready.text().await.unwrap();
    println!("/readyz: {ready_status} {ready_body}");
    assert_eq!(ready_status, 503, "{ready_body}");
    assert!(ready_body.contains("write"), "the reason: {ready_body}");
    // POSTs now fail fast with 503 + Retry-After, not at the 10 s deadline.
    let (status, body, took) = post(&service, big_frame(&mut m, 5000, 50_000), &[]).await;
    println!("POST on a full disk: {status} after {took:?}: {body}");
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["retry_after_header"], true);
    assert!(took < Duration::from_secs(3), "fast: {took:?}");
    let livez_took = livez(&service).await;
    // Free the disk: readiness and writes come back.
    std::fs::remove_file(&filler).unwrap();
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let r = reqwest::get(format!("{}/readyz", service.base()))
            .await
            .unwrap();
        if r.status() == 200 {
            break;
        }
        assert!(Instant::now() < until, "readiness did not recover");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (status, body, _) = post(&service, big_frame(&mut m, 6000, 10_000), &[]).await;
    assert_eq!(status, 200, "{body}");
    report(
        "full_disk",
        Backend::Embedded,
        &service,
        &format!("readyz={ready_status} post={status}"),
        livez_took,
    );
    drop(service);
}
