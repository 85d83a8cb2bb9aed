//! `GET /session-events/{match_id}/live/ws`: the tail as a WebSocket, for clients that prefer
//! one. Each text message is `{"event":"frame","id":"<resume position>","data":{…event…}}` or
//! `{"event":"lagged","skipped":N}`; the server pings every keep-alive interval and closes with
//! 1001 (going away) at shutdown. Messages from the client other than close are ignored.

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use futures::{SinkExt, StreamExt};

use super::{Tail, TailItem, TailParams};
use crate::http::{ApiError, AppState};

/// Largest message a client may send (it has nothing to say but close and pong).
const MAX_CLIENT_MESSAGE: usize = 4096;

pub async fn live_ws(
    State(app): State<AppState>,
    Path(raw): Path<String>,
    Query(params): Query<TailParams>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    // Subscribed before the 101, so refusals are plain HTTP errors.
    let tail = Tail::open(&app, &raw, &params, &headers)?;
    let keep_alive = app.settings.live_keep_alive;
    Ok(upgrade
        .max_message_size(MAX_CLIENT_MESSAGE)
        .on_upgrade(move |socket| serve(socket, tail, app, keep_alive)))
}

async fn serve(socket: WebSocket, tail: Tail, app: AppState, keep_alive: std::time::Duration) {
    let (mut tx, mut rx) = socket.split();
    let mut items = tail.spawn();
    let mut ping = tokio::time::interval(keep_alive);
    ping.reset();
    loop {
        tokio::select! {
            item = items.recv() => {
                let Some(item) = item else { break };
                if tx.send(Message::Text(message(item).into())).await.is_err() {
                    return;
                }
            }
            incoming = rx.next() => match incoming {
                Some(Ok(Message::Close(_)) | Err(_)) | None => return,
                Some(Ok(_)) => {}
            },
            _ = ping.tick() => {
                if tx.send(Message::Ping(Default::default())).await.is_err() {
                    return;
                }
            }
        }
    }
    // The tail ended: the service is shutting down (or the replay failed).
    let reason = if app.live.is_closed() {
        "the service is shutting down; reconnect and resume"
    } else {
        "the tail could not read the store; reconnect and resume"
    };
    let code = if app.live.is_closed() {
        close_code::AWAY
    } else {
        close_code::ERROR
    };
    let _ = tx
        .send(Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        })))
        .await;
}

fn message(item: TailItem) -> String {
    match item {
        TailItem::Frame { id, json } => {
            let mut s = String::with_capacity(json.len() + id.len() + 32);
            s.push_str("{\"event\":\"frame\",\"id\":\"");
            // A cursor is base64url: nothing to escape.
            s.push_str(&id);
            s.push_str("\",\"data\":");
            s.push_str(&json);
            s.push('}');
            s
        }
        TailItem::Lagged(n) => format!("{{\"event\":\"lagged\",\"skipped\":{n}}}"),
    }
}
