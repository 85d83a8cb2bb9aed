//! The accept loop: hyper connections with a header-read timeout, a cap on open connections
//! (WebSocket streams included, see [`ConnectionSlot`]), upgrades, and graceful shutdown (stop
//! accepting, let in-flight requests finish, bounded by a deadline). Upgraded connections are
//! not hyper's any more: the service closes its streams itself.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tower::ServiceExt;

/// A connection's slot under `MAX_CONNECTIONS`, put in every request's extensions. A WebSocket
/// handler keeps a clone for the life of its stream: the HTTP connection future ends when the
/// socket is upgraded, and the slot must outlive it, or streams would escape the cap.
#[derive(Clone)]
pub struct ConnectionSlot(#[allow(dead_code)] Arc<OwnedSemaphorePermit>);

pub struct ServeOptions {
    pub header_read_timeout: Duration,
    pub max_connections: usize,
}

/// Producers send a handful of headers; a request with more is abuse (hyper answers 431).
const MAX_HEADERS: usize = 64;
/// Bound on buffered request head bytes per connection (headers beyond it: 431).
const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Concurrent HTTP/2 streams per connection, so one connection cannot take every writer.
const MAX_H2_STREAMS: u32 = 256;

/// Serves `router` until `shutdown` resolves, then stops accepting and waits for open
/// connections until `drain_deadline()` (called at that moment) passes. Returns whether every
/// connection finished in time.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    options: ServeOptions,
    shutdown: impl Future<Output = ()>,
    drain_deadline: impl FnOnce() -> Instant,
) -> bool {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(options.header_read_timeout)
        .max_headers(MAX_HEADERS)
        .max_buf_size(MAX_HEAD_BYTES);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(MAX_H2_STREAMS);
    let builder = Arc::new(builder);
    let graceful = GracefulShutdown::new();
    let permits = Arc::new(Semaphore::new(options.max_connections));
    tokio::pin!(shutdown);

    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of file descriptors and the like: pause rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            tracing::warn!(
                max = options.max_connections,
                "connection limit reached; closing new connection"
            );
            continue;
        };
        let _ = stream.set_nodelay(true);
        let slot = ConnectionSlot(Arc::new(permit));
        let service = TowerToHyperService::new(router.clone().map_request(
            move |mut req: axum::http::Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(slot.clone());
                req
            },
        ));
        // With upgrades: the WebSocket routes take the connection over.
        let conn = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), service)
            .into_owned();
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    let deadline = drain_deadline();
    tokio::time::timeout_at(deadline.into(), graceful.shutdown())
        .await
        .is_ok()
}
