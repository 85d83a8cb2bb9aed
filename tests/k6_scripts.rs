//! The k6 scripts in `loadtest/` cannot drift from the API unnoticed: every script parses under
//! node (`node --check`; k6 itself is not installed here), and the shared frame generator
//! (`loadtest/lib/frames.js`, driven by `loadtest/check-frames.mjs`) posts its frames to a
//! running service on each store and gets 200s, the frames back in order, and a retry that
//! adds nothing. A machine without node fails here, with what to install.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Backend, spawn_app};

const SCRIPTS: &[&str] = &[
    "lib/frames.js",
    "lib/scenarios.js",
    "ingest.js",
    "read.js",
    "mixed.js",
    "check-frames.mjs",
    "lib/stream.js",
    "ws.js",
    "check-ws.mjs",
];

fn loadtest_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("loadtest")
}

fn node() -> Command {
    let node = std::env::var_os("NODE").unwrap_or_else(|| "node".into());
    let probe = Command::new(&node).arg("--version").output();
    assert!(
        probe.as_ref().is_ok_and(|o| o.status.success()),
        "node (20+) is needed to check the k6 scripts: install it (Debian: apt-get install \
         nodejs; scripts/test does as root) or point NODE at it: {probe:?}"
    );
    let mut cmd = Command::new(node);
    cmd.current_dir(loadtest_dir());
    cmd
}

#[test]
fn every_k6_script_parses() {
    for script in SCRIPTS {
        let out = node().arg("--check").arg(script).output().unwrap();
        assert!(
            out.status.success(),
            "node --check {script}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

async fn the_k6_frame_generator_is_accepted(backend: Backend) {
    let app = spawn_app(backend).await;
    // A few frames of each profile keep the FerretDB run short; what matters is their shape.
    let out = tokio::task::spawn_blocking({
        let base = app.base.clone();
        move || {
            node()
                .arg("check-frames.mjs")
                .env("BASE_URL", base)
                .env("FRAMES", "6")
                .env("MATCHES", "4")
                .env("NODES", "2")
                .env("TIMEOUT_MS", "30000")
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "check-frames.mjs failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        app.stats
            .frames_stored
            .load(std::sync::atomic::Ordering::Relaxed),
        24,
        "4 matches × 6 frames stored once each (the re-posted first frames are duplicates)"
    );
}

/// node with a global `WebSocket`: built in from Node 22; Node 20 has it behind
/// `--experimental-websocket` (undici's), which is used when needed, so no npm package is.
fn node_with_websocket() -> Command {
    let has_global = node()
        .args(["-e", "process.exit(typeof WebSocket === 'function' ? 0 : 1)"])
        .status()
        .unwrap()
        .success();
    let mut cmd = node();
    if !has_global {
        cmd.arg("--experimental-websocket");
    }
    cmd
}

/// ws.js's messages (lib/stream.js around the shared generator) streamed to the service over a
/// real WebSocket: one reply per message in order, the retried frame stored once.
async fn the_k6_stream_messages_are_accepted(backend: Backend) {
    let app = spawn_app(backend).await;
    let out = tokio::task::spawn_blocking({
        let base = app.base.clone();
        move || {
            node_with_websocket()
                .arg("check-ws.mjs")
                .env("BASE_URL", base)
                .env("FRAMES", "6")
                .env("MATCHES", "3")
                .env("TIMEOUT_MS", "60000")
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "check-ws.mjs failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{}", String::from_utf8_lossy(&out.stdout).trim());
    assert_eq!(
        app.stats.frames_stored() + app.stats.frames_duplicate(),
        3 * 7,
        "3 matches x (6 frames + 1 retry) written"
    );
    assert_eq!(app.stats.frames_duplicate(), 3, "each retry was a duplicate");
}

backend_tests!(
    the_k6_frame_generator_is_accepted,
    the_k6_stream_messages_are_accepted
);
