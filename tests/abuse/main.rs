//! The abuse suite: what an unauthenticated client can try against the service, replayed on
//! both stores against the real binary run as a child process (so its memory is its own).
//! Each case asserts the status the client gets, that `/livez` still answers fast (a generous
//! bound: this is liveness, not speed), and that peak RSS stays under the memory bound the
//! README documents for the configuration below. Every figure judged is printed, one
//! `ABUSE case=… backend=…` line per case.
//!
//! The full-disk case mounts a small tmpfs, so it needs root (or CAP_SYS_ADMIN); it fails with
//! a message saying so otherwise.

#[path = "../common/mod.rs"]
mod common;

mod connections;
mod decoding;
mod disk;
mod requests;

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
