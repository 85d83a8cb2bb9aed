//! [`Client::export`]: download a match as a replay file, streamed to a writer.

use std::time::Duration;

use reqwest::header;
use tokio::io::{AsyncWrite, AsyncWriteExt};

use super::matches::rfc3339_param;
use super::{Client, ClientError, Reply, join, status_error};

/// The file format of an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExportFormat {
    /// `.echoreplay` (a zip), what Spark and nevrcap open.
    #[default]
    EchoReplay,
    /// One protojson frame per line.
    Ndjson,
}

/// What to export.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportRequest {
    pub format: ExportFormat,
    /// Frames at or after this timestamp.
    pub since: Option<chrono::DateTime<chrono::Utc>>,
    /// Frames at or before this timestamp.
    pub until: Option<chrono::DateTime<chrono::Utc>>,
    /// Bones as the third field of each `.echoreplay` line (Spark cannot read those files).
    pub bones: bool,
}

/// A long match takes a while to download; the client's per-request timeout is for API calls.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

impl Client {
    /// Streams the export into `out` as it arrives (constant memory); returns the bytes
    /// written. An unknown match is `ClientError::Status` with 404. Not retried: a partial
    /// download may already be in `out`.
    pub async fn export<W: AsyncWrite + Unpin>(
        &self,
        match_id: &str,
        request: &ExportRequest,
        out: &mut W,
    ) -> Result<u64, ClientError> {
        let mut url = join(&self.base, &["session-events", match_id, "export"]);
        {
            let mut q = url.query_pairs_mut();
            q.append_pair(
                "format",
                match request.format {
                    ExportFormat::EchoReplay => "echoreplay",
                    ExportFormat::Ndjson => "ndjson",
                },
            );
            if let Some(t) = &request.since {
                q.append_pair("since", &rfc3339_param(t));
            }
            if let Some(t) = &request.until {
                q.append_pair("until", &rfc3339_param(t));
            }
            if request.bones {
                q.append_pair("bones", "true");
            }
        }
        let mut req = self.http.get(url).timeout(EXPORT_TIMEOUT);
        if let Some(auth) = &self.authorization {
            req = req.header(header::AUTHORIZATION, auth.clone());
        }
        let transport = |source| ClientError::Transport {
            attempts: 1,
            source,
        };
        let mut response = req.send().await.map_err(transport)?;
        if !response.status().is_success() {
            return Err(status_error_of(response).await);
        }
        let mut written = 0u64;
        while let Some(chunk) = response.chunk().await.map_err(transport)? {
            out.write_all(&chunk).await.map_err(ClientError::Io)?;
            written += chunk.len() as u64;
        }
        out.flush().await.map_err(ClientError::Io)?;
        Ok(written)
    }
}

/// The service's error answer of a streamed request, as [`ClientError::Status`].
pub(super) async fn status_error_of(response: reqwest::Response) -> ClientError {
    let status = response.status();
    let body = response.bytes().await.unwrap_or_default();
    status_error(
        &Reply {
            status,
            retry_after: None,
            body,
        },
        1,
    )
}
