//! Liveness, readiness, store health and the Prometheus endpoint.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::AppState;
use crate::logging::error_chain;
use crate::store::StoreError;

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

async fn ping(app: &AppState) -> Result<(), StoreError> {
    tokio::time::timeout(app.settings.store_timeout, app.store.ping())
        .await
        .map_err(|_| StoreError::Timeout(app.settings.store_timeout))?
}

/// 200 when the store answers a ping within its timeout, else 503 (as the original did).
pub async fn health(State(app): State<AppState>) -> Response {
    match ping(&app).await {
        Ok(()) => Json(json!({
            "status": "healthy",
            "timestamp": now_rfc3339(),
            "store": app.store.name(),
        }))
        .into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({
                "status": "unhealthy",
                "timestamp": now_rfc3339(),
                "store": app.store.name(),
                "error": error_chain(&e),
            })),
        )
            .into_response(),
    }
}

/// 200 while the process runs; checks nothing else, so a slow store never gets it restarted.
pub async fn livez() -> Response {
    Json(json!({ "status": "alive" })).into_response()
}

/// 200 when this instance should get traffic: not shutting down, queue below its high-water
/// mark, store answering.
pub async fn readyz(State(app): State<AppState>) -> Response {
    let not_ready = |reason: String| {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "not ready", "reason": reason })),
        )
            .into_response()
    };
    if app.is_shutting_down() {
        return not_ready("shutting down".into());
    }
    let fill = app.pipeline.queue().fill_ratio();
    if fill >= app.settings.ready_high_water {
        return not_ready(format!("ingest queue is {:.0}% full", fill * 100.0));
    }
    if let Err(e) = ping(&app).await {
        return not_ready(error_chain(&e));
    }
    Json(json!({ "status": "ready" })).into_response()
}

pub async fn metrics(State(app): State<AppState>) -> Response {
    crate::metrics::collect_process();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        app.metrics.render(),
    )
        .into_response()
}
