//! The frames of a run: one stream per (match, node), each with its own seeded
//! `synth::MatchGenerator` starting now, the send order over the streams, and the request
//! bodies, generated ahead of the schedule on a background thread.

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::http;
use bytes::Bytes;
use session_events::synth::{self, MatchGenerator, Profile};
use tokio::sync::{mpsc, oneshot};

use crate::EncodingArg;

/// How a frame's bytes travel, so bodies are shaped for their transport before the clock
/// starts (nothing is wrapped or copied during the run).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// One frame per POST body (optionally gzip).
    Post,
    /// A WebSocket message: a protobuf `Envelope` (binary) or `{"frame":…}` (text).
    Stream,
    /// A piece of a batch body: varint length + protobuf, or one NDJSON line.
    Batch,
}

/// What the bodies of a run look like.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    pub encoding: EncodingArg,
    pub gzip: bool,
    pub framing: Framing,
    /// `--distinct-frames`: at most about this many different bodies; later sends repeat them.
    pub distinct: Option<usize>,
}

/// A prebuilt request for the HTTP transport: everything but the per-stream node header is the
/// same for every request, and the whole request is built before the clock starts.
#[derive(Clone)]
pub struct RequestTemplate {
    /// Origin-form (`/session-events`): `headers` carry Host.
    pub uri: http::Uri,
    pub headers: http::HeaderMap,
    /// `X-Node-ID` per stream.
    pub nodes: Vec<http::HeaderValue>,
}

impl RequestTemplate {
    pub fn build(&self, stream: usize, body: Bytes) -> http::Request<http_body_util::Full<Bytes>> {
        let mut request = http::Request::new(http_body_util::Full::new(body));
        *request.method_mut() = http::Method::POST;
        *request.uri_mut() = self.uri.clone();
        let headers = request.headers_mut();
        headers.clone_from(&self.headers);
        headers.insert("x-node-id", self.nodes[stream].clone());
        request
    }
}

/// One match as one node posts it.
#[derive(Debug, Clone)]
pub struct Stream {
    pub node: String,
    /// `<uuid>.<node>`, lower case, as the service answers and stores it.
    pub match_id: String,
    pub generator: MatchGenerator,
}

/// `matches` × `nodes` streams; stream `s` is match `s / nodes` of node `node-{s % nodes}`.
pub fn streams(matches: usize, nodes: usize, seed: u64, profile: Profile) -> Vec<Stream> {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    (0..matches * nodes)
        .map(|s| {
            let mut rng = fastrand::Rng::with_seed(seed ^ (s as u64).wrapping_mul(0x9E37_79B9));
            let mut bytes = [0u8; 16];
            rng.fill(&mut bytes);
            let session = uuid::Builder::from_random_bytes(bytes).into_uuid();
            let node = format!("node-{}", s % nodes);
            Stream {
                match_id: format!("{}.{node}", session.hyphenated()),
                generator: MatchGenerator::new(session, seed.wrapping_add(s as u64), profile)
                    .with_start_unix_ms(now_ms),
                node,
            }
        })
        .collect()
}

/// Send number `seq` goes to stream `seq % streams` as that stream's frame `seq / streams`.
pub fn slot(seq: u64, streams: usize) -> (usize, u32) {
    let n = streams as u64;
    (
        (seq % n) as usize,
        u32::try_from(seq / n).unwrap_or(u32::MAX),
    )
}

/// The body of frame `index` of a match, as a producer would post it.
pub fn body(
    generator: &mut MatchGenerator,
    index: u32,
    encoding: EncodingArg,
    gzip: bool,
    framing: Framing,
) -> Bytes {
    let frame = generator.frame(index);
    let raw = match encoding {
        EncodingArg::Json => synth::to_json(&frame),
        EncodingArg::Protobuf => synth::to_protobuf(&frame),
    };
    let raw = match (framing, encoding) {
        (Framing::Post, _) => raw,
        (Framing::Stream, EncodingArg::Json) => {
            let mut text = Vec::with_capacity(raw.len() + 10);
            text.extend_from_slice(b"{\"frame\":");
            text.extend_from_slice(&raw);
            text.push(b'}');
            text
        }
        // Envelope field 2 (frame), length-delimited.
        (Framing::Stream, EncodingArg::Protobuf) => prefixed(&[0x12], &raw),
        (Framing::Batch, EncodingArg::Json) => {
            let mut line = raw;
            line.push(b'\n');
            line
        }
        (Framing::Batch, EncodingArg::Protobuf) => prefixed(&[], &raw),
    };
    if !gzip {
        return raw.into();
    }
    let mut gz = flate2::write::GzEncoder::new(
        Vec::with_capacity(raw.len() / 3),
        flate2::Compression::default(),
    );
    gz.write_all(&raw).expect("gzip to memory");
    gz.finish().expect("gzip to memory").into()
}

/// `tag` + varint length + `raw`.
fn prefixed(tag: &[u8], raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + tag.len() + 5);
    out.extend_from_slice(tag);
    prost::encode_length_delimiter(raw.len(), &mut out).expect("a Vec grows");
    out.extend_from_slice(raw);
    out
}

/// One request body, in send order.
pub struct Body {
    pub seq: u64,
    pub stream: usize,
    pub index: u32,
    pub bytes: Bytes,
    /// The whole request, for the HTTP transport.
    pub request: Option<http::Request<http_body_util::Full<Bytes>>>,
}

/// What [`spawn`] reports once the bodies generated ahead of the clock are ready.
pub struct Prefill {
    pub bodies: usize,
    pub bytes: usize,
    pub seconds: f64,
}

/// The bodies of a run in send order, from several generator threads (thread `j` builds sends
/// `j`, `j + threads`, ...).
pub struct Bodies {
    rxs: Vec<mpsc::Receiver<Body>>,
    next: usize,
}

impl Bodies {
    pub async fn recv(&mut self) -> Option<Body> {
        let n = self.rxs.len();
        let body = self.rxs[self.next % n].recv().await;
        self.next += 1;
        body
    }
}

/// What a send that repeats an earlier body holds of its own (the request's head, the item):
/// an estimate, for the budget of bodies built ahead.
const REPEAT_BYTES: usize = 1024;

/// Generates the `total` bodies of a run on one thread per core. The channels hold as many
/// bodies as fit in `budget_bytes` (all of them, in most runs); the returned future resolves
/// once they are full (or every body is built), which is when the caller should start the
/// clock. Bodies beyond the budget are generated during the run.
///
/// With `shape.distinct`, send `seq` past the first `period` ones repeats the body of send
/// `seq % period` (a clone of the same `Bytes`, its own request head): `period` is a multiple
/// of the streams and of the threads, so the repeated body belongs to the same stream and was
/// built by the same thread. For servers that keep nothing (the null store, the bench's trivial
/// server), so that fast runs need no generation once the clock runs.
pub async fn spawn(
    streams: Vec<Stream>,
    total: u64,
    shape: Shape,
    template: Option<RequestTemplate>,
    budget_bytes: usize,
) -> anyhow::Result<(Bodies, Prefill)> {
    let Shape {
        encoding,
        gzip,
        framing,
        distinct,
    } = shape;
    let started = std::time::Instant::now();
    let n = streams.len();
    // The first body tells how big bodies are.
    let per_body = body(
        &mut streams[0].generator.clone(),
        0,
        encoding,
        gzip,
        framing,
    )
    .len();
    let threads = std::thread::available_parallelism()
        .map_or(1, |p| p.get())
        .clamp(1, 8) as u64;
    let threads = threads.min(total.max(1));
    let period = distinct.map_or(u64::MAX, |d| {
        let unit = n as u64 * threads;
        (d as u64).div_ceil(unit).max(1) * unit
    });
    let capacity = if period < total {
        let unique = period as usize * per_body.max(1);
        period + (budget_bytes.saturating_sub(unique) / REPEAT_BYTES) as u64
    } else {
        (budget_bytes / per_body.max(1)) as u64
    };
    let capacity = capacity.clamp(1, total.max(1));
    let mut rxs = Vec::new();
    let mut readies = Vec::new();
    for j in 0..threads {
        // Sends j, j + threads, ... and this thread's share of the prefill.
        let share = |count: u64| count / threads + u64::from(j < count % threads);
        let (mine, prefill) = (share(total), share(capacity));
        let (tx, rx) = mpsc::channel(prefill.max(1) as usize);
        let (ready_tx, ready_rx) = oneshot::channel::<usize>();
        let mut streams = streams.clone();
        let template = template.clone();
        std::thread::Builder::new()
            .name(format!("loadgen-bodies-{j}"))
            .spawn(move || {
                let mut ready = Some(ready_tx);
                let mut bytes = 0usize;
                // This thread's bodies of the first `period` sends, by k, when they repeat.
                let mut built: Vec<Bytes> = Vec::new();
                for k in 0..mine {
                    let seq = j + k * threads;
                    let (stream, index, b) = if seq < period {
                        let (stream, index) = slot(seq, n);
                        let b = body(
                            &mut streams[stream].generator,
                            index,
                            encoding,
                            gzip,
                            framing,
                        );
                        bytes += b.len();
                        if period < total {
                            built.push(b.clone());
                        }
                        (stream, index, b)
                    } else {
                        let first = seq % period;
                        let (stream, index) = slot(first, n);
                        (
                            stream,
                            index,
                            built[((first - j) / threads) as usize].clone(),
                        )
                    };
                    let request = template.as_ref().map(|t| t.build(stream, b.clone()));
                    let item = Body {
                        seq,
                        stream,
                        index,
                        bytes: b,
                        request,
                    };
                    if tx.blocking_send(item).is_err() {
                        return; // the run ended early
                    }
                    if k + 1 >= prefill.min(mine)
                        && let Some(r) = ready.take()
                    {
                        let _ = r.send(bytes);
                    }
                }
            })?;
        rxs.push(rx);
        readies.push((ready_rx, prefill.min(mine)));
    }
    let mut prefill = Prefill {
        bodies: 0,
        bytes: 0,
        seconds: 0.0,
    };
    for (ready, count) in readies {
        if count == 0 {
            continue;
        }
        prefill.bytes += ready
            .await
            .map_err(|_| anyhow::anyhow!("a body generator thread failed"))?;
        prefill.bodies += count as usize;
    }
    prefill.seconds = started.elapsed().as_secs_f64();
    Ok((Bodies { rxs, next: 0 }, prefill))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// JSON bodies speak the schema's names: inside `session` and `playerBones` the game's own
    /// keys (`game_clock_display`, `user_bones`), never the lowerCamelCase the service once
    /// emitted; and they decode to the generated frame.
    #[test]
    fn json_bodies_use_the_schema_json_names() {
        let mut s = streams(1, 1, 7, Profile::SessionWithBones).remove(0);
        let body = body(&mut s.generator, 3, EncodingArg::Json, false, Framing::Post);
        let text = std::str::from_utf8(&body).unwrap();
        for key in [
            "frameIndex",
            "game_clock_display",
            "possession_time",
            "user_bones",
            "bone_t",
        ] {
            assert!(text.contains(&format!("\"{key}\":")), "{key} missing");
        }
        for key in ["gameClockDisplay", "possessionTime", "userBones", "boneT"] {
            assert!(!text.contains(&format!("\"{key}\":")), "{key} present");
        }
        let decoded =
            session_events::frame::decode(&body, session_events::frame::Encoding::Json).unwrap();
        assert_eq!(decoded.frame, s.generator.frame(3));
        assert_eq!(decoded.unknown_fields, 0);
    }
}
