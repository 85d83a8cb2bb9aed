//! `GET /session-events/{match_id}`: a match's events, oldest first, streamed.
//!
//! The body is written as the store cursor yields, so a match of any size takes constant memory
//! here. Because of that, `count` (and `next`, when a `limit` left events unread) come after
//! `events` in the object: `{"match_id":…,"events":[…],"count":N,"next":"…"}`. JSON key order
//! carries no meaning, so clients of the original read it unchanged.

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use metrics::histogram;
use serde::Deserialize;

use super::{ApiError, AppState};
use crate::frame::{StoredEvent, render_event_json};
use crate::ids::MatchId;
use crate::metrics as m;
use crate::store::{Cursor, EventStream, ReadQuery, StoreError};

/// Largest page a client may ask for with `limit`.
pub const MAX_LIMIT: u64 = 10_000;
/// Body chunks are flushed at about this size.
const CHUNK_BYTES: usize = 64 * 1024;

#[derive(Debug, Deserialize)]
pub struct ReadParams {
    limit: Option<String>,
    after: Option<String>,
    since: Option<String>,
    until: Option<String>,
}

pub async fn match_events(
    State(app): State<AppState>,
    Path(raw): Path<String>,
    Query(params): Query<ReadParams>,
) -> Result<Response, ApiError> {
    let match_id = MatchId::parse(&raw)?;
    let permit = app.try_read()?;
    let limit = params.limit.as_deref().map(parse_limit).transpose()?;
    let query = ReadQuery {
        match_id: match_id.clone(),
        after: params
            .after
            .as_deref()
            .map(|s| {
                Cursor::decode(s).ok_or_else(|| {
                    ApiError::BadRequest("`after` is not a cursor this service returned".into())
                })
            })
            .transpose()?,
        since_ms: time_param("since", params.since.as_deref())?,
        until_ms: time_param("until", params.until.as_deref())?,
        // One more than asked tells whether a next page exists.
        limit: limit.map(|l| l + 1),
    };

    // The bound applies to each step that waits on the store (the query and its first batch
    // here, then each further batch while the body streams), never to the whole match: a match
    // of any size is read as long as the store keeps answering.
    let bound = app.settings.store_timeout;
    let started = Instant::now();
    let events = tokio::time::timeout(bound, app.store.read(query))
        .await
        .map_err(|_| StoreError::Timeout(bound))
        .and_then(|r| r)
        .map_err(ApiError::from_read)?;
    histogram!(m::STORE_READ_DURATION).record(started.elapsed().as_secs_f64());

    // The permit lives as long as the body: a stalled client holds its slot until the
    // server's send timeout closes the connection.
    let body = Body::from_stream(render(match_id, each_within(events, bound), limit).map(
        move |chunk| {
            let _ = &permit;
            chunk
        },
    ));
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

fn parse_limit(s: &str) -> Result<u64, ApiError> {
    match s.parse::<u64>() {
        Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        _ => Err(ApiError::BadRequest(format!(
            "`limit` must be a whole number from 1 to {MAX_LIMIT}"
        ))),
    }
}

/// An optional RFC 3339 query parameter, as milliseconds since the epoch.
pub(super) fn time_param(name: &str, value: Option<&str>) -> Result<Option<i64>, ApiError> {
    value.map(|s| parse_time(name, s)).transpose()
}

fn parse_time(name: &str, s: &str) -> Result<i64, ApiError> {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.timestamp_millis())
        .map_err(|_| {
            ApiError::BadRequest(format!(
                "`{name}` must be an RFC 3339 time, e.g. 2026-01-31T12:00:00Z"
            ))
        })
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// `events`, with each wait for the next one bounded by `bound`: a store that stalls mid-read
/// ends the stream with [`StoreError::Timeout`] instead of holding the response open forever.
/// Events already fetched (the rest of a cursor batch) come at once, so in effect this bounds
/// each batch.
pub(super) fn each_within<T: Send + 'static>(
    events: futures::stream::BoxStream<'static, Result<T, StoreError>>,
    bound: Duration,
) -> futures::stream::BoxStream<'static, Result<T, StoreError>> {
    futures::stream::unfold(Some(events), move |events| async move {
        let mut events = events?;
        match tokio::time::timeout(bound, events.next()).await {
            Ok(Some(item)) => Some((item, Some(events))),
            Ok(None) => None,
            Err(_) => Some((Err(StoreError::Timeout(bound)), None)),
        }
    })
    .boxed()
}

struct Render {
    events: EventStream,
    match_id: MatchId,
    limit: Option<u64>,
    count: u64,
    last: Option<Cursor>,
    started: bool,
}

/// The response body as a stream of chunks. A store error mid-way ends the stream with an
/// error, so the client sees a truncated body (never a well-formed partial answer).
fn render(
    match_id: MatchId,
    events: EventStream,
    limit: Option<u64>,
) -> impl futures::Stream<Item = Result<Vec<u8>, BoxError>> + Send {
    let state = Render {
        events,
        match_id,
        limit,
        count: 0,
        last: None,
        started: false,
    };
    futures::stream::unfold(Some(state), |state| async move {
        let mut st = state?;
        match st.next_chunk().await {
            Ok((chunk, more)) => Some((Ok(chunk), more.then_some(st))),
            Err(e) => {
                tracing::warn!(error = %crate::logging::error_chain(&*e), "read stream failed");
                Some((Err(e), None))
            }
        }
    })
}

impl Render {
    /// The next chunk, and whether more follow.
    async fn next_chunk(&mut self) -> Result<(Vec<u8>, bool), BoxError> {
        let mut buf = Vec::with_capacity(CHUNK_BYTES + 16 * 1024);
        if !self.started {
            self.started = true;
            buf.extend_from_slice(b"{\"match_id\":");
            serde_json::to_writer(&mut buf, self.match_id.as_str())?;
            buf.extend_from_slice(b",\"events\":[");
        }
        loop {
            let next = self.events.next().await.transpose()?;
            let Some(event) = next else {
                self.finish(&mut buf, false);
                return Ok((buf, false));
            };
            if self.limit.is_some_and(|l| self.count >= l) {
                self.finish(&mut buf, true);
                return Ok((buf, false));
            }
            self.push(&mut buf, &event)?;
            if buf.len() >= CHUNK_BYTES {
                return Ok((buf, true));
            }
        }
    }

    fn push(&mut self, buf: &mut Vec<u8>, event: &StoredEvent) -> Result<(), BoxError> {
        if self.count > 0 {
            buf.push(b',');
        }
        render_event_json(event, buf)?;
        self.last = Some(Cursor::of(event)?);
        self.count += 1;
        Ok(())
    }

    fn finish(&self, buf: &mut Vec<u8>, more: bool) {
        buf.extend_from_slice(format!("],\"count\":{}", self.count).as_bytes());
        if let (true, Some(last)) = (more, &self.last) {
            buf.extend_from_slice(format!(",\"next\":\"{}\"", last.encode()).as_bytes());
        }
        buf.push(b'}');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_store_that_stalls_mid_read_ends_the_stream_with_a_timeout() {
        let stalls = futures::stream::iter([Ok(1), Ok(2)])
            .chain(futures::stream::pending())
            .boxed();
        let got: Vec<_> = each_within(stalls, Duration::from_millis(20))
            .collect()
            .await;
        assert!(
            matches!(
                got.as_slice(),
                [Ok(1), Ok(2), Err(StoreError::Timeout(d))] if *d == Duration::from_millis(20)
            ),
            "{got:?}"
        );
    }
}
