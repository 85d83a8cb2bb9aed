//! `GET /matches` and `GET /matches/{match_id}`: the match list, from the per-match summaries
//! the writers keep with each batch (never a scan of the events).
//!
//! Paging is keyset paging on the list order (`last_received_at` descending, then `match_id`):
//! a page never repeats a match of an earlier page and never skips one whose activity did not
//! change meanwhile. A match that receives frames while a client pages moves to the top of the
//! list, which the client sees by asking for the first page again.

use std::time::Instant;

use axum::Json;
use axum::extract::{Path, Query, State};
use metrics::histogram;
use serde::{Deserialize, Serialize};

use super::read::time_param;
use super::{ApiError, AppState};
use crate::ids::{MatchId, NodeId};
use crate::metrics as m;
use crate::store::{MatchCursor, MatchQuery, MatchSummary, StoreError};

/// Matches per page unless `limit` says otherwise.
pub const DEFAULT_LIMIT: usize = 100;
/// Largest page a client may ask for.
pub const MAX_LIMIT: usize = 1000;

#[derive(Debug, Deserialize)]
pub struct ListParams {
    node: Option<String>,
    since: Option<String>,
    until: Option<String>,
    limit: Option<String>,
    after: Option<String>,
}

/// One entry of the list, as the API shows it (RFC 3339 times with milliseconds).
#[derive(Debug, Serialize)]
pub struct MatchEntry {
    match_id: String,
    node_id: String,
    first_timestamp: String,
    last_timestamp: String,
    last_received_at: String,
    frames: u64,
}

impl From<&MatchSummary> for MatchEntry {
    fn from(s: &MatchSummary) -> Self {
        Self {
            match_id: s.match_id.as_str().to_owned(),
            node_id: s.node_id().to_owned(),
            first_timestamp: rfc3339_ms(s.first_timestamp_ms),
            last_timestamp: rfc3339_ms(s.last_timestamp_ms),
            last_received_at: rfc3339_ms(s.last_received_at_ms),
            frames: s.frames,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct MatchList {
    matches: Vec<MatchEntry>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next: Option<String>,
}

/// `2026-11-27T12:00:00.100Z`.
pub(super) fn rfc3339_ms(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

pub async fn list(
    State(app): State<AppState>,
    Query(params): Query<ListParams>,
) -> Result<Json<MatchList>, ApiError> {
    let limit = match params.limit.as_deref() {
        None => DEFAULT_LIMIT,
        Some(s) => match s.parse::<usize>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
            _ => {
                return Err(ApiError::BadRequest(format!(
                    "`limit` must be a whole number from 1 to {MAX_LIMIT}"
                )));
            }
        },
    };
    let query = MatchQuery {
        node: params
            .node
            .as_deref()
            .map(|n| NodeId::parse(n).map_err(|e| ApiError::BadRequest(format!("`node`: {e}"))))
            .transpose()?,
        since_ms: time_param("since", params.since.as_deref())?,
        until_ms: time_param("until", params.until.as_deref())?,
        after: params
            .after
            .as_deref()
            .map(|s| {
                MatchCursor::decode(s).ok_or_else(|| {
                    ApiError::BadRequest("`after` is not a cursor this service returned".into())
                })
            })
            .transpose()?,
        // One more than asked tells whether a next page exists.
        limit: limit + 1,
    };

    let started = Instant::now();
    let mut found = tokio::time::timeout(app.settings.store_timeout, app.store.list_matches(query))
        .await
        .map_err(|_| StoreError::Timeout(app.settings.store_timeout))??;
    histogram!(m::STORE_READ_DURATION).record(started.elapsed().as_secs_f64());

    let more = found.len() > limit;
    found.truncate(limit);
    let next = more
        .then(|| found.last().map(|s| s.cursor().encode()))
        .flatten();
    Ok(Json(MatchList {
        matches: found.iter().map(MatchEntry::from).collect(),
        next,
    }))
}

pub async fn one(
    State(app): State<AppState>,
    Path(raw): Path<String>,
) -> Result<Json<MatchEntry>, ApiError> {
    let match_id = MatchId::parse(&raw)?;
    let summary = find(&app, &match_id).await?.ok_or(ApiError::UnknownMatch)?;
    Ok(Json(MatchEntry::from(&summary)))
}

/// The match's summary, bounded by the store timeout (the export and the tail use it to tell
/// an unknown match from an empty one).
pub(super) async fn find(
    app: &AppState,
    match_id: &MatchId,
) -> Result<Option<MatchSummary>, ApiError> {
    let started = Instant::now();
    let found = tokio::time::timeout(app.settings.store_timeout, app.store.get_match(match_id))
        .await
        .map_err(|_| StoreError::Timeout(app.settings.store_timeout))??;
    histogram!(m::STORE_READ_DURATION).record(started.elapsed().as_secs_f64());
    Ok(found)
}
