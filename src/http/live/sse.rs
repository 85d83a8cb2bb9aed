//! `GET /session-events/{match_id}/live`: the tail as Server-Sent Events.
//!
//! ```text
//! : tail open
//!
//! event: frame
//! id: <resume position>
//! data: {"match_id":…,"user_id":…,"data":{…protojson…}}
//!
//! event: lagged
//! data: {"skipped":12}
//!
//! : keep-alive
//! ```
//!
//! The first comment is sent at once, so a client knows it is subscribed (every frame made
//! durable from then on will reach it) before any frame exists.

use std::convert::Infallible;

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;

use super::{Tail, TailItem, TailParams};
use crate::http::{ApiError, AppState};

pub async fn live(
    State(app): State<AppState>,
    Path(raw): Path<String>,
    Query(params): Query<TailParams>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let tail = Tail::open(&app, &raw, &params, &headers)?;
    let opened = futures::stream::once(async { Ok(Event::default().comment("tail open")) });
    let items = futures::stream::unfold(tail.spawn(), |mut rx| async move {
        rx.recv()
            .await
            .map(|item| (Ok::<_, Infallible>(event(item)), rx))
    });
    let keep_alive = KeepAlive::new()
        .interval(app.settings.live_keep_alive)
        .text("keep-alive");
    Ok(Sse::new(opened.chain(items))
        .keep_alive(keep_alive)
        .into_response())
}

fn event(item: TailItem) -> Event {
    match item {
        TailItem::Frame { id, json } => Event::default().event("frame").id(id).data(json),
        TailItem::Lagged(n) => Event::default()
            .event("lagged")
            .data(format!("{{\"skipped\":{n}}}")),
    }
}
