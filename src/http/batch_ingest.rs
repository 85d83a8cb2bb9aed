//! Batch POST, for producers that buffer (the telemetry agent replays its spill file in bursts
//! of 100): `POST /session-events` with `Content-Type: application/x-ndjson` (one protojson
//! frame per line) or `application/x-protobuf-delimited` (each frame a protobuf message
//! prefixed by its varint length, as `writeDelimitedTo` writes it).
//!
//! Every frame goes through [`submit`] like a single POST; all are enqueued before any is
//! awaited, so they land in the same writer batches. The answer is one result per frame, in
//! order, so one bad frame does not fail the others.
//!
//! Status rule: **200** with per-frame results whenever anything was accepted or any frame
//! failed on its own merits (a 400 line does not make the request a 400). The request as a
//! whole fails only when nothing was accepted for a reason that is the service's, not the
//! frames': **503** (queue full, shutting down, store unavailable: retry the whole batch after
//! `Retry-After`), **413** (more than `MAX_BATCH_FRAMES` frames, or more than
//! `MAX_BATCH_BYTES`), and 400 for a body with no frame at all.

use std::time::Instant;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use super::submit::{self, Accepted};
use super::{ApiError, AppState};
use crate::frame::Encoding;
use crate::ids::{NodeId, UserId};

/// How the frames of a batch body are delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One protojson frame per line; blank lines are skipped (and get no result line).
    Ndjson,
    /// varint length + protobuf frame, repeated.
    Delimited,
}

pub async fn store(
    app: &AppState,
    format: Format,
    body: Bytes,
    node: &NodeId,
    user: Option<&UserId>,
    deadline: Instant,
) -> Response {
    let max_frames = app.settings.batch.max_frames;
    let frames = match split(format, &body, max_frames) {
        Ok(frames) => frames,
        Err(e) => {
            submit::count_rejection(&e);
            return e.into_response();
        }
    };
    if frames.is_empty() {
        let e = ApiError::BadRequest("the batch holds no frame".into());
        submit::count_rejection(&e);
        return e.into_response();
    }
    // Everything is enqueued before anything is awaited: the frames share writer batches.
    let submitted: Vec<_> = frames
        .into_iter()
        .map(|frame| {
            frame
                .inspect_err(submit::count_rejection)
                .and_then(|(bytes, encoding)| {
                    submit::submit(app, bytes, encoding, node, user, deadline)
                })
        })
        .collect();
    drop(body);
    let mut results: Vec<Result<Accepted, ApiError>> = futures::future::join_all(
        submitted
            .into_iter()
            .map(|s| async move { s?.wait().await }),
    )
    .await;

    let all_unavailable = results
        .iter()
        .all(|r| matches!(r, Err(e) if e.status() == StatusCode::SERVICE_UNAVAILABLE));
    // (`results` has one entry per frame, and there is at least one frame.)
    if all_unavailable && let Err(first) = results.swap_remove(0) {
        // Nothing was taken and nothing was wrong with the frames: the client resends it all.
        return first.into_response();
    }
    let mut out = Vec::with_capacity(results.len() * 64);
    for result in &results {
        submit::render_result(result, &mut out);
        out.push(b'\n');
    }
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-ndjson"),
        )],
        out,
    )
        .into_response()
}

type Frame<'a> = Result<(&'a [u8], Encoding), ApiError>;

/// The frames of a body, each with its own error when it cannot be cut out. More than
/// `max_frames` is a 413 for the whole request, before any frame is decoded.
fn split(format: Format, body: &[u8], max_frames: usize) -> Result<Vec<Frame<'_>>, ApiError> {
    let mut frames = Vec::new();
    let too_many = || ApiError::TooManyFrames(max_frames);
    match format {
        Format::Ndjson => {
            for line in body.split(|b| *b == b'\n') {
                let line = line.trim_ascii();
                if line.is_empty() {
                    continue;
                }
                if frames.len() == max_frames {
                    return Err(too_many());
                }
                frames.push(Ok((line, Encoding::Json)));
            }
        }
        Format::Delimited => {
            let mut rest = body;
            while !rest.is_empty() {
                if frames.len() == max_frames {
                    return Err(too_many());
                }
                match prost::decode_length_delimiter(&mut rest) {
                    Ok(len) if len <= rest.len() => {
                        let (frame, tail) = rest.split_at(len);
                        frames.push(Ok((frame, Encoding::Protobuf)));
                        rest = tail;
                    }
                    // Nothing after a broken prefix can be found: one error for the rest.
                    Ok(len) => {
                        frames.push(Err(ApiError::BadRequest(format!(
                            "frame {}: its length prefix says {len} bytes but {} remain",
                            frames.len(),
                            rest.len()
                        ))));
                        break;
                    }
                    Err(_) => {
                        frames.push(Err(ApiError::BadRequest(format!(
                            "frame {}: malformed varint length prefix",
                            frames.len()
                        ))));
                        break;
                    }
                }
            }
        }
    }
    Ok(frames)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ndjson_skips_blank_lines_and_counts_frames() {
        let body = b"{\"a\":1}\r\n\n  \n{\"b\":2}\n";
        let frames = split(Format::Ndjson, body, 10).unwrap();
        let lines: Vec<&[u8]> = frames.iter().map(|f| f.as_ref().unwrap().0).collect();
        assert_eq!(lines, [&b"{\"a\":1}"[..], b"{\"b\":2}"]);
        assert!(matches!(
            split(Format::Ndjson, body, 1),
            Err(ApiError::TooManyFrames(1))
        ));
    }

    #[test]
    fn delimited_frames_and_a_broken_tail() {
        let mut body = Vec::new();
        for frame in [&b"abc"[..], b"", b"hello"] {
            prost::encode_length_delimiter(frame.len(), &mut body).unwrap();
            body.extend_from_slice(frame);
        }
        let frames = split(Format::Delimited, &body, 10).unwrap();
        let got: Vec<&[u8]> = frames.iter().map(|f| f.as_ref().unwrap().0).collect();
        assert_eq!(got, [&b"abc"[..], b"", b"hello"]);

        body.extend_from_slice(&[50, 1, 2]); // says 50 bytes, has 2
        let frames = split(Format::Delimited, &body, 10).unwrap();
        assert_eq!(frames.len(), 4);
        assert!(frames[3].is_err());
        assert!(split(Format::Delimited, &body, 2).is_err());
    }
}
