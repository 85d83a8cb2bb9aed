//! Assembling the service from a [`Config`]: open the store, start the writers, serve HTTP,
//! and shut down in order. The library takes its inputs (config, listener, shutdown future)
//! so tests and embedding applications can run the whole service on a port of their choice.

use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use axum::Router;
use tokio::net::TcpListener;

use crate::config::{Config, defaults};
use crate::http::{self, AppState, Auth, BatchSettings, HttpSettings, WsSettings};
use crate::live::LiveHub;
use crate::pipeline::{Pipeline, PipelineConfig, PipelineStats};
use crate::server::{self, ServeOptions};
use crate::store::embedded::EmbeddedStore;
use crate::store::mongo::{MongoSettings, MongoStore};
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("cannot connect to MongoDB at {uri}")]
    Mongo {
        uri: String,
        #[source]
        source: StoreError,
    },
    #[error("cannot open the embedded store in {}", dir.display())]
    Embedded {
        dir: PathBuf,
        #[source]
        source: StoreError,
    },
    #[error("cannot create the store's indexes")]
    Indexes(#[source] StoreError),
    #[error("cannot listen on {addr} for metrics")]
    MetricsBind {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// A configured, not yet started service.
pub struct Service {
    config: Config,
}

impl Service {
    /// Cheap: does no I/O. Call [`Service::initialize`] to connect.
    pub fn new(config: Config) -> Self {
        Self { config }
    }

    /// Opens the store (MongoDB when a URI is configured, else the embedded store), ensures
    /// its indexes and starts the writer threads. Must run inside a tokio runtime.
    pub async fn initialize(self) -> Result<App, StartupError> {
        let config = self.config;
        // Before anything registers a metric: handles taken earlier would record nowhere.
        let metrics = crate::metrics::install();
        let store = open_store(&config).await?;
        store
            .ensure_indexes()
            .await
            .map_err(StartupError::Indexes)?;

        let live = Arc::new(LiveHub::new(
            config.live_buffer,
            config.live_max_subscribers,
        ));
        let pipeline = Arc::new(Pipeline::start(
            store.clone(),
            PipelineConfig {
                queue_capacity: config.queue_capacity,
                queue_max_bytes: config.queue_max_bytes,
                batch_max_docs: config.batch_max_docs,
                batch_max_bytes: config.batch_max_bytes,
                linger: config.batch_linger,
                writers: config.writers(),
                attempt_timeout: config.mongo_timeout,
                backoff_min: defaults::RETRY_BACKOFF_MIN,
                backoff_max: defaults::RETRY_BACKOFF_MAX,
            },
            tokio::runtime::Handle::current(),
            live.clone(),
        ));
        let state = AppState::new(
            store.clone(),
            pipeline.clone(),
            live,
            metrics,
            HttpSettings {
                ack_mode: config.ack_mode,
                request_timeout: config.server_timeout,
                store_timeout: config.mongo_timeout,
                max_body_bytes: config.max_body_bytes,
                ready_high_water: defaults::READY_HIGH_WATER,
                auth: Auth::new(config.auth_tokens.clone()),
                max_body_bytes_in_flight: config.max_body_bytes_in_flight,
                max_reads_in_flight: config.max_reads_in_flight,
                ws: WsSettings {
                    max_in_flight: config.ws_max_in_flight,
                    ping_interval: config.ws_ping_interval,
                    idle_timeout: config.ws_idle_timeout,
                },
                batch: BatchSettings {
                    max_frames: config.max_batch_frames,
                    max_bytes: config.max_batch_bytes,
                },
                live_keep_alive: config.live_keep_alive,
                live_seam_window: defaults::LIVE_SEAM_WINDOW.max(config.server_timeout * 2),
            },
        );
        tracing::info!(
            store = store.name(),
            ack_mode = ?config.ack_mode,
            writers = config.writers(),
            queue_capacity = config.queue_capacity,
            batch_max_docs = config.batch_max_docs,
            batch_linger = ?config.batch_linger,
            auth_tokens = config.auth_tokens.len(),
            "service initialized"
        );
        Ok(App {
            config,
            state,
            store,
            pipeline,
        })
    }
}

async fn open_store(config: &Config) -> Result<Arc<dyn Store>, StartupError> {
    // Before MONGO_URI: a benchmark asking for the sink must never write to a real database.
    #[cfg(feature = "bench-null-store")]
    if config.null_store {
        tracing::warn!(
            "NULL_STORE is set: benchmarking sink, every frame is acknowledged and NONE IS KEPT \
             (build feature bench-null-store; never use this in production)"
        );
        return Ok(Arc::new(crate::store::null::NullStore));
    }
    match &config.mongo_uri {
        Some(uri) => {
            let settings = MongoSettings {
                uri: uri.clone(),
                database: config.database_name.clone(),
                collection: config.collection_name.clone(),
                matches_collection: config.matches_collection_name.clone(),
                timeout: config.mongo_timeout,
                write_concern: config.write_concern.clone(),
                journal: config.write_journal,
            };
            let store =
                MongoStore::connect(&settings)
                    .await
                    .map_err(|source| StartupError::Mongo {
                        uri: redact(uri),
                        source,
                    })?;
            tracing::info!(
                uri = %redact(uri),
                database = %config.database_name,
                collection = %config.collection_name,
                "using MongoDB"
            );
            Ok(Arc::new(store))
        }
        None => {
            let dir = config.data_dir.clone();
            let store = EmbeddedStore::open_with_cache(&dir, config.embedded_cache_bytes).map_err(
                |source| StartupError::Embedded {
                    dir: dir.clone(),
                    source,
                },
            )?;
            tracing::info!(
                dir = %dir.display(),
                "using the embedded store (set MONGO_URI to use MongoDB instead)"
            );
            Ok(Arc::new(store))
        }
    }
}

/// The connection string without its password, for logs and error messages.
fn redact(uri: &str) -> String {
    match (uri.find("://"), uri.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://***{}", &uri[..scheme], &uri[at..])
        }
        _ => uri.to_owned(),
    }
}

/// A started service: writers running, ready to serve.
pub struct App {
    config: Config,
    state: AppState,
    store: Arc<dyn Store>,
    pipeline: Arc<Pipeline>,
}

impl App {
    /// The routes, to serve with [`App::run`] or to mount in another axum app.
    pub fn router(&self) -> Router {
        http::router(self.state.clone())
    }

    pub fn stats(&self) -> Arc<PipelineStats> {
        self.pipeline.stats().clone()
    }

    pub fn store(&self) -> Arc<dyn Store> {
        self.store.clone()
    }

    /// Serves until `shutdown` resolves, then: readiness 503, stop accepting after the drain
    /// delay, finish in-flight requests, flush the queue, close the store, all within the
    /// shutdown timeout. Nothing acknowledged is lost.
    pub async fn run(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), StartupError> {
        if let Some(addr) = self.config.metrics_address {
            let metrics_listener = TcpListener::bind(addr)
                .await
                .map_err(|source| StartupError::MetricsBind { addr, source })?;
            let router = self.router();
            tokio::spawn(async move {
                let metrics_only =
                    Router::new().route("/metrics", axum::routing::get_service(router));
                let _ = axum::serve(metrics_listener, metrics_only).await;
            });
        }
        if let Ok(addr) = listener.local_addr() {
            tracing::info!(%addr, "listening");
        }

        let signalled_at = OnceLock::new();
        let state = self.state.clone();
        let drain_delay = self.config.shutdown_drain_delay;
        let timeout = self.config.shutdown_timeout;
        let stop = async {
            shutdown.await;
            let _ = signalled_at.set(Instant::now());
            tracing::info!(?drain_delay, ?timeout, "shutting down");
            state.begin_shutdown();
            tokio::time::sleep(drain_delay).await;
            // As the listener closes: hyper drains its connections, the streams drain here.
            state.close_streams();
        };
        let options = ServeOptions {
            header_read_timeout: self.config.header_read_timeout,
            max_connections: self.config.max_connections,
            send_timeout: self.config.send_timeout,
        };
        let router = self.router();
        let requests_done = server::serve(listener, router, options, stop, || {
            *signalled_at.get_or_init(Instant::now) + timeout
        })
        .await;
        let deadline = *signalled_at.get_or_init(Instant::now) + timeout;
        // Upgraded connections are not hyper's: wait for the streams to answer what they read
        // (their frames are in the queue, which the writers drain meanwhile) before closing
        // the queue, so none of their frames is refused as "shutting down".
        let streams = self.state.streams().clone();
        streams.close();
        let streams_done = tokio::time::timeout_at(deadline.into(), streams.wait())
            .await
            .is_ok();
        let requests_done = requests_done && streams_done;

        let pipeline = self.pipeline.clone();
        let flushed = tokio::task::spawn_blocking(move || pipeline.shutdown(deadline))
            .await
            .unwrap_or(false);
        self.store.close().await;
        if requests_done && flushed {
            tracing::info!("shutdown complete");
        } else {
            tracing::error!(
                requests_done,
                flushed,
                "shutdown deadline passed before everything finished"
            );
        }
        Ok(())
    }
}

impl Drop for App {
    fn drop(&mut self) {
        // An App dropped without `run` (e.g. an embedding app that only mounted the router)
        // still must not leave its queue unflushed.
        if !self.pipeline.queue().is_closed() {
            let deadline = Instant::now() + self.config.shutdown_timeout;
            if !self.pipeline.shutdown(deadline) {
                tracing::error!("writers did not flush before the shutdown deadline");
            }
        }
    }
}
