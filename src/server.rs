//! The accept loop: hyper connections (HTTP/1 and HTTP/2), a cap on open connections, a
//! watchdog per connection, and graceful shutdown (stop accepting, let in-flight requests
//! finish, bounded by a deadline).
//!
//! # The watchdog
//!
//! hyper bounds the time to send HTTP/1 headers (`HEADER_READ_TIMEOUT`), but that clock only
//! starts once hyper-util's auto builder has chosen a protocol, and HTTP/2 has no idle bound at
//! all: a socket that sends nothing, or stops inside or right after the HTTP/2 preface, was held
//! forever (100 of them filled `MAX_CONNECTIONS=100` and every new client was reset). A client
//! that stops reading a response (or keeps an HTTP/2 window at zero) held its response, and the
//! memory behind it, forever too. So every connection is driven together with a watchdog that
//! knows, from a wrapper around the service and the response bodies:
//!
//! - **idle**: no request in progress for `HEADER_READ_TIMEOUT` (from the accept for the first
//!   request, so it also bounds the time to the first request byte, whatever the protocol):
//!   graceful shutdown (HTTP/2 GOAWAY), and the connection is dropped if it has not ended
//!   another `HEADER_READ_TIMEOUT` later;
//! - **stalled**: a response body chunk handed to hyper and not followed by a request for the
//!   next one for `SEND_TIMEOUT` (hyper asks only when the client has taken the previous one):
//!   the connection is dropped, freeing the response.
//!
//! HTTP/2 also sends keep-alive pings, so a peer that vanished is noticed even mid-request.
//!
//! The connection's slot under `MAX_CONNECTIONS` is in every request's extensions (see
//! [`ConnectionSlot`]), and connections are served with upgrades: an upgraded connection is not
//! hyper's (nor the watchdog's) any more, the service closes its streams itself.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tower::ServiceExt;

/// A connection's slot under `MAX_CONNECTIONS`, put in every request's extensions. A WebSocket
/// handler keeps a clone for the life of its stream: the HTTP connection future ends when the
/// socket is upgraded, and the slot must outlive it, or streams would escape the cap.
#[derive(Clone)]
pub struct ConnectionSlot(#[allow(dead_code)] Arc<OwnedSemaphorePermit>);

pub struct ServeOptions {
    /// Time to the first request, to send a request's headers, and that an idle connection
    /// (HTTP/1 keep-alive or HTTP/2) stays open.
    pub header_read_timeout: Duration,
    pub max_connections: usize,
    /// How long a response may wait for the client to take more of it.
    pub send_timeout: Duration,
}

/// Producers send a handful of headers; a request with more is abuse (hyper answers 431).
const MAX_HEADERS: usize = 64;
/// Bound on buffered request head bytes per connection (headers beyond it: 431), and so on
/// hyper's HTTP/1 read buffer, which every open connection keeps for its life: hyper's minimum,
/// 8 KiB (64 headers of a producer fit many times over). At 64 KiB, hyper-util's protocol
/// sniffing (a 24-byte first read) made the adaptive buffer grow to 16 KiB for any request
/// over 8 KB, and a waiting frame's connection held 16 KiB of read buffer rather than 8: heap
/// per waiting request 50.6 → 42.4 KB in `tests/waiting_memory.rs` (the rest: its 14 KB
/// document, hyper's 8 KiB write buffer, the connection task and the request's futures).
const MAX_HEAD_BYTES: usize = 8 * 1024;
/// Concurrent HTTP/2 streams per connection, so one connection cannot take every writer.
const MAX_H2_STREAMS: u32 = 256;
/// HTTP/2 keep-alive: a ping this often, and the connection closed if it is not answered in
/// [`H2_KEEP_ALIVE_TIMEOUT`] (a peer that vanished without a FIN or RST).
const H2_KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(20);
const H2_KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(20);

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
        .max_concurrent_streams(MAX_H2_STREAMS)
        .keep_alive_interval(H2_KEEP_ALIVE_INTERVAL)
        .keep_alive_timeout(H2_KEEP_ALIVE_TIMEOUT);
    let builder = Arc::new(builder);
    let limits = Arc::new(Limits {
        idle: options.header_read_timeout,
        send: options.send_timeout,
    });
    // `true` once shutdown begins; every connection task holds a `done` sender, so `recv`
    // returns `None` once the last one has ended.
    let (stopping, stop_rx) = watch::channel(false);
    let (done, mut all_done) = mpsc::channel::<()>(1);
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
        let activity = Arc::new(Activity::new());
        let slot = ConnectionSlot(Arc::new(permit));
        let service = tracked(router.clone(), activity.clone(), slot);
        // With upgrades: the WebSocket routes (stream ingest, the live tail) take the connection over.
        let conn = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), TowerToHyperService::new(service))
            .into_owned();
        let (limits, stop_rx, done) = (limits.clone(), stop_rx.clone(), done.clone());
        tokio::spawn(async move {
            drive(conn, &activity, &limits, stop_rx).await;
            drop(done);
        });
    }
    drop(listener);
    let deadline = drain_deadline();
    let _ = stopping.send(true);
    drop(done);
    tokio::time::timeout_at(deadline.into(), all_done.recv())
        .await
        .is_ok()
}

struct Limits {
    idle: Duration,
    send: Duration,
}

/// Runs one connection to its end under the watchdog (see the module docs).
async fn drive<C>(conn: C, activity: &Activity, limits: &Limits, mut stop: watch::Receiver<bool>)
where
    C: Future<Output = Result<(), Box<dyn std::error::Error + Send + Sync>>> + GracefulShutdown,
{
    tokio::pin!(conn);
    let period =
        (limits.idle.min(limits.send) / 4).clamp(Duration::from_millis(50), Duration::from_secs(1));
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut closing = false;
    let mut drop_at: Option<Instant> = None;
    loop {
        tokio::select! {
            ended = conn.as_mut() => {
                if let Err(e) = ended {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                return;
            }
            changed = stop.changed(), if !closing => {
                // Shutdown (or the server gone): finish what is in flight, take nothing new.
                let _ = changed;
                conn.as_mut().shut_down();
                closing = true;
            }
            _ = tick.tick() => {
                let now = Instant::now();
                if drop_at.is_some_and(|at| now >= at) {
                    tracing::debug!("idle connection did not close in time; dropping it");
                    return;
                }
                if activity.stalled_for(now) >= limits.send {
                    tracing::debug!(send_timeout = ?limits.send, "client stopped taking its response; closing the connection");
                    return;
                }
                if !closing && activity.idle_for(now) >= limits.idle {
                    tracing::debug!("idle connection; closing it");
                    conn.as_mut().shut_down();
                    closing = true;
                    drop_at = Some(now + limits.idle);
                }
            }
        }
    }
}

/// hyper-util's connection types share `graceful_shutdown` but no trait for it.
trait GracefulShutdown {
    fn shut_down(self: Pin<&mut Self>);
}

impl<I, S, E, B> GracefulShutdown
    for hyper_util::server::conn::auto::UpgradeableConnection<'_, I, S, E>
where
    S: hyper::service::HttpService<Incoming, ResBody = B>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    B: hyper::body::Body + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    E: hyper_util::server::conn::auto::HttpServerConnExec<S::Future, B>,
{
    fn shut_down(self: Pin<&mut Self>) {
        self.graceful_shutdown();
    }
}

/// What the watchdog knows of one connection.
struct Activity {
    origin: Instant,
    /// Requests whose response has not ended yet.
    open: AtomicUsize,
    /// Milliseconds after `origin` of the last request start or response end.
    last: AtomicU64,
    next_id: AtomicU64,
    /// Responses that handed hyper a chunk it has not asked past yet: id → ms after `origin`.
    handed: Mutex<BTreeMap<u64, u64>>,
}

impl Activity {
    fn new() -> Self {
        Self {
            origin: Instant::now(),
            open: AtomicUsize::new(0),
            last: AtomicU64::new(0),
            next_id: AtomicU64::new(0),
            handed: Mutex::new(BTreeMap::new()),
        }
    }

    fn ms(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.origin).as_millis()).unwrap_or(u64::MAX)
    }

    fn touch(&self) {
        self.last.store(self.ms(Instant::now()), Ordering::Release);
    }

    fn idle_for(&self, now: Instant) -> Duration {
        if self.open.load(Ordering::Acquire) > 0 {
            return Duration::ZERO;
        }
        Duration::from_millis(
            self.ms(now)
                .saturating_sub(self.last.load(Ordering::Acquire)),
        )
    }

    fn handed(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, u64>> {
        self.handed.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// How long the oldest chunk handed to hyper has waited for the client.
    fn stalled_for(&self, now: Instant) -> Duration {
        let oldest = self.handed().values().min().copied();
        oldest.map_or(Duration::ZERO, |at| {
            Duration::from_millis(self.ms(now).saturating_sub(at))
        })
    }
}

/// The router, with each request counted in `activity` until its response body ends.
fn tracked(
    router: Router,
    activity: Arc<Activity>,
    slot: ConnectionSlot,
) -> impl tower::Service<
    hyper::Request<Incoming>,
    Response = axum::response::Response,
    Error = Infallible,
    Future = impl Future<Output = Result<axum::response::Response, Infallible>> + Send,
> + Clone {
    tower::service_fn(move |mut req: hyper::Request<Incoming>| {
        req.extensions_mut().insert(slot.clone());
        let guard = Open::new(activity.clone());
        let router = router.clone();
        async move {
            let response = router.oneshot(req).await?;
            Ok(response.map(|inner| {
                Body::new(Tracked {
                    inner,
                    guard,
                    marked: false,
                })
            }))
        }
    })
}

/// One open request of a connection.
struct Open {
    activity: Arc<Activity>,
    id: u64,
}

impl Open {
    fn new(activity: Arc<Activity>) -> Self {
        activity.open.fetch_add(1, Ordering::AcqRel);
        activity.touch();
        let id = activity.next_id.fetch_add(1, Ordering::Relaxed);
        Self { activity, id }
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.activity.handed().remove(&self.id);
        self.activity.touch();
        self.activity.open.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A response body that tells the watchdog when hyper holds a chunk of it and has not asked
/// for the next (the client is not taking it).
struct Tracked {
    inner: Body,
    guard: Open,
    marked: bool,
}

impl hyper::body::Body for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        if this.marked {
            this.guard.activity.handed().remove(&this.guard.id);
            this.marked = false;
        }
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled
            && frame.is_data()
            && !this.inner.is_end_stream()
        {
            let now = this.guard.activity.ms(Instant::now());
            this.guard.activity.handed().insert(this.guard.id, now);
            this.marked = true;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
