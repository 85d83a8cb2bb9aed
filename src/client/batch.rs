//! The batch sender: many frames in one `POST /session-events` (length-delimited protobuf, or
//! NDJSON as given), answered with one result per frame in order. The request is retried as a
//! whole only when the service refused all of it (503); frames refused one by one come back as
//! [`FrameResult::Failed`], and those answered 503 or 504 are safe to send again.

use bytes::Bytes;
use prost::Message as _;
use serde::Deserialize;

use super::{Client, ClientError, decode};
use crate::proto::LobbySessionStateFrame;

/// One frame's outcome in a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameResult {
    Stored(String),
    Failed { status: u16, message: String },
}

#[derive(Deserialize)]
struct Line {
    success: bool,
    #[serde(default)]
    match_id: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    status: Option<u16>,
}

impl Client {
    /// Stores `frames` in one batch POST (`application/x-protobuf-delimited`); the service
    /// takes up to its `MAX_BATCH_FRAMES` (1000 by default) in one request.
    pub async fn store_batch(
        &self,
        frames: &[LobbySessionStateFrame],
    ) -> Result<Vec<FrameResult>, ClientError> {
        let mut body = Vec::with_capacity(frames.iter().map(|f| f.encoded_len() + 4).sum());
        for frame in frames {
            frame
                .encode_length_delimited(&mut body)
                .expect("a Vec grows as needed");
        }
        self.store_batch_body(body.into(), "application/x-protobuf-delimited")
            .await
    }

    /// Stores a batch body already encoded: NDJSON (`application/x-ndjson`, one protojson
    /// frame per line) or length-delimited protobuf (`application/x-protobuf-delimited`).
    pub async fn store_batch_body(
        &self,
        body: Bytes,
        content_type: &'static str,
    ) -> Result<Vec<FrameResult>, ClientError> {
        let reply = self.post_ingest(body, content_type).await?;
        parse_results(&reply.body)
    }
}

/// The per-frame lines of a batch answer.
pub(crate) fn parse_results(body: &[u8]) -> Result<Vec<FrameResult>, ClientError> {
    body.split(|b| *b == b'\n')
        .filter(|l| !l.trim_ascii().is_empty())
        .map(|line| {
            let line: Line = decode(line, "a batch result line")?;
            Ok(match (line.success, line.match_id) {
                (true, Some(match_id)) => FrameResult::Stored(match_id),
                (_, _) => FrameResult::Failed {
                    status: line.status.unwrap_or(500),
                    message: line.error.unwrap_or_default(),
                },
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_lines_in_order() {
        let body = b"{\"success\":true,\"match_id\":\"m\"}\n{\"success\":false,\"error\":\"bad\",\"status\":400}\n";
        assert_eq!(
            parse_results(body).unwrap(),
            [
                FrameResult::Stored("m".into()),
                FrameResult::Failed {
                    status: 400,
                    message: "bad".into()
                }
            ]
        );
        assert!(parse_results(b"not json\n").is_err());
    }
}
