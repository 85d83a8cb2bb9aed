//! Faults under load: the project's load generator (`loadgen`, a subprocess) sends a steady
//! open-model load while the database is killed or paused, the service is stopped or killed,
//! or the load exceeds what a paused database lets the queue hold. Every case checks with the
//! generator's `--verify` that each acknowledged frame is stored exactly once, and checks what
//! clients saw against the fault's moments (the generator logs every request's times).
//! Each test has its own FerretDB (or embedded store) and prints one `LOAD-FAULT |` line.

mod common;

use std::time::{Duration, Instant, SystemTime};

use common::loadgen::{Load, Outcome, report};
use common::service_process::{ServiceProcess, metric_value, scrape};
use common::{MongoServer, spawn_config, test_config, unique_name};
use session_events::config::Config;

/// Every case sends modest rates, and none derives its verdict from a speed it measured, so they
/// may share the machine (read). A case that needed the machine to itself would take `write`.
static MACHINE: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

/// A margin for scheduling on a shared, busy machine (a send the generator makes late, an
/// answer the kernel delivers late); never what is measured. Generous: it bounds liveness
/// ("answered by the deadline, not when the client gives up at 30 s"), not speed.
const SLACK: Duration = Duration::from_secs(5);
/// A send scheduled this close to a fault's moment may have gone out on either side of it.
const MARGIN: Duration = Duration::from_millis(200);

fn config_for(db: &MongoServer, deadline: Duration) -> Config {
    let mut config = test_config();
    config.mongo_uri = Some(db.uri());
    config.database_name = unique_name("se_load_fault");
    config.server_timeout = deadline;
    config
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

/// The database SIGKILLed mid-load and started again 3 s later. Requests wait in the queue
/// while the writers retry; those whose deadline passes are answered 504, the rest are written
/// once the database is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_killed_and_restarted_under_load() {
    let _shared = MACHINE.read().await;
    let started = Instant::now();
    let mut db = MongoServer::start();
    let deadline = Duration::from_secs(5);
    let app = spawn_config(config_for(&db, deadline)).await;
    let load = Load::new(20.0, Duration::from_secs(12));
    let mut run = load.start(&app.base);
    run.wait_sending().await;

    tokio::time::sleep(Duration::from_secs(3)).await;
    let killed = SystemTime::now();
    db.kill();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let restarting = SystemTime::now();
    db.restart();
    let r = run.finish().await;
    let (killed, restarting) = (r.offset(killed), r.offset(restarting));
    let fig = r.figures(&[("killed", killed), ("restarting", restarting)]);

    r.assert_nothing_lost_or_doubled();
    r.assert_statuses_within(&[503, 504]);
    assert!(
        r.transport().is_empty(),
        "the service answers every request itself: {:?}: {fig}",
        r.transport()
    );
    assert!(
        r.max_latency() <= deadline + SLACK,
        "answered by the deadline: slowest {:?}: {fig}",
        r.max_latency()
    );
    assert!(
        r.acked_before(killed) > 0,
        "acknowledged before the kill: {fig}"
    );
    assert_eq!(
        r.acked_within(killed + MARGIN, restarting),
        0,
        "nothing is acknowledged while there is no database to write to: {fig}"
    );
    assert!(
        r.acked_sent_after(restarting) > 0,
        "frames sent after the restart are acknowledged: {fig}"
    );
    let recovery = r
        .first_ack_after(restarting)
        .unwrap_or_else(|| panic!("acknowledged again: {fig}"));
    report(
        "database SIGKILL, restarted after 3 s",
        started,
        &format!(
            "load {} | {} | slowest answer {} | first ack {} after the restart, all acked from {} after",
            load.describe(),
            r.line(),
            secs(r.max_latency()),
            secs(recovery),
            secs(r.all_acked_after(restarting)),
        ),
    );
}

/// The database SIGSTOPped for twice the request deadline, then SIGCONTed: the connections stay
/// open and nothing answers. Every request is still answered by its deadline (504, or 503
/// once the queue is full) instead of hanging, and writing resumes after SIGCONT.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_paused_longer_than_the_deadline_under_load() {
    let _shared = MACHINE.read().await;
    let started = Instant::now();
    let db = MongoServer::start();
    let deadline = Duration::from_secs(3);
    let app = spawn_config(config_for(&db, deadline)).await;
    // Paused for long enough that requests sent in its first part pass their deadline while
    // it lasts, even when the generator sends them up to SLACK late.
    let pause = deadline + SLACK + Duration::from_secs(2);
    let load = Load::new(20.0, pause + Duration::from_secs(8));
    let mut run = load.start(&app.base);
    run.wait_sending().await;

    tokio::time::sleep(Duration::from_secs(3)).await;
    db.pause();
    let paused = SystemTime::now();
    tokio::time::sleep(pause).await;
    let resuming = SystemTime::now();
    db.resume();
    let r = run.finish().await;
    let (paused, resuming) = (r.offset(paused), r.offset(resuming));
    let fig = r.figures(&[("paused", paused), ("resuming", resuming)]);

    r.assert_nothing_lost_or_doubled();
    r.assert_statuses_within(&[503, 504]);
    assert!(
        r.transport().is_empty(),
        "no request hangs until the client gives up: {:?}: {fig}",
        r.transport()
    );
    assert!(
        r.max_latency() <= deadline + SLACK,
        "answered by the deadline: slowest {:?}: {fig}",
        r.max_latency()
    );
    let expired = r.sent_within(paused + MARGIN, resuming.saturating_sub(deadline + SLACK));
    assert!(
        !expired.is_empty(),
        "requests were sent during the pause: {fig}"
    );
    assert!(
        expired
            .iter()
            .all(|q| matches!(q.outcome, Outcome::Status(503 | 504))),
        "a request whose deadline passes during the pause is answered 503/504: {expired:?}: {fig}"
    );
    assert!(
        r.acked_before(paused) > 0,
        "acknowledged before the pause: {fig}"
    );
    assert!(
        r.acked_sent_after(resuming) > 0,
        "frames sent after SIGCONT are acknowledged: {fig}"
    );
    let recovery = r
        .first_ack_after(resuming)
        .unwrap_or_else(|| panic!("acknowledged again: {fig}"));
    report(
        &format!(
            "database SIGSTOP {} (deadline {}), SIGCONT",
            secs(pause),
            secs(deadline)
        ),
        started,
        &format!(
            "load {} | {} | slowest answer {} | first ack {} after SIGCONT, all acked from {} after",
            load.describe(),
            r.line(),
            secs(r.max_latency()),
            secs(recovery),
            secs(r.all_acked_after(resuming)),
        ),
    );
}

/// SIGTERM to the service mid-load, then the same service started again: the process drains
/// and exits 0 within SHUTDOWN_TIMEOUT, and every frame it answered 200 is stored. While it is
/// down, clients get 503 (shutting down) or connection errors.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_sigterm_under_load() {
    let _shared = MACHINE.read().await;
    let started = Instant::now();
    let db = MongoServer::start();
    let (drain, shutdown_timeout) = (Duration::from_secs(1), Duration::from_secs(10));
    let mut service = ServiceProcess::start(&[
        ("MONGO_URI", db.uri()),
        ("DATABASE_NAME", unique_name("se_load_term")),
        ("SERVER_TIMEOUT", "5s".into()),
        // Reads for verification scan the collection on FerretDB: slow, and not an outage.
        ("MONGO_TIMEOUT", "30s".into()),
        ("SHUTDOWN_DRAIN_DELAY", "1s".into()),
        ("SHUTDOWN_TIMEOUT", "10s".into()),
    ])
    .await;
    let load = Load::new(20.0, Duration::from_secs(12));
    let mut run = load.start(&service.base());
    run.wait_sending().await;

    tokio::time::sleep(Duration::from_secs(3)).await;
    let terminated = SystemTime::now();
    let clock = Instant::now();
    service.sigterm();
    let status = service.wait_exit(shutdown_timeout + SLACK).await;
    let shutdown_took = clock.elapsed();
    let exited = SystemTime::now();
    assert!(status.success(), "exit after SIGTERM: {status}");
    // The service bounds its shutdown by its own clock; seeing the exit adds scheduling.
    assert!(
        shutdown_took <= shutdown_timeout + SLACK,
        "shutdown took {shutdown_took:?}, over SHUTDOWN_TIMEOUT {shutdown_timeout:?} (+ {SLACK:?})"
    );
    assert!(
        service.log().contains("shutdown complete"),
        "{}",
        service.log()
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    let restarting = SystemTime::now();
    service.restart().await;
    let r = run.finish().await;
    let (terminated, exited, restarting) =
        (r.offset(terminated), r.offset(exited), r.offset(restarting));
    let fig = r.figures(&[
        ("terminated", terminated),
        ("exited", exited),
        ("restarting", restarting),
    ]);

    r.assert_nothing_lost_or_doubled();
    r.assert_statuses_within(&[503]);
    assert!(
        !r.transport().contains_key("timeout"),
        "nothing hangs: {:?}: {fig}",
        r.transport()
    );
    let down = r.sent_within(exited + MARGIN, restarting.saturating_sub(MARGIN));
    assert!(
        !down.is_empty()
            && down
                .iter()
                .all(|q| matches!(q.outcome, Outcome::Transport(_))),
        "nothing answers while the service is down: {down:?}: {fig}"
    );
    assert!(
        r.acked_before(terminated) > 0,
        "acknowledged before SIGTERM: {fig}"
    );
    assert!(
        r.acked_sent_after(restarting) > 0,
        "frames sent after the restart are acknowledged: {fig}"
    );
    let recovery = r
        .first_ack_after(restarting)
        .unwrap_or_else(|| panic!("acknowledged again: {fig}"));
    report(
        "service SIGTERM, restarted 1 s after it exited",
        started,
        &format!(
            "load {} | {} | shutdown took {} (drain {}, limit {}) | first ack {} after the restart",
            load.describe(),
            r.line(),
            secs(shutdown_took),
            secs(drain),
            secs(shutdown_timeout),
            secs(recovery),
        ),
    );
}

/// SIGKILL to the service on the embedded store mid-load, restarted on the same directory:
/// every frame answered 200 was fsynced before the answer, so it is there after the restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_sigkill_on_the_embedded_store_under_load() {
    let _shared = MACHINE.read().await;
    let started = Instant::now();
    let data = tempfile::tempdir().unwrap();
    let mut service = ServiceProcess::start(&[
        ("DATA_DIR", data.path().display().to_string()),
        ("SERVER_TIMEOUT", "5s".into()),
    ])
    .await;
    let load = Load::new(30.0, Duration::from_secs(10));
    let mut run = load.start(&service.base());
    run.wait_sending().await;

    tokio::time::sleep(Duration::from_secs(3)).await;
    let killed = SystemTime::now();
    service.kill();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let restarting = SystemTime::now();
    service.restart().await;
    let r = run.finish().await;
    let (killed, restarting) = (r.offset(killed), r.offset(restarting));
    let fig = r.figures(&[("killed", killed), ("restarting", restarting)]);

    r.assert_nothing_lost_or_doubled();
    r.assert_statuses_within(&[503, 504]);
    assert!(
        !r.transport().contains_key("timeout"),
        "nothing hangs: {:?}: {fig}",
        r.transport()
    );
    let down = r.sent_within(killed + MARGIN, restarting.saturating_sub(MARGIN));
    assert!(
        !down.is_empty()
            && down
                .iter()
                .all(|q| matches!(q.outcome, Outcome::Transport(_))),
        "requests sent while the service is dead fail to connect: {down:?}: {fig}"
    );
    assert!(
        r.acked_before(killed) > 0,
        "acknowledged before the kill: {fig}"
    );
    assert!(
        r.acked_sent_after(restarting) > 0,
        "frames sent after the restart are acknowledged: {fig}"
    );
    let recovery = r
        .first_ack_after(restarting)
        .unwrap_or_else(|| panic!("acknowledged again: {fig}"));
    report(
        "service SIGKILL on the embedded store, restarted after 1 s",
        started,
        &format!(
            "load {} | {} | first ack {} after the restart",
            load.describe(),
            r.line(),
            secs(recovery),
        ),
    );
}

/// The overload case's queue, sized in frames: what the paused store can hold back.
const OVERLOAD_QUEUE_FRAMES: u64 = 24;
/// Frames one writer takes into a batch (and so holds while the store hangs).
const OVERLOAD_BATCH_FRAMES: u64 = 4;
/// The byte bound: above what 24 frames of ~12 KB need, so the count is what binds, and what
/// bounds the service's memory.
const OVERLOAD_QUEUE_BYTES: u64 = 1 << 20;

/// Overload made by construction, not measured: the database is paused (SIGSTOP), so the
/// service's capacity is zero, and 100 frames are offered to a queue of 24 frames plus one
/// writer holding a batch of 4. Whatever the machine's speed, at most those can be accepted
/// (besides what was written before the pause, counted apart): the rest must be refused at once with 503 + Retry-After, nothing may be acknowledged while the
/// store hangs, memory stays bounded by the queue, and once the database resumes the queue
/// drains, every accepted frame is acknowledged (stored exactly once), and a client sending one
/// frame at a time (a closed loop, which can never exceed any capacity) has every frame
/// acknowledged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sustained_overload_of_a_paused_store_is_refused_at_once() {
    let _shared = MACHINE.read().await;
    let started = Instant::now();
    let db = MongoServer::start();
    let deadline = Duration::from_secs(30);
    let service = ServiceProcess::start(&[
        ("MONGO_URI", db.uri()),
        ("DATABASE_NAME", unique_name("se_load_overload")),
        ("WRITERS", "1".into()),
        ("BATCH_MAX_DOCS", OVERLOAD_BATCH_FRAMES.to_string()),
        ("QUEUE_CAPACITY", OVERLOAD_QUEUE_FRAMES.to_string()),
        ("QUEUE_MAX_BYTES", OVERLOAD_QUEUE_BYTES.to_string()),
        // Longer than the pause: a frame the queue accepted waits for the store, not for a 504.
        ("SERVER_TIMEOUT", humantime(deadline)),
        ("MONGO_TIMEOUT", humantime(deadline)),
    ])
    .await;
    let base = service.base();

    let overload = Load::new(25.0, Duration::from_secs(4));
    let sampler = QueueSampler::start(&base);
    let mut run = overload.start(&base);
    // The generator checks /health (which needs the store) before it sends, so the pause comes
    // right after sending starts; what was acknowledged before it is counted apart.
    run.wait_sending().await;
    db.pause();
    let paused = SystemTime::now();
    // Sending lasts `overload.duration`; the store stays paused until it is over.
    tokio::time::sleep(overload.duration + Duration::from_millis(500)).await;
    let resuming = SystemTime::now();
    db.resume();
    let r = run.finish().await;
    let samples = sampler.stop().await;
    let peak_rss = service.peak_rss_bytes();
    let (paused, resuming) = (r.offset(paused), r.offset(resuming));
    let refused = r.by_status().get(&503).copied().unwrap_or(0);
    // Before the pause the store wrote at its own speed: those count apart. After it, the
    // queue and the writer's batch hold at most `most_accepted` more, plus a batch whose write
    // was already answered by the store when it stopped.
    let acked_before_pause = r.acked_before(paused) as u64;
    let most_accepted = acked_before_pause + OVERLOAD_QUEUE_FRAMES + 2 * OVERLOAD_BATCH_FRAMES;
    let figures = format!(
        "load {} | {} | queue {OVERLOAD_QUEUE_FRAMES} frames + batch {OVERLOAD_BATCH_FRAMES} | \
         paused at {} ({acked_before_pause} acked before), resumed at {}",
        overload.describe(),
        r.line(),
        secs(paused),
        secs(resuming),
    );

    r.assert_nothing_lost_or_doubled();
    r.assert_statuses_within(&[503]);
    assert!(
        r.transport().is_empty(),
        "every request is answered: {figures}"
    );
    assert!(
        r.sent() > most_accepted,
        "the load offers more than the queue and the writer can hold: {figures}"
    );
    assert!(
        r.acked() <= most_accepted,
        "at most {most_accepted} frames are accepted (those acked before the pause, the queue \
         and two batches): {figures}"
    );
    assert_eq!(
        refused,
        r.sent() - r.acked(),
        "every frame not accepted is refused with 503: {figures}"
    );
    assert_eq!(
        r.acked_within(paused, resuming),
        0,
        "nothing sent during the pause is acknowledged before the store resumes: {figures}"
    );
    assert_eq!(
        r.summary["unavailable_without_retry_after"].as_u64(),
        Some(0),
        "every 503 carries Retry-After: {figures}"
    );
    // Liveness, not speed: "at once" means without waiting for the store (it is paused for the
    // whole send) or for the deadline.
    let refused_max = r
        .requests
        .iter()
        .filter(|q| q.outcome == Outcome::Status(503))
        .map(|q| q.done)
        .max()
        .unwrap_or_default();
    assert!(
        refused_max < resuming,
        "every refusal came back while the store was still paused (last at {}, resumed at {}): \
         {figures}",
        secs(refused_max),
        secs(resuming),
    );
    let rss_bound = 2 * OVERLOAD_QUEUE_BYTES + (64 << 20);
    assert!(
        peak_rss <= rss_bound,
        "peak RSS {peak_rss} over 2 × QUEUE_MAX_BYTES + 64 MiB = {rss_bound}: {figures}"
    );
    let most_queued = samples.iter().map(|s| s.depth).fold(0.0, f64::max);
    let most_queued_bytes = samples.iter().map(|s| s.bytes).fold(0.0, f64::max);
    assert!(
        most_queued <= OVERLOAD_QUEUE_FRAMES as f64
            && most_queued_bytes <= OVERLOAD_QUEUE_BYTES as f64,
        "queue depth {most_queued} (bound {OVERLOAD_QUEUE_FRAMES}), bytes {most_queued_bytes} \
         (bound {OVERLOAD_QUEUE_BYTES}): {figures}"
    );
    let drained = samples
        .iter()
        .map(|s| (r.offset(s.at), s.depth))
        .find(|(t, depth)| *t >= resuming && *depth == 0.0)
        .map(|(t, _)| t - resuming)
        .unwrap_or_else(|| panic!("the queue drains once the store resumes: {figures}"));

    // A closed loop: the next frame is sent once the last is answered.
    let http = reqwest::Client::builder()
        .timeout(deadline * 2)
        .build()
        .unwrap();
    let mut m = common::new_match(33);
    let mut match_id = String::new();
    let closed_loop = 10;
    for i in 0..closed_loop {
        let resp = http
            .post(format!("{base}/session-events"))
            .header("content-type", "application/json")
            .header("x-node-id", "n1")
            .body(session_events::synth::to_json(&m.frame(i)))
            .send()
            .await
            .expect("POST reached the service");
        let status = resp.status().as_u16();
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(
            status, 200,
            "one frame at a time after the overload: frame {i} answered {body} ({figures})"
        );
        match_id = body["match_id"].as_str().unwrap().to_owned();
    }
    let events: serde_json::Value = http
        .get(format!("{base}/session-events/{match_id}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        events["count"].as_u64(),
        Some(u64::from(closed_loop)),
        "every frame of the closed loop is stored: {figures}"
    );
    report(
        "overload of a paused store, then a closed loop",
        started,
        &format!(
            "{figures} | last 503 at {} | peak RSS {:.1} MB (bound {:.1} MB) | most queued \
             {most_queued:.0} frames / {most_queued_bytes:.0} bytes | queue empty {} after \
             the store resumed | then {closed_loop} frames one at a time: all acknowledged",
            secs(refused_max),
            peak_rss as f64 / 1e6,
            rss_bound as f64 / 1e6,
            secs(drained),
        ),
    );
}

/// `30s`, as the service's duration settings take it.
fn humantime(d: Duration) -> String {
    format!("{}ms", d.as_millis())
}

struct Sample {
    at: SystemTime,
    depth: f64,
    bytes: f64,
}

/// Polls the queue depth and bytes on `/metrics` every 100 ms until stopped.
struct QueueSampler {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Vec<Sample>>,
}

impl QueueSampler {
    fn start(base: &str) -> Self {
        let base = base.to_owned();
        let (stop, mut stopped) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(async move {
            let mut samples = Vec::new();
            loop {
                let text = scrape(&base).await;
                samples.push(Sample {
                    at: SystemTime::now(),
                    depth: metric_value(&text, "session_events_queue_depth"),
                    bytes: metric_value(&text, "session_events_queue_bytes"),
                });
                tokio::select! {
                    _ = &mut stopped => return samples,
                    _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                }
            }
        });
        Self { stop, task }
    }

    async fn stop(self) -> Vec<Sample> {
        let _ = self.stop.send(());
        self.task.await.expect("queue sampler")
    }
}
