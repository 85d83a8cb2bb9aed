//! `trivial_server`: the floor the service is compared with in `loadtest/bench.sh`
//! (`BENCH_ONLY=trivial`, issue 13). An axum server that does the least a JSON ingest endpoint
//! can do: `POST /session-events` reads the whole body, checks it is JSON by scanning it with
//! `serde::de::IgnoredAny` (no tree, no allocation per value), and answers 200 with a constant
//! body shaped like the service's `{"success":true,"match_id":"…"}`; `GET /health` answers 200
//! so the load generator's pre-flight check passes. No store, no queue, no decode into a schema:
//! what the service spends above this server's CPU per frame is its own work, not HTTP's.
//!
//! It runs on the same runtime as the service (`#[tokio::main]`: one worker per core) and
//! listens on `SERVER_ADDRESS` (default `127.0.0.1:8080`), as the service does, so the bench
//! starts both the same way. Bench-only: built with `--features bench-null-store`.

use axum::Router;
use axum::body::Bytes;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};

/// The service's answer to an accepted frame, with a match id of the usual length
/// (`<uuid>.<node>`), so the response costs what the service's does on the wire.
const ACCEPTED: &str =
    r#"{"success":true,"match_id":"00000000-0000-4000-8000-000000000000.node-0"}"#;

/// Axum's default body limit is 2 MB; frames are ~11-30 KB, so no request is refused for size.
async fn ingest(body: Bytes) -> impl IntoResponse {
    match serde_json::from_slice::<serde::de::IgnoredAny>(&body) {
        Ok(_) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            ACCEPTED,
        ),
        Err(_) => (
            StatusCode::BAD_REQUEST,
            [(header::CONTENT_TYPE, "application/json")],
            r#"{"success":false,"error":"invalid JSON"}"#,
        ),
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let addr = std::env::var("SERVER_ADDRESS").unwrap_or_else(|_| "127.0.0.1:8080".into());
    let listener = match tokio::net::TcpListener::bind(&addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("trivial_server: cannot listen on {addr}: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let app = Router::new()
        .route("/session-events", post(ingest))
        .route("/health", get(|| async { "ok" }));
    eprintln!("trivial_server: listening on {addr}");
    let shutdown = async {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {},
            _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {},
        }
    };
    match axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
    {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("trivial_server: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
