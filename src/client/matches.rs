//! [`Client::matches`] and [`Client::match_summary`]: the match list (`GET /matches`).

use reqwest::StatusCode;
use serde::{Deserialize, Deserializer};

use super::{Client, ClientError, decode, join};

/// One match of the list.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct MatchSummary {
    pub match_id: String,
    pub node_id: String,
    /// Earliest and latest frame timestamp stored.
    #[serde(deserialize_with = "rfc3339")]
    pub first_timestamp: chrono::DateTime<chrono::Utc>,
    #[serde(deserialize_with = "rfc3339")]
    pub last_timestamp: chrono::DateTime<chrono::Utc>,
    /// When the latest stored frame arrived: the list's order (most recent first).
    #[serde(deserialize_with = "rfc3339")]
    pub last_received_at: chrono::DateTime<chrono::Utc>,
    /// Frames stored, each distinct frame once.
    pub frames: u64,
}

/// One page of the list.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct MatchPage {
    pub matches: Vec<MatchSummary>,
    /// Cursor of the next page ([`MatchListRequest::after`]), when more remain.
    #[serde(default)]
    pub next: Option<String>,
}

/// The query of `GET /matches`; every field optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MatchListRequest {
    /// Only this node's matches.
    pub node: Option<String>,
    /// Only matches active (`last_received_at`) at or after this time.
    pub since: Option<chrono::DateTime<chrono::Utc>>,
    /// Only matches last active at or before this time.
    pub until: Option<chrono::DateTime<chrono::Utc>>,
    /// Page size, 1..=1000 (the service's default: 100).
    pub limit: Option<u32>,
    /// The `next` cursor of the previous page.
    pub after: Option<String>,
}

fn rfc3339<'de, D: Deserializer<'de>>(d: D) -> Result<chrono::DateTime<chrono::Utc>, D::Error> {
    let s = String::deserialize(d)?;
    chrono::DateTime::parse_from_rfc3339(&s)
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(serde::de::Error::custom)
}

pub(super) fn rfc3339_param(t: &chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

impl Client {
    /// One page of the match list, most recently active first. Follow
    /// [`MatchPage::next`] in [`MatchListRequest::after`] for the next page.
    pub async fn matches(&self, request: &MatchListRequest) -> Result<MatchPage, ClientError> {
        let mut url = join(&self.base, &["matches"]);
        {
            let mut q = url.query_pairs_mut();
            if let Some(node) = &request.node {
                q.append_pair("node", node);
            }
            if let Some(t) = &request.since {
                q.append_pair("since", &rfc3339_param(t));
            }
            if let Some(t) = &request.until {
                q.append_pair("until", &rfc3339_param(t));
            }
            if let Some(limit) = request.limit {
                q.append_pair("limit", &limit.to_string());
            }
            if let Some(after) = &request.after {
                q.append_pair("after", after);
            }
        }
        if url.query() == Some("") {
            url.set_query(None);
        }
        let reply = self.send(|| self.http.get(url.clone())).await?;
        decode(&reply.body, "a page of matches")
    }

    /// One match's summary; `None` when nothing is stored for it.
    pub async fn match_summary(&self, match_id: &str) -> Result<Option<MatchSummary>, ClientError> {
        let url = join(&self.base, &["matches", match_id]);
        match self.send(|| self.http.get(url.clone())).await {
            Ok(reply) => decode(&reply.body, "a match summary").map(Some),
            Err(e) if e.status() == Some(StatusCode::NOT_FOUND.as_u16()) => Ok(None),
            Err(e) => Err(e),
        }
    }
}
