//! `--transport batch`: frames collected per node (a batch carries one `X-Node-ID`) and posted
//! `--batch-frames` at a time, as NDJSON (`--encoding json`) or length-delimited protobuf.
//! A batch goes out when its last frame is due (the producer buffered the others), so each
//! frame's latency, from its own scheduled time, includes the wait for its batch. The body is
//! the frames' pregenerated pieces joined: one copy per batch, the only work done at send time.

use axum::http::{HeaderMap, HeaderValue, Request, Uri};
use bytes::{Bytes, BytesMut};
use http_body_util::Full;
use tokio::time::Instant;

use crate::Args;
use crate::bodies::Body;
use crate::pool::{Job, Pool, Reply};
use crate::requests::Outcome;

pub struct Batcher {
    pool: Pool,
    /// Origin-form (`/session-events`); `headers` carry Host.
    uri: Uri,
    headers: HeaderMap,
    /// Per node: its `X-Node-ID` and the frames waiting for its next batch.
    nodes: Vec<(HeaderValue, Vec<(Body, Instant)>)>,
    size: usize,
}

impl Batcher {
    pub fn new(
        args: &Args,
        pool: Pool,
        uri: Uri,
        headers: HeaderMap,
        stream_nodes: &[HeaderValue],
        node_count: usize,
    ) -> Self {
        // Stream s belongs to node s % nodes (see bodies::streams).
        let nodes = (0..node_count)
            .map(|n| {
                (
                    stream_nodes[n].clone(),
                    Vec::with_capacity(args.batch_frames),
                )
            })
            .collect();
        Self {
            pool,
            uri,
            headers,
            nodes,
            size: args.batch_frames,
        }
    }

    pub fn add(&mut self, body: Body, at: Instant) {
        let node = body.stream % self.nodes.len();
        self.nodes[node].1.push((body, at));
        if self.nodes[node].1.len() >= self.size {
            self.flush(node);
        }
    }

    pub fn flush_all(&mut self) {
        for node in 0..self.nodes.len() {
            if !self.nodes[node].1.is_empty() {
                self.flush(node);
            }
        }
    }

    fn flush(&mut self, node: usize) {
        let frames = std::mem::replace(&mut self.nodes[node].1, Vec::with_capacity(self.size));
        let mut body = BytesMut::with_capacity(frames.iter().map(|(b, _)| b.bytes.len()).sum());
        for (frame, _) in &frames {
            body.extend_from_slice(&frame.bytes);
        }
        let mut request = Request::new(Full::new(body.freeze()));
        *request.method_mut() = axum::http::Method::POST;
        *request.uri_mut() = self.uri.clone();
        request.headers_mut().clone_from(&self.headers);
        request
            .headers_mut()
            .insert("x-node-id", self.nodes[node].0.clone());
        let frames: Vec<(usize, u32, Instant)> = frames
            .into_iter()
            .map(|(b, at)| (b.stream, b.index, at))
            .collect();
        let shared = self.pool.shared().clone();
        self.pool.submit(Job {
            request,
            reply: Reply::Batch(Box::new(move |answer| {
                let outcomes = outcomes(answer, frames.len());
                for ((s, i, at), outcome) in frames.into_iter().zip(outcomes) {
                    shared.record(s, i, at, outcome);
                }
            })),
        });
    }
}

/// One outcome per frame: its result line on a 200, else the request's status for all (a
/// timeout is the pool's `Err("timeout")`).
fn outcomes(answer: Result<(u16, bool, Bytes), &'static str>, frames: usize) -> Vec<Outcome> {
    #[derive(serde::Deserialize)]
    struct Line {
        success: bool,
        #[serde(default)]
        status: Option<u16>,
    }
    match answer {
        Err(kind) => (0..frames).map(|_| Outcome::Transport(kind)).collect(),
        Ok((200, _, body)) => {
            let mut lines: Vec<Outcome> = body
                .split(|b| *b == b'\n')
                .filter(|l| !l.is_empty())
                .map(|l| match serde_json::from_slice::<Line>(l) {
                    Ok(Line { success: true, .. }) => Outcome::Status {
                        code: 200,
                        retry_after: false,
                    },
                    Ok(Line { status, .. }) => Outcome::Status {
                        code: status.unwrap_or(500),
                        retry_after: true,
                    },
                    Err(_) => Outcome::Transport("body"),
                })
                .collect();
            // A short answer: the frames without a line are not known to be stored.
            lines.resize_with(frames, || Outcome::Transport("body"));
            lines
        }
        Ok((code, retry_after, _)) => (0..frames)
            .map(|_| Outcome::Status { code, retry_after })
            .collect(),
    }
}
