//! Faults under load: the project's load generator (`loadgen`, a subprocess) sends a steady
//! open-model load while the database is killed or paused, the service is stopped or killed,
//! or the load is three times what the service can write. Every case checks with the
//! generator's `--verify` that each acknowledged frame is stored exactly once, and checks what
//! clients saw against the fault's moments (the generator logs every request's times).
//! Each test has its own FerretDB (or embedded store) and prints one `LOAD-FAULT |` line.

mod common;

use std::time::{Duration, Instant, SystemTime};

use common::loadgen::{Load, Outcome, report};
use common::service_process::{ServiceProcess, metric_value, scrape};
use common::{MongoServer, spawn_config, test_config, unique_name};
use session_events::config::Config;

/// The overload case measures the machine's capacity and then holds three times it: a loaded
/// test alongside would change the capacity between the two, so it runs alone (write). The
/// other cases send modest rates and may share the machine with each other (read).
static MACHINE: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

/// A margin for scheduling on a shared, busy machine; never what is measured.
const SLACK: Duration = Duration::from_secs(2);
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

    r.assert_nothing_lost_or_doubled();
    r.assert_statuses_within(&[503, 504]);
    assert!(
        r.transport().is_empty(),
        "the service answers every request itself: {:?}",
        r.transport()
    );
    assert!(
        r.max_latency() <= deadline + SLACK,
        "answered by the deadline: slowest {:?}",
        r.max_latency()
    );
    assert!(r.acked_before(killed) > 0, "acknowledged before the kill");
    assert_eq!(
        r.acked_within(killed + MARGIN, restarting),
        0,
        "nothing is acknowledged while there is no database to write to"
    );
    assert!(
        r.acked_sent_after(restarting) > 0,
        "frames sent after the restart are acknowledged"
    );
    let recovery = r.first_ack_after(restarting).expect("acknowledged again");
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
    let load = Load::new(20.0, Duration::from_secs(14));
    let mut run = load.start(&app.base);
    run.wait_sending().await;

    tokio::time::sleep(Duration::from_secs(3)).await;
    db.pause();
    let paused = SystemTime::now();
    tokio::time::sleep(deadline * 2).await;
    let resuming = SystemTime::now();
    db.resume();
    let r = run.finish().await;
    let (paused, resuming) = (r.offset(paused), r.offset(resuming));

    r.assert_nothing_lost_or_doubled();
    r.assert_statuses_within(&[503, 504]);
    assert!(
        r.transport().is_empty(),
        "no request hangs until the client gives up: {:?}",
        r.transport()
    );
    assert!(
        r.max_latency() <= deadline + SLACK,
        "answered by the deadline: slowest {:?}",
        r.max_latency()
    );
    let expired = r.sent_within(paused + MARGIN, resuming.saturating_sub(deadline + SLACK));
    assert!(!expired.is_empty(), "requests were sent during the pause");
    assert!(
        expired
            .iter()
            .all(|q| matches!(q.outcome, Outcome::Status(503 | 504))),
        "a request whose deadline passes during the pause is answered 503/504: {expired:?}"
    );
    assert!(r.acked_before(paused) > 0, "acknowledged before the pause");
    assert!(
        r.acked_sent_after(resuming) > 0,
        "frames sent after SIGCONT are acknowledged"
    );
    let recovery = r.first_ack_after(resuming).expect("acknowledged again");
    report(
        "database SIGSTOP 6 s (deadline 3 s), SIGCONT",
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
    assert!(
        shutdown_took <= shutdown_timeout,
        "shutdown took {shutdown_took:?}, over SHUTDOWN_TIMEOUT"
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

    r.assert_nothing_lost_or_doubled();
    r.assert_statuses_within(&[503]);
    assert!(
        !r.transport().contains_key("timeout"),
        "nothing hangs: {:?}",
        r.transport()
    );
    let down = r.sent_within(exited + MARGIN, restarting.saturating_sub(MARGIN));
    assert!(
        !down.is_empty()
            && down
                .iter()
                .all(|q| matches!(q.outcome, Outcome::Transport(_))),
        "nothing answers while the service is down: {down:?}"
    );
    assert!(
        r.acked_before(terminated) > 0,
        "acknowledged before SIGTERM"
    );
    assert!(
        r.acked_sent_after(restarting) > 0,
        "frames sent after the restart are acknowledged"
    );
    let recovery = r.first_ack_after(restarting).expect("acknowledged again");
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

    r.assert_nothing_lost_or_doubled();
    r.assert_statuses_within(&[503, 504]);
    assert!(
        !r.transport().contains_key("timeout"),
        "nothing hangs: {:?}",
        r.transport()
    );
    let down = r.sent_within(killed + MARGIN, restarting.saturating_sub(MARGIN));
    assert!(
        !down.is_empty()
            && down
                .iter()
                .all(|q| matches!(q.outcome, Outcome::Transport(_))),
        "requests sent while the service is dead fail to connect: {down:?}"
    );
    assert!(r.acked_before(killed) > 0, "acknowledged before the kill");
    assert!(
        r.acked_sent_after(restarting) > 0,
        "frames sent after the restart are acknowledged"
    );
    let recovery = r.first_ack_after(restarting).expect("acknowledged again");
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

/// The queue's byte bound in the overload case: about a second or two of writes, so the queue
/// (not the request deadline) is what refuses the excess.
const OVERLOAD_QUEUE_BYTES: u64 = 1 << 20;

/// Three times the service's measured capacity for 6 s, then half of it: the excess is refused
/// at once with 503 + Retry-After, memory stays bounded by the queue, frames keep being
/// accepted at about capacity, and once the load drops the queue drains and every request is
/// acknowledged again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sustained_overload_at_three_times_capacity() {
    let _alone = MACHINE.write().await;
    let started = Instant::now();
    let db = MongoServer::start();
    // Calibrated on an instance of its own, so that neither its frames (FerretDB scans the
    // whole collection on every read) nor its memory count in the overload's figures.
    let capacity = {
        let probe = overload_service(&db).await;
        calibrate(&probe.base()).await
    };
    let service = overload_service(&db).await;
    let base = service.base();

    let overload = Load::new(3.0 * capacity, Duration::from_secs(6));
    let sampler = QueueSampler::start(&base);
    let r = overload.start(&base).finish().await;
    let samples = sampler.stop().await;
    let peak_rss = service.peak_rss_bytes();

    r.assert_nothing_lost_or_doubled();
    r.assert_statuses_within(&[503]);
    assert!(
        r.transport().is_empty(),
        "every request is answered: {:?}",
        r.transport()
    );
    let refused = r.by_status().get(&503).copied().unwrap_or(0);
    assert!(refused > 0, "the excess is refused with 503");
    assert_eq!(
        r.summary["unavailable_without_retry_after"].as_u64(),
        Some(0),
        "every 503 carries Retry-After"
    );
    let refused_p99 = r.summary["rejected_latency_ms"]["p99"].as_f64().unwrap();
    assert!(
        refused_p99 < 1000.0,
        "refused at once, not at the deadline: p99 {refused_p99} ms"
    );
    let rss_bound = 2 * OVERLOAD_QUEUE_BYTES + (64 << 20);
    assert!(
        peak_rss <= rss_bound,
        "peak RSS {peak_rss} over 2 × QUEUE_MAX_BYTES + 64 MiB = {rss_bound}"
    );
    let most_queued = samples.iter().map(|s| s.bytes).fold(0.0, f64::max);
    assert!(
        most_queued <= OVERLOAD_QUEUE_BYTES as f64,
        "queue bytes {most_queued} over QUEUE_MAX_BYTES"
    );
    let accepted = r.ack_rate(Duration::from_secs(1), overload.duration);
    assert!(accepted > 0.0, "frames are still accepted during overload");
    let load_end = overload.duration;
    let drained = samples
        .iter()
        .map(|s| (r.offset(s.at), s.depth))
        .find(|(t, depth)| *t >= load_end && *depth == 0.0)
        .map(|(t, _)| t - load_end)
        .expect("the queue drains once the load drops");

    let after = Load::new(capacity / 2.0, Duration::from_secs(3));
    let low = after.start(&base).finish().await;
    low.assert_nothing_lost_or_doubled();
    assert!(
        low.by_status().is_empty() && low.transport().is_empty() && low.acked() == low.sent(),
        "below capacity every request is acknowledged: {}",
        low.line()
    );
    report(
        "overload at 3x capacity, then 0.5x",
        started,
        &format!(
            "capacity {capacity:.1}/s | load {} | {} | 503 p99 {refused_p99:.1} ms | \
             accepted {accepted:.1}/s ({:.2} x capacity) | peak RSS {:.1} MB (bound {:.1} MB) | \
             most queued {:.0} bytes | queue empty {} after the load dropped | then load {}: {}",
            overload.describe(),
            r.line(),
            accepted / capacity,
            peak_rss as f64 / 1e6,
            rss_bound as f64 / 1e6,
            most_queued,
            secs(drained),
            after.describe(),
            low.line(),
        ),
    );
}

/// One writer, one frame per insert: a capacity low enough to overload at a few hundred
/// frames/s; the queue bounded by bytes (~70 frames) rather than count. Each instance writes
/// to a database of its own.
async fn overload_service(db: &MongoServer) -> ServiceProcess {
    ServiceProcess::start(&[
        ("MONGO_URI", db.uri()),
        ("DATABASE_NAME", unique_name("se_load_overload")),
        ("WRITERS", "1".into()),
        ("BATCH_MAX_DOCS", "1".into()),
        ("QUEUE_CAPACITY", "1000".into()),
        ("QUEUE_MAX_BYTES", OVERLOAD_QUEUE_BYTES.to_string()),
        ("SERVER_TIMEOUT", "10s".into()),
        ("MONGO_TIMEOUT", "30s".into()),
    ])
    .await
}

/// Frames/s the service acknowledges when offered far more than it can write: the rate of
/// acknowledgements once the queue is full. Starts at 100/s and triples until the service
/// refuses some (a faster machine writes more).
async fn calibrate(base: &str) -> f64 {
    let mut rate = 100.0;
    for _ in 0..3 {
        let mut probe = Load::new(rate, Duration::from_secs(4));
        probe.verify = false;
        let r = probe.start(base).finish().await;
        if (r.acked() as f64) < 0.8 * r.sent() as f64 {
            return r.ack_rate(Duration::from_secs(1), probe.duration);
        }
        rate *= 3.0;
    }
    panic!("the service was never overloaded, up to {rate}/s");
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
