//! The `session-events` binary as operators run it: signals, start-up failures, exit codes.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{
    acknowledged, free_port, mongo_uri, new_match, post_staggered_counted, spawn_config,
    test_config, unique_name, wait_for_count,
};

fn binary() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_session-events"));
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("RUST_LOG", "info")
        .stdin(Stdio::null());
    cmd
}

/// Waits for the child to exit (bounded) and returns its status and stderr.
fn wait(mut child: Child, within: Duration) -> (std::process::ExitStatus, String) {
    let until = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            use std::io::Read;
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            return (status, err);
        }
        if Instant::now() > until {
            let _ = child.kill();
            panic!("process did not exit within {within:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

async fn wait_until_live(base: &str) {
    let http = reqwest::Client::new();
    let until = Instant::now() + Duration::from_secs(30);
    while http.get(format!("{base}/livez")).send().await.is_err() {
        assert!(Instant::now() < until, "service did not come up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[test]
fn a_port_in_use_fails_fast_with_a_clear_message() {
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = held.local_addr().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let child = binary()
        .env("SERVER_ADDRESS", addr.to_string())
        .env("DATA_DIR", dir.path())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (status, err) = wait(child, Duration::from_secs(10));
    assert!(!status.success());
    assert!(
        err.contains("cannot listen on") && err.contains(&addr.to_string()),
        "{err}"
    );
}

#[test]
fn an_unreachable_mongodb_fails_start_up_within_the_timeout() {
    let port = free_port();
    let started = Instant::now();
    let child = binary()
        .env("SERVER_ADDRESS", format!("127.0.0.1:{}", free_port()))
        .env(
            "MONGO_URI",
            format!("mongodb://127.0.0.1:{port}/?directConnection=true"),
        )
        .env("MONGO_TIMEOUT", "1s")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (status, err) = wait(child, Duration::from_secs(30));
    let took = started.elapsed();
    assert!(!status.success());
    // A line before the wait says where it connects, then one line says it could not, where,
    // after how long, and what to check.
    let connecting = err.find("connecting to MongoDB").unwrap_or(usize::MAX);
    let failed = err
        .find(&format!(
            "session-events: cannot reach MongoDB at 127.0.0.1:{port}: no answer within"
        ))
        .unwrap_or_else(|| panic!("{err}"));
    assert!(
        connecting < failed,
        "the connecting line comes first: {err}"
    );
    assert!(
        err.contains("(MONGO_TIMEOUT is 1s)") && err.contains("MONGO_URI points at it"),
        "{err}"
    );
    assert_eq!(
        err.matches("cannot reach MongoDB").count(),
        1,
        "once: {err}"
    );
    // Liveness: bounded by MONGO_TIMEOUT (1 s) rather than the driver's 30 s default; the
    // margin is for start-up on a busy machine.
    assert!(took < Duration::from_secs(20), "took {took:?}: {err}");
}

/// Runs the binary with `env` (on the embedded store in a fresh directory unless `env` says
/// otherwise) and returns its exit status and stderr.
fn start_up_with(env: &[(&str, &str)], args: &[&str]) -> (std::process::ExitStatus, String) {
    let dir = tempfile::tempdir().unwrap();
    let child = binary()
        .env("SERVER_ADDRESS", format!("127.0.0.1:{}", free_port()))
        .env("DATA_DIR", dir.path().join("data"))
        .envs(env.iter().copied())
        .args(args)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait(child, Duration::from_secs(30))
}

/// Each start-up error is one line, printed once, saying what to change, without secrets, and
/// without colour codes (stderr is a pipe here).
#[test]
fn start_up_errors_are_one_line_saying_what_to_change() {
    let file = tempfile::NamedTempFile::new().unwrap();
    let file = file.path().to_str().unwrap().to_owned();
    type Case<'a> = (&'a [(&'a str, &'a str)], &'a [&'a str]);
    let cases: &[Case] = &[
        (
            &[("MONGO_URI", "not-a-uri")],
            &["invalid MONGO_URI \"not-a-uri\"", "expected mongodb://"],
        ),
        (
            &[("SERVER_TIMEOUT", "abc")],
            &[
                "invalid SERVER_TIMEOUT",
                "\"abc\"",
                "a number and a unit, e.g. 30s",
            ],
        ),
        (
            &[("MONGO_TIMEOUT", "30")],
            &["invalid MONGO_TIMEOUT", "needs a unit: write 30s"],
        ),
        (
            &[("DATA_DIR", &file)],
            &["is not a directory: point DATA_DIR at a directory"],
        ),
        // A directory nobody may create files in, even root.
        (
            &[("DATA_DIR", "/proc/self")],
            &[
                "DATA_DIR /proc/self is not writable",
                "point DATA_DIR elsewhere",
            ],
        ),
        (
            &[(
                "AUTH_TOKENS",
                "read:0123456789abcdef,wrte:SECRETTOKEN0123456789",
            )],
            &[
                "AUTH_TOKENS entry is malformed",
                "scope is write, read or metrics",
            ],
        ),
        (
            &[("AUTH_TOKENS", "SECRETTOKEN0123456789")],
            &["AUTH_TOKENS"],
        ),
    ];
    for (env, says) in cases {
        let (status, err) = start_up_with(env, &[]);
        assert!(!status.success(), "{env:?} was accepted: {err}");
        let lines: Vec<&str> = err
            .lines()
            .filter(|l| l.starts_with("session-events: "))
            .collect();
        assert_eq!(
            lines.len(),
            1,
            "{env:?}: one error line, printed once: {err}"
        );
        for phrase in *says {
            assert!(lines[0].contains(phrase), "{env:?}: {phrase:?} in {err}");
        }
        assert!(
            !err.contains("SECRET") && !err.contains("os error 17") && !err.contains('\x1b'),
            "{env:?}: no secret, no raw OS error, no colour codes: {err:?}"
        );
    }
}

#[test]
fn help_is_plain_text_without_rustdoc_links_or_secrets() {
    let out = binary()
        .env("AUTH_TOKENS", "write:SECRETTOKEN0123456789")
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(
        help.contains("WRITERS") && help.contains("AUTH_TOKENS"),
        "{help}"
    );
    assert!(
        !help.contains("[`") && !help.contains("SECRET") && !help.contains('\x1b'),
        "{help}"
    );
}

/// Logs written to a pipe or a file carry no ANSI colour codes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_to_a_pipe_have_no_colour_codes() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().display().to_string();
    let service = common::service_process::ServiceProcess::start(&[("DATA_DIR", data)]).await;
    let log = service.log();
    assert!(log.contains("listening"), "{log}");
    assert!(!log.contains('\x1b'), "{log:?}");
}

#[test]
fn bad_settings_are_rejected_at_start_up() {
    for (var, value) in [
        ("MONGO_TIMEOUT", "soon"),
        ("QUEUE_CAPACITY", "0"),
        ("SERVER_ADDRESS", "nowhere"),
    ] {
        let child = binary()
            .env(var, value)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (status, err) = wait(child, Duration::from_secs(10));
        assert!(!status.success(), "{var}={value} was accepted");
        assert!(err.contains(value), "{var}={value}: {err}");
    }
}

/// SIGTERM while requests are in flight: readiness drops first, then every request that got a
/// 200 is in the database afterwards, and the process exits 0 within its deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_keeps_every_acknowledged_frame() {
    let database = unique_name("se_sigterm");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let child = binary()
        .env("MONGO_URI", mongo_uri())
        .env("DATABASE_NAME", &database)
        .env("SERVER_ADDRESS", format!("127.0.0.1:{port}"))
        .env("BATCH_LINGER", "50ms")
        .env("SHUTDOWN_DRAIN_DELAY", "3s")
        .env("SHUTDOWN_TIMEOUT", "20s")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_until_live(&base).await;

    let mut m = new_match(30);
    let http = reqwest::Client::new();
    // 3 s of sends; the signal goes once the first is acknowledged (not after a guessed time),
    // so some are acknowledged before it and most are still to come.
    let (tasks, acked) = post_staggered_counted(&base, &mut m, 100, Duration::from_millis(30));
    wait_for_count(
        &acked,
        1,
        Duration::from_secs(30),
        "acknowledged before SIGTERM",
    )
    .await;
    let acked_before = acked.load(std::sync::atomic::Ordering::SeqCst);
    common::signal(child.id(), "TERM");
    let terminated_at = Instant::now();
    // Readiness drops during the drain delay, while the listener still answers: poll for it
    // rather than sleeping a guessed time before one look.
    let ready_dropped_after = loop {
        let ready = http
            .get(format!("{base}/readyz"))
            .send()
            .await
            .expect("the listener stays open during the drain delay, until readiness drops");
        if ready.status() == 503 {
            break terminated_at.elapsed();
        }
        assert_eq!(ready.status(), 200, "readiness before it drops");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    eprintln!("readiness dropped {ready_dropped_after:?} after SIGTERM (drain delay 3 s)");

    let acknowledged = acknowledged(tasks).await;
    let (status, err) = tokio::task::spawn_blocking(move || wait(child, Duration::from_secs(30)))
        .await
        .unwrap();
    assert!(status.success(), "exit after SIGTERM: {status:?}\n{err}");
    assert!(
        terminated_at.elapsed() < Duration::from_secs(25),
        "shutdown within its deadline"
    );
    assert!(err.contains("shutdown complete"), "{err}");
    assert!(
        acknowledged.len() >= acked_before as usize && acked_before >= 1,
        "{acked_before} acknowledged before the signal, {} in all",
        acknowledged.len()
    );

    // Read back through a fresh service on the same database.
    let mut config = test_config();
    config.mongo_uri = Some(mongo_uri());
    config.database_name = database;
    let reader = spawn_config(config).await;
    let match_id = format!("{}.n1", m.session_id().to_lowercase());
    let stored: std::collections::BTreeSet<u64> = reader
        .events(&match_id)
        .await
        .iter()
        .map(|e| e["data"]["frameIndex"].as_u64().unwrap_or(0))
        .collect();
    let missing: Vec<_> = acknowledged
        .iter()
        .filter(|i| !stored.contains(i))
        .collect();
    assert!(
        missing.is_empty(),
        "acknowledged but not stored: {missing:?}"
    );
}

/// SIGKILL mid-load on the embedded store: after a restart on the same directory, every frame
/// that was answered 200 is there (durable means fsynced before the answer).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_on_the_embedded_store_keeps_every_acknowledged_frame() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let start = || {
        binary()
            .env("DATA_DIR", dir.path())
            .env("SERVER_ADDRESS", format!("127.0.0.1:{port}"))
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut child = start();
    wait_until_live(&base).await;

    let mut m = new_match(31);
    let http = reqwest::Client::new();
    // 3 s of sends; the kill comes once the first is acknowledged (not after a guessed time):
    // some are acknowledged before it, and those scheduled after it cannot be.
    let (tasks, acked) = post_staggered_counted(&base, &mut m, 300, Duration::from_millis(10));
    wait_for_count(
        &acked,
        1,
        Duration::from_secs(30),
        "acknowledged before SIGKILL",
    )
    .await;
    child.kill().unwrap();
    child.wait().unwrap();

    let acknowledged = acknowledged(tasks).await;
    assert!(
        !acknowledged.is_empty() && acknowledged.len() < 300,
        "the kill happened mid-load: {} of 300 acknowledged",
        acknowledged.len()
    );

    let mut child = start();
    wait_until_live(&base).await;
    let match_id = format!("{}.n1", m.session_id().to_lowercase());
    let body: serde_json::Value = http
        .get(format!("{base}/session-events/{match_id}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let stored: std::collections::BTreeSet<u64> = body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["data"]["frameIndex"].as_u64().unwrap_or(0))
        .collect();
    let missing: Vec<_> = acknowledged
        .iter()
        .filter(|i| !stored.contains(i))
        .collect();
    assert!(missing.is_empty(), "acknowledged but lost: {missing:?}");
    assert_eq!(
        body["count"].as_u64(),
        Some(stored.len() as u64),
        "no duplicates"
    );
    child.kill().unwrap();
    child.wait().unwrap();
}
