//! The HTTP surface: routes, the middleware stack, and the state handlers share.

pub mod auth;
mod batch_ingest;
pub mod body;
mod envelope;
mod error;
mod health;
mod ingest;
mod live;
mod matches;
mod middleware;
mod read;
mod submit;
mod ui;
mod ws_ingest;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use axum::Router;
use axum::routing::{get, post};
use metrics_exporter_prometheus::PrometheusHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceBuilder;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};

pub use auth::{Auth, Scope, ScopedToken};
pub use error::ApiError;

use crate::config::AckMode;
use crate::live::LiveHub;
use crate::pipeline::Pipeline;
use crate::store::Store;
use body::BodyBudget;

/// What handlers need, shared by every request.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

/// The HTTP layer's settings (from [`crate::config::Config`]).
#[derive(Debug, Clone)]
pub struct HttpSettings {
    pub ack_mode: AckMode,
    pub request_timeout: Duration,
    pub store_timeout: Duration,
    pub max_body_bytes: usize,
    pub ready_high_water: f64,
    pub auth: Auth,
    /// Bytes of request bodies being received or decoded at once (see [`body::BodyBudget`]).
    pub max_body_bytes_in_flight: usize,
    /// Reads (GETs of events, exports, tails) served at once; more are 503 + `Retry-After`.
    pub max_reads_in_flight: usize,
    /// Interval of keep-alive comments on idle live tails.
    pub live_keep_alive: Duration,
    /// How far back a tail remembers replayed frames at its seam (see `http::live`).
    pub live_seam_window: Duration,
    pub ws: WsSettings,
    pub batch: BatchSettings,
}

/// WebSocket stream ingest (`/ws`, `/v3/stream`).
#[derive(Debug, Clone)]
pub struct WsSettings {
    pub max_in_flight: usize,
    pub ping_interval: Duration,
    pub idle_timeout: Duration,
}

/// Batch POST bodies (NDJSON, length-delimited protobuf).
#[derive(Debug, Clone)]
pub struct BatchSettings {
    pub max_frames: usize,
    pub max_bytes: usize,
}

pub struct Inner {
    pub store: Arc<dyn Store>,
    pub pipeline: Arc<Pipeline>,
    /// Durable frames for live tails (fed by the pipeline's writers).
    pub live: Arc<LiveHub>,
    pub metrics: PrometheusHandle,
    pub settings: HttpSettings,
    /// Shared by every ingest route: take a permit before holding a body.
    pub body_budget: BodyBudget,
    reads: Arc<Semaphore>,
    shutting_down: AtomicBool,
    /// Cancelled when the listener closes: every WebSocket stream stops reading and closes.
    closing_streams: CancellationToken,
    /// The open WebSocket streams, which shutdown waits for.
    streams: TaskTracker,
}

/// One read in flight; hold it for as long as the response streams.
#[derive(Debug)]
pub struct ReadPermit(#[allow(dead_code)] OwnedSemaphorePermit);

impl AppState {
    pub fn new(
        store: Arc<dyn Store>,
        pipeline: Arc<Pipeline>,
        live: Arc<LiveHub>,
        metrics: PrometheusHandle,
        settings: HttpSettings,
    ) -> Self {
        Self(Arc::new(Inner {
            store,
            pipeline,
            live,
            metrics,
            body_budget: BodyBudget::new(settings.max_body_bytes_in_flight),
            reads: Arc::new(Semaphore::new(settings.max_reads_in_flight)),
            settings,
            shutting_down: AtomicBool::new(false),
            closing_streams: CancellationToken::new(),
            streams: TaskTracker::new(),
        }))
    }

    /// A slot among the `MAX_READS_IN_FLIGHT` reads, or 503 + `Retry-After`. Every read path
    /// (events, exports, live tails) takes one, so readers together hold at most that many
    /// pages in memory, however slowly their clients read.
    pub fn try_read(&self) -> Result<ReadPermit, ApiError> {
        self.0
            .reads
            .clone()
            .try_acquire_owned()
            .map(ReadPermit)
            .map_err(|_| ApiError::Busy("too many reads are in progress"))
    }

    /// From now on `/readyz` answers 503, so balancers stop sending before the listener closes;
    /// live tails end (clients reconnect elsewhere and resume with `Last-Event-ID`).
    pub fn begin_shutdown(&self) {
        self.0.shutting_down.store(true, Ordering::Release);
        self.0.live.close();
    }

    pub fn is_shutting_down(&self) -> bool {
        self.0.shutting_down.load(Ordering::Acquire)
    }

    /// Tells every WebSocket stream to stop reading, answer what it read, and close (1001).
    pub fn close_streams(&self) {
        self.0.closing_streams.cancel();
    }

    pub(crate) fn closing_streams(&self) -> &CancellationToken {
        &self.0.closing_streams
    }

    /// The open WebSocket streams: `close()` then `wait()` for them to end.
    pub fn streams(&self) -> &TaskTracker {
        &self.0.streams
    }
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

/// The service's routes with their middleware, ready to serve or to mount in another app.
pub fn router(state: AppState) -> Router {
    let max_body = state.settings.max_body_bytes;
    // The raw-body bound is the larger of the two; the handler applies the right one (again
    // after decompression) once it knows whether the body is one frame or a batch.
    let max_raw_body = max_body.max(state.settings.batch.max_bytes);
    let auth = Arc::new(state.settings.auth.clone());
    let guard = |scope| axum::middleware::from_fn_with_state((auth.clone(), scope), auth::require);
    Router::new()
        .route(
            "/session-events",
            post(ingest::store_frame).route_layer(guard(Scope::Write)),
        )
        // The C++ telemetry agent's path (nevr-runtime `extras/telemetryagent`): the same
        // endpoint under its own route label.
        .route(
            "/lobby-session-events",
            post(ingest::store_frame).route_layer(guard(Scope::Write)),
        )
        // WebSocket stream ingest (`nevr-agent stream`); `/v3/stream` is the successor's path.
        .route(
            "/ws",
            get(ws_ingest::upgrade).route_layer(guard(Scope::Write)),
        )
        .route(
            "/v3/stream",
            get(ws_ingest::upgrade).route_layer(guard(Scope::Write)),
        )
        .route(
            "/session-events/{match_id}",
            get(read::match_events).route_layer(guard(Scope::Read)),
        )
        .route(
            "/session-events/{match_id}/live",
            get(live::sse::live).route_layer(guard(Scope::Read)),
        )
        .route(
            "/session-events/{match_id}/live/ws",
            get(live::ws::live_ws).route_layer(guard(Scope::Read)),
        )
        .route(
            "/matches",
            get(matches::list).route_layer(guard(Scope::Read)),
        )
        .route(
            "/matches/{match_id}",
            get(matches::one).route_layer(guard(Scope::Read)),
        )
        .route("/health", get(health::health))
        .route("/livez", get(health::livez))
        .route("/readyz", get(health::readyz))
        .route(
            "/metrics",
            get(health::metrics).route_layer(guard(Scope::Metrics)),
        )
        // The match explorer: a public shell; its data comes from the guarded routes above.
        .route("/", get(ui::index))
        .route("/ui", get(ui::index))
        .route("/ui/", get(ui::index))
        .route("/ui/{*path}", get(ui::path))
        .fallback(|| async { ApiError::NotFound })
        .layer(
            // Outermost first: ids and metrics see every request, then every error becomes
            // JSON, then the raw body is limited. Handlers decompress (`body::decompress`,
            // limited again, so a compression bomb is a 413 too).
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
                .layer(PropagateRequestIdLayer::x_request_id())
                .layer(middleware::trace_layer())
                .layer(axum::middleware::from_fn(middleware::record_metrics))
                .layer(axum::middleware::from_fn(move |req, next| {
                    middleware::json_errors(max_body, req, next)
                }))
                .layer(RequestBodyLimitLayer::new(max_raw_body)),
        )
        .with_state(state)
}
