//! WebSocket stream ingest, `GET /ws` and `GET /v3/stream` (what `nevr-agent stream` dials):
//! one connection carries a producer's whole stream, each message one frame (or a header).
//!
//! - The upgrade request says who sends: `X-Node-ID` / `X-User-ID` (or `?node=` / `?user=`
//!   for clients that cannot set headers) apply to every frame. The `write` scope's bearer
//!   token is checked by the route's auth layer before the upgrade (401), and identity errors
//!   are a 400, both before any socket exists.
//! - Text messages are protojson Envelopes or bare frames, binary messages protobuf Envelopes
//!   ([`super::envelope`]); each frame goes through the same [`submit`] as a POST.
//! - **One reply per message, in message order**, pipelined: the reader submits frame after
//!   frame without waiting for writes, and hands each pending acknowledgement to the writer
//!   task through a channel of `WS_MAX_IN_FLIGHT` slots. At the bound the reader stops reading
//!   (TCP backpressure on the producer) instead of buffering; a full ingest queue answers the
//!   frame 503 (the producer resends; ids make that safe). A client that does not read its
//!   replies stalls the writer, which stalls the reader: memory per connection stays bounded,
//!   and a reply that cannot be written within the idle timeout ends the connection.
//! - A bad message gets its error reply and the stream goes on; a message over
//!   `MAX_BODY_BYTES` cannot be skipped (its bytes are still on the wire), so it is answered
//!   413 and the connection is closed with 1009.
//! - The server pings every `WS_PING_INTERVAL`; a client silent (no message, no pong) for
//!   `WS_IDLE_TIMEOUT` is disconnected.
//! - Shutdown: hyper's graceful shutdown does not cover upgraded connections, so the service
//!   signals every stream itself ([`AppState::close_streams`]): the reader stops, every frame
//!   already read is answered, then the writer closes with 1001 (going away). The service
//!   waits for the streams ([`AppState::streams`]) before it flushes and exits.

use std::pin::pin;
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade, close_code};
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use futures::{SinkExt, StreamExt};
use metrics::{counter, gauge};
use serde::Deserialize;
use tokio::sync::mpsc;

use super::envelope::{self, Member};
use super::ingest::header_str;
use super::submit::{self, Pending};
use super::{ApiError, AppState};
use crate::ids::{NodeId, UserId};
use crate::metrics as m;

/// The upgrade request's query: identity for clients that cannot set headers.
#[derive(Debug, Default, Deserialize)]
pub struct StreamQuery {
    node: Option<String>,
    user: Option<String>,
}

/// Holds a slot of the server's connection cap for as long as the stream lives: the HTTP
/// connection that carried the upgrade ends (and frees its own hold) when the socket is
/// handed over. Absent when the router is served by something else than [`crate::server`].
type ConnectionSlot = crate::server::ConnectionSlot;

pub async fn upgrade(
    State(app): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<StreamQuery>,
    slot: Option<axum::Extension<ConnectionSlot>>,
    ws: WebSocketUpgrade,
) -> Response {
    let identity = (|| {
        if app.is_shutting_down() {
            return Err(ApiError::ShuttingDown);
        }
        let node = header_str(&headers, "x-node-id")?.or(query.node.as_deref());
        let user = header_str(&headers, "x-user-id")?.or(query.user.as_deref());
        Ok((NodeId::from_header(node)?, UserId::from_header(user)?))
    })();
    let (node, user) = match identity {
        Ok(identity) => identity,
        Err(e) => return e.into_response(),
    };
    let max = app.settings.max_body_bytes;
    let tracker = app.streams().clone();
    ws.max_message_size(max)
        .max_frame_size(max)
        // Replies are small; this bounds what a client that does not read them can cost.
        .max_write_buffer_size(MAX_WRITE_BUFFER)
        .on_upgrade(move |socket| {
            tracker.track_future(async move {
                let _slot = slot;
                Stream { app, node, user }.run(socket).await;
            })
        })
}

/// Bytes of replies tungstenite may hold unsent before a write waits for the socket.
const MAX_WRITE_BUFFER: usize = 256 * 1024;

struct Stream {
    app: AppState,
    node: NodeId,
    user: Option<UserId>,
}

/// What the reader hands the writer, in message order.
enum Item {
    /// A frame in the pipeline; the writer awaits it.
    Pending(Pending),
    /// A message answered at once (a header, or a message that failed before the queue).
    Done(Result<Option<String>, ApiError>),
    /// The last item: close with this code after every earlier reply.
    Close(u16, &'static str),
}

impl Stream {
    async fn run(self, socket: WebSocket) {
        let open = gauge!(m::WS_CONNECTIONS);
        open.increment(1.0);
        let (sink, stream) = socket.split();
        let settings = &self.app.settings.ws;
        let (tx, rx) = mpsc::channel(settings.max_in_flight);
        let writer = write_replies(sink, rx, settings.ping_interval, settings.idle_timeout);
        let reader = self.read_messages(stream, tx);
        let (unread, ()) = tokio::join!(reader, writer);
        if let Some(stream) = unread {
            finish_close(stream).await;
        }
        open.decrement(1.0);
    }

    /// Reads and submits messages until the client closes, or the service closes the stream;
    /// in that last case it hands the stream back for the closing handshake.
    async fn read_messages(
        &self,
        mut stream: futures::stream::SplitStream<WebSocket>,
        tx: mpsc::Sender<Item>,
    ) -> Option<futures::stream::SplitStream<WebSocket>> {
        let idle = self.app.settings.ws.idle_timeout;
        let closing = self.app.closing_streams();
        let close = loop {
            let next = tokio::select! {
                biased;
                () = closing.cancelled() => break Some((close_code::AWAY, "the service is shutting down")),
                next = tokio::time::timeout(idle, stream.next()) => next,
            };
            let message = match next {
                Err(_) => {
                    break Some((
                        close_code::AWAY,
                        "no message or pong within the idle timeout",
                    ));
                }
                Ok(None) => break None,
                Ok(Some(Err(e))) => break self.read_error(&e, &tx).await,
                Ok(Some(Ok(message))) => message,
            };
            let item = match message {
                Message::Text(text) => self.accept(envelope::open_text(text.as_bytes())),
                Message::Binary(bytes) => self.accept(envelope::open_binary(&bytes)),
                // Pongs (and the client's pings, answered by tungstenite) only prove liveness.
                Message::Ping(_) | Message::Pong(_) => continue,
                Message::Close(_) => break None,
            };
            // At the in-flight bound this waits: the socket is not read, TCP pushes back.
            if tx.send(item).await.is_err() {
                return None; // the writer gave up on the client
            }
        };
        let (code, reason) = close?;
        let _ = tx.send(Item::Close(code, reason)).await;
        Some(stream)
    }

    /// A message opened into a header or a frame: answered at once, or submitted.
    fn accept(&self, member: Result<Member<'_>, ApiError>) -> Item {
        let deadline = Instant::now() + self.app.settings.request_timeout;
        match member {
            Ok(Member::Header) => Item::Done(Ok(None)),
            Ok(Member::Frame(bytes, encoding)) => {
                match submit::submit(
                    &self.app,
                    bytes,
                    encoding,
                    &self.node,
                    self.user.as_ref(),
                    deadline,
                ) {
                    Ok(pending) => Item::Pending(pending),
                    Err(e) => Item::Done(Err(e)),
                }
            }
            Err(e) => {
                submit::count_rejection(&e);
                Item::Done(Err(e))
            }
        }
    }

    /// A read that failed: an oversized message is answered and closes with 1009; anything
    /// else (reset, protocol violation) ends the stream without a close.
    async fn read_error(
        &self,
        e: &axum::Error,
        tx: &mpsc::Sender<Item>,
    ) -> Option<(u16, &'static str)> {
        let too_big = std::error::Error::source(e)
            .and_then(|s| s.downcast_ref::<tokio_tungstenite::tungstenite::Error>())
            .is_some_and(|e| matches!(e, tokio_tungstenite::tungstenite::Error::Capacity(_)));
        if too_big {
            let e = ApiError::TooLarge(self.app.settings.max_body_bytes);
            submit::count_rejection(&e);
            let _ = tx.send(Item::Done(Err(e))).await;
            Some((close_code::SIZE, "message too big"))
        } else {
            tracing::debug!(error = %e, "WebSocket read failed");
            None
        }
    }
}

/// How long a stream the service closed waits for the client's close frame.
const CLOSE_HANDSHAKE: Duration = Duration::from_secs(2);

/// The closing handshake of a stream the service closed: read (and drop: they can no longer
/// be answered, so they are not acknowledged and the client resends them) what the client
/// still sends until its close frame, for at most [`CLOSE_HANDSHAKE`]. Dropping the socket at
/// once, with the client's frames unread, makes the kernel answer with a reset, which can
/// reach the client before the close frame does (seen as "connection reset" instead of 1001
/// on a busy machine).
async fn finish_close(mut stream: futures::stream::SplitStream<WebSocket>) {
    let _ = tokio::time::timeout(CLOSE_HANDSHAKE, async {
        while let Some(Ok(message)) = stream.next().await {
            if matches!(message, Message::Close(_)) {
                break;
            }
        }
    })
    .await;
}

/// Answers the items in order, pings the client, and closes the stream last.
async fn write_replies(
    mut sink: futures::stream::SplitSink<WebSocket, Message>,
    mut rx: mpsc::Receiver<Item>,
    ping_interval: Duration,
    write_timeout: Duration,
) {
    let mut ping =
        tokio::time::interval_at(tokio::time::Instant::now() + ping_interval, ping_interval);
    loop {
        let item = tokio::select! {
            item = rx.recv() => item,
            _ = ping.tick() => {
                if !send(&mut sink, write_timeout, Message::Ping(Default::default())).await {
                    return;
                }
                continue;
            }
        };
        let result = match item {
            None => break,
            Some(Item::Close(code, reason)) => {
                let frame = CloseFrame {
                    code,
                    reason: Utf8Bytes::from_static(reason),
                };
                let _ = send(&mut sink, write_timeout, Message::Close(Some(frame))).await;
                return;
            }
            Some(Item::Done(result)) => result,
            Some(Item::Pending(pending)) => {
                let mut wait = pin!(pending.wait());
                loop {
                    tokio::select! {
                        result = &mut wait => break result.map(|a| Some(a.match_id)),
                        _ = ping.tick() => {
                            if !send(&mut sink, write_timeout, Message::Ping(Default::default())).await {
                                return;
                            }
                        }
                    }
                }
            }
        };
        counter!(m::WS_MESSAGES, "outcome" => match &result {
            Ok(Some(_)) => "frame",
            Ok(None) => "header",
            Err(_) => "failed",
        })
        .increment(1);
        if !send(
            &mut sink,
            write_timeout,
            Message::Text(reply(&result).into()),
        )
        .await
        {
            tracing::debug!("a WebSocket client did not take its replies; closing");
            return;
        }
    }
    let _ = sink.close().await;
}

/// Whether `message` was written within `timeout`.
async fn send(
    sink: &mut futures::stream::SplitSink<WebSocket, Message>,
    timeout: Duration,
    message: Message,
) -> bool {
    matches!(
        tokio::time::timeout(timeout, sink.send(message)).await,
        Ok(Ok(()))
    )
}

fn reply(result: &Result<Option<String>, ApiError>) -> String {
    let value = match result {
        Ok(Some(match_id)) => serde_json::json!({ "success": true, "match_id": match_id }),
        Ok(None) => serde_json::json!({ "success": true }),
        Err(e) => submit::render_error(e),
    };
    value.to_string()
}
