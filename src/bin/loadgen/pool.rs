//! The HTTP/1.1 keep-alive connections the `http` and `batch` transports post on.
//!
//! Why not hyper-util's pooled client: it spawned a task per send on top of a task per
//! connection, handed every request from one to the other through a channel, and (on the
//! multi-threaded runtime) woke another thread for most of those hand-offs; the generator cost
//! 140-220 µs of CPU per 10 KB frame, more than what it measured. Here one task owns one
//! connection and drives it itself (hyper's low-level `client::conn::http1`, its connection
//! future polled in the same task as the request), takes one request at a time, records the
//! answer, and offers itself again. Nothing is spawned per send; a new connection (and its task)
//! is opened only when every open one is busy, so there are as many connections as requests in
//! flight at the busiest moment (HTTP/1.1 has one request per connection at a time), each reused
//! for as long as the service keeps it open. The per-request timeout is one timer per
//! connection, re-armed, not a new timer per send.
//!
//! An idle connection that the service closes (a restart, its idle timeout) is noticed while
//! idle, since its task keeps polling it, and leaves the pool: sends never go to a connection
//! known to be dead.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::Request;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::http::Shared;
use crate::requests::Outcome;

/// A request's status, whether it had `Retry-After`, and its body (when kept); or why there
/// was no answer (`connect`, `request`, `body`, `timeout`).
pub type Answer = Result<(u16, bool, Bytes), &'static str>;

/// What to do with an answer.
pub enum Reply {
    /// One frame's POST: its status is its outcome; the body is read and dropped.
    Frame {
        stream: usize,
        index: u32,
        at: Instant,
    },
    /// A batch POST: its body (one result line per frame) is kept and handed to the closure,
    /// which records every frame.
    Batch(Box<dyn FnOnce(Answer) + Send>),
}

/// One request to send, and who gets its answer.
pub struct Job {
    pub request: Request<Full<Bytes>>,
    pub reply: Reply,
}

/// A connection task's mailbox: the job put there when the task was taken from the idle list.
#[derive(Default)]
struct Slot {
    job: Mutex<Option<Job>>,
    wake: Notify,
}

struct Inner {
    addr: SocketAddr,
    timeout: Duration,
    /// Connection tasks waiting for a job, the most recently idle last (reused first, so the
    /// fewest connections stay busy and the rest may be closed by the service's idle timeout).
    idle: Mutex<Vec<Arc<Slot>>>,
    shared: Arc<Shared>,
}

#[derive(Clone)]
pub struct Pool {
    inner: Arc<Inner>,
}

impl Pool {
    /// Connections to `authority` (`host:port`, resolved once, here).
    pub async fn new(
        authority: &str,
        timeout: Duration,
        shared: Arc<Shared>,
    ) -> anyhow::Result<Self> {
        let addr = tokio::net::lookup_host(authority)
            .await?
            .next()
            .ok_or_else(|| anyhow::anyhow!("{authority} resolves to no address"))?;
        Ok(Self {
            inner: Arc::new(Inner {
                addr,
                timeout,
                idle: Mutex::new(Vec::new()),
                shared,
            }),
        })
    }

    /// What answers are recorded in.
    pub fn shared(&self) -> &Arc<Shared> {
        &self.inner.shared
    }

    /// Sends `job` on an idle connection, or on a new one when none is idle. Never waits: the
    /// caller bounds the requests in flight.
    pub fn submit(&self, job: Job) {
        let mut idle = self.inner.idle.lock().unwrap();
        if let Some(slot) = idle.pop() {
            // Under the idle lock, so a task that finds itself gone from the list also finds its job.
            *slot.job.lock().unwrap() = Some(job);
            drop(idle);
            slot.wake.notify_one();
        } else {
            drop(idle);
            tokio::spawn(connection(
                self.inner.clone(),
                Arc::new(Slot::default()),
                job,
            ));
        }
    }
}

impl Inner {
    fn finish(&self, reply: Reply, answer: Answer) {
        match reply {
            Reply::Frame { stream, index, at } => {
                let outcome = match answer {
                    Ok((code, retry_after, _)) => Outcome::Status { code, retry_after },
                    Err(kind) => Outcome::Transport(kind),
                };
                self.shared.record(stream, index, at, outcome);
            }
            Reply::Batch(done) => done(answer),
        }
    }

    /// Takes this task out of the idle list; `None` if it was still there (no job for it),
    /// else the job a sender put in its slot as it took it.
    fn leave(&self, slot: &Arc<Slot>) -> Option<Job> {
        let mut idle = self.idle.lock().unwrap();
        if let Some(i) = idle.iter().position(|s| Arc::ptr_eq(s, slot)) {
            idle.swap_remove(i);
            return None;
        }
        slot.job.lock().unwrap().take()
    }
}

async fn connect(addr: SocketAddr) -> Result<TcpStream, &'static str> {
    let stream = tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(addr))
        .await
        .map_err(|_| "connect")?
        .map_err(|_| "connect")?;
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

/// One connection's task: sends `job`, then every job given to it, until the connection ends
/// while idle (a connection that ends with a job in hand is replaced for that job).
async fn connection(inner: Arc<Inner>, slot: Arc<Slot>, mut job: Job) {
    // One timer per connection, re-armed for each request.
    let deadline = tokio::time::sleep(inner.timeout);
    tokio::pin!(deadline);
    loop {
        let stream = match connect(inner.addr).await {
            Ok(s) => s,
            Err(kind) => {
                // The service is down: this frame fails; the next send dials again.
                inner.finish(job.reply, Err(kind));
                return;
            }
        };
        let Ok((mut sender, conn)) = http1::handshake(TokioIo::new(stream)).await else {
            inner.finish(job.reply, Err("connect"));
            return;
        };
        tokio::pin!(conn);
        let mut conn_done = false;
        loop {
            deadline.as_mut().reset(Instant::now() + inner.timeout);
            let keep_body = matches!(job.reply, Reply::Batch(_));
            let answer = {
                let exchange = exchange(&mut sender, job.request, keep_body);
                tokio::pin!(exchange);
                tokio::select! {
                    biased;
                    answer = &mut exchange => answer,
                    _ = &mut conn => {
                        // The connection is gone; the exchange fails now, if not answered.
                        conn_done = true;
                        futures::FutureExt::now_or_never(&mut exchange).unwrap_or(Err("request"))
                    }
                    () = &mut deadline => Err("timeout"),
                }
            };
            let failed = answer.is_err();
            inner.finish(job.reply, answer);
            if failed || conn_done {
                // A failed exchange leaves the connection in an unknown state: not reused.
                return;
            }
            // Idle: offer this connection, and watch it meanwhile.
            inner.idle.lock().unwrap().push(slot.clone());
            let next = loop {
                tokio::select! {
                    biased;
                    () = slot.wake.notified() => {
                        // A stale wake-up (its job was taken another way) finds no job.
                        if let Some(j) = slot.job.lock().unwrap().take() {
                            break Some(j);
                        }
                    }
                    _ = &mut conn => {
                        conn_done = true;
                        break inner.leave(&slot);
                    }
                }
            };
            match next {
                Some(j) if !conn_done => job = j,
                // Closed under a job just given: dial again for it.
                Some(j) => {
                    job = j;
                    break;
                }
                None => return,
            }
        }
    }
}

/// Sends a request and reads its whole answer: its status, whether it had `Retry-After`, and
/// (when asked) its body. A dropped body is still read, frame by frame, so the connection can
/// take the next request.
async fn exchange(
    sender: &mut SendRequest<Full<Bytes>>,
    request: Request<Full<Bytes>>,
    keep_body: bool,
) -> Answer {
    sender.ready().await.map_err(|_| "request")?;
    let response = sender.send_request(request).await.map_err(|_| "request")?;
    let code = response.status().as_u16();
    let retry_after = response
        .headers()
        .contains_key(axum::http::header::RETRY_AFTER);
    let mut body = response.into_body();
    if keep_body {
        let bytes = body.collect().await.map_err(|_| "body")?.to_bytes();
        return Ok((code, retry_after, bytes));
    }
    while let Some(frame) = body.frame().await {
        frame.map_err(|_| "body")?;
    }
    Ok((code, retry_after, Bytes::new()))
}
