//! Faults under load on the WebSocket transport: the project's load generator (`loadgen
//! --transport ws`, a stream per match) sends a steady open-model load while the database is
//! killed and restarted, or the service is stopped with SIGTERM and started again. As in
//! `load_faults.rs` (whose harness this reuses), `--verify` checks every acknowledged frame is
//! stored exactly once, and what the producers saw is checked against the fault's moments.
//! Each test has its own FerretDB and prints one `LOAD-FAULT |` line.

mod common;

use std::time::{Duration, Instant, SystemTime};

use common::loadgen::{Load, report};
use common::service_process::ServiceProcess;
use common::{MongoServer, spawn_config, test_config, unique_name};

/// A send scheduled this close to a fault's moment may have gone out on either side of it.
const MARGIN: Duration = Duration::from_millis(200);

fn ws_load() -> Load {
    let mut load = Load::new(20.0, Duration::from_secs(12));
    load.transport = "ws";
    load
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

/// The database SIGKILLed mid-stream and started again 3 s later. Frames wait in the queue
/// while the writers retry; those whose deadline passes are answered 504 on the stream, the
/// rest once the database is back. The streams themselves never drop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_killed_and_restarted_under_stream_load() {
    let started = Instant::now();
    let mut db = MongoServer::start();
    let deadline = Duration::from_secs(5);
    let mut config = test_config();
    config.mongo_uri = Some(db.uri());
    config.database_name = unique_name("se_load_fault_ws");
    config.server_timeout = deadline;
    let app = spawn_config(config).await;
    let load = ws_load();
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
        "the streams stay up and every frame is answered on them: {:?}",
        r.transport()
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
        "ws: database SIGKILL, restarted after 3 s",
        started,
        &format!(
            "load {} over ws | {} | slowest answer {} | first ack {} after the restart",
            load.describe(),
            r.line(),
            secs(r.max_latency()),
            secs(recovery),
        ),
    );
}

/// SIGTERM to the service with streams open: it stops reading them, answers every frame it
/// read, closes them with 1001, drains and exits 0; every frame answered `success` is stored.
/// The producers reconnect once it is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_sigterm_under_stream_load() {
    let started = Instant::now();
    let db = MongoServer::start();
    let shutdown_timeout = Duration::from_secs(10);
    let mut service = ServiceProcess::start(&[
        ("MONGO_URI", db.uri()),
        ("DATABASE_NAME", unique_name("se_load_term_ws")),
        ("SERVER_TIMEOUT", "5s".into()),
        ("MONGO_TIMEOUT", "30s".into()),
        ("SHUTDOWN_DRAIN_DELAY", "1s".into()),
        ("SHUTDOWN_TIMEOUT", "10s".into()),
    ])
    .await;
    let load = ws_load();
    let mut run = load.start(&service.base());
    run.wait_sending().await;

    tokio::time::sleep(Duration::from_secs(3)).await;
    let terminated = SystemTime::now();
    let clock = Instant::now();
    service.sigterm();
    let status = service
        .wait_exit(shutdown_timeout + Duration::from_secs(2))
        .await;
    let shutdown_took = clock.elapsed();
    assert!(status.success(), "exit after SIGTERM: {status}");
    assert!(
        shutdown_took <= shutdown_timeout,
        "shutdown took {shutdown_took:?}, over SHUTDOWN_TIMEOUT: the streams were not closed"
    );
    assert!(
        service.log().contains("shutdown complete"),
        "every stream and request finished in time:\n{}",
        service.log()
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    let restarting = SystemTime::now();
    service.restart().await;
    let r = run.finish().await;
    let (terminated, restarting) = (r.offset(terminated), r.offset(restarting));

    r.assert_nothing_lost_or_doubled();
    r.assert_statuses_within(&[503]);
    assert!(
        !r.transport().contains_key("timeout"),
        "nothing hangs: {:?}",
        r.transport()
    );
    assert!(
        r.acked_before(terminated) > 0,
        "acknowledged before SIGTERM"
    );
    assert!(
        r.acked_sent_after(restarting + MARGIN) > 0,
        "the producers reconnected and were acknowledged after the restart"
    );
    let recovery = r.first_ack_after(restarting).expect("acknowledged again");
    report(
        "ws: service SIGTERM, restarted 1 s after it exited",
        started,
        &format!(
            "load {} over ws | {} | shutdown took {} | first ack {} after the restart",
            load.describe(),
            r.line(),
            secs(shutdown_took),
            secs(recovery),
        ),
    );
}
