//! The per-frame hot path at the HTTP edge, stage by stage (see "Hot path facts" in the design
//! notes): decode (protojson with JSON names, protojson with proto names, binary protobuf),
//! frame → stored document, decode + build together, document → response JSON, the content id,
//! and batch assembly through the queue. `reference/*` scans and parses the same body with
//! plain serde_json so these numbers can be set against the design notes' figures.
//!
//! ```text
//! HOT_PATH_CLOCK=cpu cargo bench --bench hot_path -- --warm-up-time 1 --measurement-time 3
//! cargo bench --bench hot_path -- --warm-up-time 1 --measurement-time 3     # wall time
//! ```
//!
//! `HOT_PATH_CLOCK=cpu` measures the thread's CPU time instead of wall time: on a shared machine
//! wall time also counts the time the thread waited for a core. Throughput is per frame of
//! input: the body's own size for `decode*`, the JSON body's size for `build`, `render` and
//! `parts/{event_id,protobuf_encode,bson_data}`, the stored BSON for `batch500`.
//!
//! # Results
//!
//! The latest before/after figures (instructions per frame from callgrind, CPU side by side)
//! are in `loadtest/BENCHMARKS.md`, newest section last; the table below is the a8cdb4a
//! baseline, kept for the history of the decoder.
//!
//! At commit a8cdb4a (pbjson's number reader already replaced, c3f771d), 2 shared cores with a
//! load average of 5-7 from other builds, so absolute times are inflated and vary by ±20% run
//! to run; `Ir` (instructions per frame from `valgrind --tool=callgrind` on the bench binary
//! with `--bench --profile-time 2 '^<id>$'`) does not depend on the load. Medians of CPU time.
//! Inputs: frame 123 of a synthetic match; session = 10,489 B JSON, 11,083 B proto-names JSON,
//! 6,463 B protobuf, 13,670 B stored BSON; bones = 28,281 / 28,933 / 13,014 / 33,270 B.
//!
//! Left: session (10.5 KB JSON); right: bones (28 KB JSON). frames/s = per core.
//!
//! | bench                         |    µs | MiB/s |   fr/s |    Ir |    µs | MiB/s |   fr/s |
//! |-------------------------------|------:|------:|-------:|------:|------:|------:|-------:|
//! | decode/json                   | 120.7 |  82.9 |  8,280 |  654K | 273.3 |  98.7 |  3,660 |
//! | decode/json_proto_names       | 122.6 |  86.2 |  8,150 |  658K | 281.8 |  97.9 |  3,550 |
//! | decode/protobuf               |  35.8 | 172.2 | 27,900 |  186K |  56.5 | 219.7 | 17,700 |
//! | build/document                |  66.6 | 150.3 | 15,000 |  390K | 134.0 | 201.3 |  7,460 |
//! | decode_build/json             | 228.7 |  43.7 |  4,370 | 1.04M | 429.7 |  62.8 |  2,330 |
//! | decode_build/json_proto_names | 218.8 |  48.3 |  4,570 |       | 443.8 |  62.2 |  2,250 |
//! | decode_build/protobuf         | 115.4 |  53.4 |  8,670 |  572K | 179.0 |  69.3 |  5,590 |
//! | render/event_json             | 203.4 |  49.2 |  4,920 |  987K | 464.7 |  58.0 |  2,150 |
//! | parts/event_id                |  12.5 |   798 | 79,800 |   81K |  16.9 | 1,600 | 59,300 |
//! | parts/protobuf_encode         |  13.9 |   718 | 71,800 |   75K |  17.8 | 1,513 | 56,100 |
//! | parts/bson_data               |  46.5 | 215.3 | 21,500 |  302K | 118.0 | 228.5 |  8,470 |
//! | parts/pbjson_bare             | 109.3 |  91.5 |  9,150 |  571K | 202.0 | 133.5 |  4,950 |
//! | parts/prost_bare              |  36.0 | 171.1 | 27,800 |       |  50.5 | 245.6 | 19,800 |
//! | reference/ignored_any         |  25.3 | 395.9 | 39,600 |  179K |  50.2 | 537.7 | 19,900 |
//! | reference/value               | 214.8 |  46.6 |  4,660 |  937K | 277.5 |  97.2 |  3,600 |
//!
//! Batch assembly, 500 documents: `Queue::try_send` × 500 takes 24.5 µs (49 ns a document;
//! bones 33.7 µs); the same crossbeam channel sent and drained into a writer-style batch 51.7 µs
//! (103 ns a document; bones 89.8 µs): noise next to decoding. (The queue's receive side is
//! `pub(super)`, so the drain runs on the channel type it wraps.)
//!
//! Protobuf vs JSON, time per frame: decode 3.4× faster (bones 4.8×), decode + build 2.0×
//! (bones 2.4×): the build (~390K Ir) is paid by both, so ≥ 3× for decode + build would need a
//! build under ~50K Ir at today's decode costs (JSON 654K, protobuf 186K Ir), and none at all
//! once the JSON decode is down to ~500K Ir.
//!
//! Against the 40 µs target for decode + build of a 12 KB JSON frame: 228.7 µs of CPU here,
//! 1.04M Ir = 5.8 scans of the same body with `IgnoredAny` (179K Ir). With the design notes'
//! 10 µs scan that is ≈ 58 µs; the remaining fixes measured in a prototype (serde_ignored's key
//! capture replaced by a counting `IgnoredAny`: decode 653K → 497K Ir; array keys in BSON
//! written without `core::fmt`: build 389K → 291K Ir, bones 910K → 589K) bring it to ≈ 0.79M
//! Ir ≈ 44 µs at that scan speed; hashing the BSON `data` instead of re-encoding protobuf for
//! the id would save another 75K Ir. Before c3f771d (pbjson's untagged number reader, which
//! built and formatted an error for each of the ~760 numbers of a frame): decode/json 2.79M Ir
//! (467 µs), decode_build/json 3.18M Ir (597 µs), render 2.40M Ir (394 µs).
//!
//! **serde_ignored replaced** (on cf51af2): build.rs points the generated deserializers' skip
//! of unknown fields at a counting `IgnoredAny` (`src/proto/unknown.rs`) instead of wrapping
//! the decode in `serde_ignored`, which built a path for every key. Callgrind, same input,
//! before → after: `frame::decode` 657K → 500K Ir per frame (−24 %), decode + build 1.06M →
//! 0.89M Ir (−16 %). CPU clock, three alternating runs of both binaries (load average 3.2):
//! decode/json/session medians 125 → 102 µs, decode_build/json/session 194 → 157 µs.
//!
//! **Cost of metrics** (`metrics/*`, on 8ee6d7c, load average 2.7; `HOT_PATH_CLOCK=cpu cargo bench --bench
//! hot_path -- --warm-up-time 1 --measurement-time 3 'metrics|decode_build/(json|protobuf)/session'`): what one
//! acknowledged frame records costs 1.24 µs under the service's Prometheus recorder against
//! 0.39 µs under the no-op recorder (the timestamps and label strings made either way), and a
//! batch adds 0.66 µs (0.14 µs no-op). At 50 frames a batch that is ≈ 1.25 µs a frame in all,
//! 0.86 µs of it in the recorder: 0.65 % of decode + build of the same run (189.7 µs JSON,
//! 87.5 µs protobuf: 1.4 %), and 0.16 % of the service's 782 µs of CPU a frame (BENCHMARKS.md).

use std::hint::black_box;
use std::time::{Duration, Instant, SystemTime};

use axum::http::{Method, StatusCode};
use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{BatchSize, BenchmarkId, Criterion, Throughput};
use metrics::{Gauge, Recorder, counter, gauge, histogram};
use serde::Deserialize;
use session_events::frame::{self, DecodedFrame, Encoding, EventDocument, EventId, StoredEvent};
use session_events::ids::{MatchId, NodeId, UserId};
use session_events::metrics as m;
use session_events::pipeline::{Queue, WriteRequest};
use session_events::proto::LobbySessionStateFrame;
use session_events::synth::{self, MatchGenerator, Profile};

/// Documents per batch (the writer's default `batch_max_docs`).
const BATCH: usize = 500;

/// One frame of a profile in every encoding the service accepts, plus what the edge holds.
struct Input {
    name: &'static str,
    frame: LobbySessionStateFrame,
    json: Vec<u8>,
    proto_names: Vec<u8>,
    protobuf: Vec<u8>,
    decoded: DecodedFrame,
    node: NodeId,
    user: UserId,
}

impl Input {
    fn new(name: &'static str, profile: Profile) -> Self {
        let session = uuid::Uuid::from_u128(0x892e23e2_8272_4b07_85e8_5e291ac85f93);
        // A frame with a few events in it (the kind cycles with the index).
        let frame = MatchGenerator::new(session, 7, profile).frame(123);
        let json = synth::to_json(&frame);
        let proto_names = synth::to_proto_names_json(&frame);
        let protobuf = synth::to_protobuf(&frame);
        let decoded = frame::decode(&json, Encoding::Json).expect("synthetic frame decodes");
        assert_eq!(decoded.frame, frame);
        assert_eq!(
            frame::decode(&proto_names, Encoding::Json).unwrap().frame,
            frame
        );
        assert_eq!(
            frame::decode(&protobuf, Encoding::Protobuf).unwrap().frame,
            frame
        );
        // The transcoder writes the oracle's `data` byte for byte (src/frame/differential.rs).
        let node = NodeId::parse("node-1").unwrap();
        let user = UserId::parse("user-1").unwrap();
        let at = SystemTime::now();
        let new = frame::decode_document(&json, Encoding::Json, &node, Some(&user), at).unwrap();
        let old = EventDocument::build(&decoded, &node, Some(&user), at).unwrap();
        assert_eq!(new.doc.bson.as_bytes(), old.bson.as_bytes());
        Self {
            name,
            frame,
            json,
            proto_names,
            protobuf,
            decoded,
            node: NodeId::parse("node-1").unwrap(),
            user: UserId::parse("user-1").unwrap(),
        }
    }

    fn build(&self, decoded: &DecodedFrame) -> EventDocument {
        EventDocument::build(decoded, &self.node, Some(&self.user), SystemTime::now())
            .expect("document builds")
    }

    fn json_len(&self) -> u64 {
        self.json.len() as u64
    }
}

fn inputs() -> Vec<Input> {
    let inputs = vec![
        Input::new("session", Profile::Session),
        Input::new("bones", Profile::SessionWithBones),
    ];
    for i in &inputs {
        let doc = i.build(&i.decoded);
        eprintln!(
            "hot_path input {}: json {} B, proto-names json {} B, protobuf {} B, stored BSON {} B",
            i.name,
            i.json.len(),
            i.proto_names.len(),
            i.protobuf.len(),
            doc.size()
        );
    }
    inputs
}

/// `frame::decode` of each accepted encoding (includes session id parse and the finite check).
/// Throughput: the body's own size.
fn decode<M: Measurement>(c: &mut Criterion<M>, inputs: &[Input]) {
    let mut g = c.benchmark_group("decode");
    for i in inputs {
        g.throughput(Throughput::Bytes(i.json.len() as u64));
        g.bench_with_input(BenchmarkId::new("json", i.name), &i.json, |b, body| {
            b.iter(|| frame::decode(black_box(body), Encoding::Json).unwrap())
        });
        g.throughput(Throughput::Bytes(i.proto_names.len() as u64));
        g.bench_with_input(
            BenchmarkId::new("json_proto_names", i.name),
            &i.proto_names,
            |b, body| b.iter(|| frame::decode(black_box(body), Encoding::Json).unwrap()),
        );
        g.throughput(Throughput::Bytes(i.protobuf.len() as u64));
        g.bench_with_input(
            BenchmarkId::new("protobuf", i.name),
            &i.protobuf,
            |b, body| b.iter(|| frame::decode(black_box(body), Encoding::Protobuf).unwrap()),
        );
    }
    g.finish();
}

/// `EventDocument::build` from an already decoded frame. Throughput: the JSON body's size.
fn build<M: Measurement>(c: &mut Criterion<M>, inputs: &[Input]) {
    let mut g = c.benchmark_group("build");
    for i in inputs {
        g.throughput(Throughput::Bytes(i.json_len()));
        g.bench_with_input(BenchmarkId::new("document", i.name), i, |b, i| {
            b.iter(|| i.build(black_box(&i.decoded)))
        });
    }
    g.finish();
}

/// The whole per-frame edge cost: decode + validate + build. Throughput: the body's own size.
/// What ingest does per frame: request bytes → stored document (the single-pass transcoder,
/// `frame::decode_document`), beside the previous path (`oracle_decode_build`: decode into the
/// prost structs, then `EventDocument::build`) in the same run.
fn decode_build<M: Measurement>(c: &mut Criterion<M>, inputs: &[Input]) {
    let mut g = c.benchmark_group("decode_build");
    for i in inputs {
        for (kind, body, enc) in [
            ("json", &i.json, Encoding::Json),
            ("json_proto_names", &i.proto_names, Encoding::Json),
            ("protobuf", &i.protobuf, Encoding::Protobuf),
        ] {
            g.throughput(Throughput::Bytes(body.len() as u64));
            g.bench_with_input(BenchmarkId::new(kind, i.name), body, |b, body| {
                b.iter(|| {
                    frame::decode_document(
                        black_box(body),
                        enc,
                        &i.node,
                        Some(&i.user),
                        SystemTime::now(),
                    )
                    .unwrap()
                })
            });
        }
    }
    g.finish();
    let mut g = c.benchmark_group("oracle_decode_build");
    for i in inputs {
        for (kind, body, enc) in [
            ("json", &i.json, Encoding::Json),
            ("json_proto_names", &i.proto_names, Encoding::Json),
            ("protobuf", &i.protobuf, Encoding::Protobuf),
        ] {
            g.throughput(Throughput::Bytes(body.len() as u64));
            g.bench_with_input(BenchmarkId::new(kind, i.name), body, |b, body| {
                b.iter(|| {
                    let decoded = frame::decode(black_box(body), enc).unwrap();
                    i.build(&decoded)
                })
            });
        }
    }
    g.finish();
}

/// `render_event_json` of a stored document (what GET serves per event).
/// Throughput: the JSON body's size (the rendered `data` is the same JSON).
fn render<M: Measurement>(c: &mut Criterion<M>, inputs: &[Input]) {
    let mut g = c.benchmark_group("render");
    for i in inputs {
        let stored = StoredEvent(i.build(&i.decoded).bson);
        let mut out = Vec::with_capacity(2 * i.json.len());
        frame::render_event_json(&stored, &mut out).unwrap();
        g.throughput(Throughput::Bytes(i.json_len()));
        g.bench_with_input(BenchmarkId::new("event_json", i.name), &stored, |b, s| {
            b.iter(|| {
                out.clear();
                frame::render_event_json(black_box(s), &mut out).unwrap();
                out.len()
            })
        });
    }
    g.finish();
}

/// `EventId::derive` with the canonical protobuf encoding it hashes, and the pieces of `build`
/// on their own. Throughput: the JSON body's size.
fn parts<M: Measurement>(c: &mut Criterion<M>, inputs: &[Input]) {
    let mut g = c.benchmark_group("parts");
    for i in inputs {
        let match_id = MatchId::new(i.decoded.session, &i.node);
        g.throughput(Throughput::Bytes(i.json_len()));
        g.bench_with_input(BenchmarkId::new("event_id", i.name), i, |b, i| {
            b.iter(|| {
                let proto = prost::Message::encode_to_vec(black_box(&i.frame));
                EventId::derive(&match_id, Some(&i.user), &proto)
            })
        });
        g.bench_with_input(BenchmarkId::new("protobuf_encode", i.name), i, |b, i| {
            b.iter(|| prost::Message::encode_to_vec(black_box(&i.frame)))
        });
        g.bench_with_input(BenchmarkId::new("bson_data", i.name), i, |b, i| {
            b.iter(|| bson::to_raw_document_buf(black_box(&i.frame)).unwrap())
        });
        // Typed JSON decode without validation or the end-of-input check: what `decode/json`
        // pays on top of the bare pbjson decode.
        g.throughput(Throughput::Bytes(i.json.len() as u64));
        g.bench_with_input(
            BenchmarkId::new("pbjson_bare", i.name),
            &i.json,
            |b, body| {
                b.iter(|| {
                    let mut de = serde_json::Deserializer::from_slice(black_box(body));
                    LobbySessionStateFrame::deserialize(&mut de).unwrap()
                })
            },
        );
        g.throughput(Throughput::Bytes(i.protobuf.len() as u64));
        g.bench_with_input(
            BenchmarkId::new("prost_bare", i.name),
            &i.protobuf,
            |b, body| {
                b.iter(|| {
                    <LobbySessionStateFrame as prost::Message>::decode(black_box(&body[..]))
                        .unwrap()
                })
            },
        );
    }
    g.finish();
}

/// A writer's batch, as `pipeline::writer::Batch` keeps it (docs and bookkeeping side by side).
#[derive(Default)]
struct Batch {
    docs: Vec<EventDocument>,
    pending: Vec<(
        Option<Instant>,
        Instant,
        Option<session_events::pipeline::Ack>,
    )>,
    bytes: usize,
}

impl Batch {
    fn push(&mut self, req: WriteRequest) {
        self.bytes += req.doc.size();
        self.docs.push(req.doc);
        self.pending.push((req.deadline, req.enqueued_at, req.ack));
    }
}

/// 500 prebuilt documents through the queue. The queue's receive side is private to the
/// pipeline, so two measurements: `Queue::try_send` × 500 (the handlers' side, with its byte
/// accounting and gauges), and the same crossbeam channel type the queue wraps, sent and drained
/// into a writer-style batch. Setup (cloning the documents, making the acks) and dropping are
/// not timed. Throughput: the documents' BSON bytes.
fn batch<M: Measurement>(c: &mut Criterion<M>, inputs: &[Input]) {
    let mut g = c.benchmark_group("batch500");
    for i in inputs {
        let doc = i.build(&i.decoded);
        g.throughput(Throughput::Bytes((doc.size() * BATCH) as u64));
        let requests = || {
            let now = Instant::now();
            let mut acks = Vec::with_capacity(BATCH);
            let reqs: Vec<WriteRequest> = (0..BATCH)
                .map(|_| {
                    let (tx, rx) = tokio::sync::oneshot::channel();
                    acks.push(rx);
                    WriteRequest {
                        doc: doc.clone(),
                        deadline: Some(now + std::time::Duration::from_secs(30)),
                        enqueued_at: now,
                        ack: Some(tx),
                    }
                })
                .collect();
            (reqs, acks)
        };
        g.bench_function(BenchmarkId::new("queue_try_send", i.name), |b| {
            b.iter_batched(
                || (Queue::new(2 * BATCH, usize::MAX / 2), requests()),
                |(queue, (reqs, acks))| {
                    for req in reqs {
                        if queue.try_send(req).is_err() {
                            panic!("queue refused a request");
                        }
                    }
                    (queue, acks)
                },
                BatchSize::PerIteration,
            )
        });
        g.bench_function(BenchmarkId::new("channel_send_drain", i.name), |b| {
            let (tx, rx) = crossbeam_channel::bounded::<WriteRequest>(2 * BATCH);
            b.iter_batched(
                requests,
                |(reqs, acks)| {
                    for req in reqs {
                        assert!(tx.try_send(req).is_ok(), "channel has room");
                    }
                    let mut batch = Batch::default();
                    while batch.docs.len() < BATCH {
                        batch.push(rx.try_recv().expect("queued"));
                    }
                    (batch, acks)
                },
                BatchSize::PerIteration,
            )
        });
    }
    g.finish();
}

/// Plain serde_json on the same JSON body: scan only, and a dynamic `Value` tree.
fn reference<M: Measurement>(c: &mut Criterion<M>, inputs: &[Input]) {
    let mut g = c.benchmark_group("reference");
    for i in inputs {
        g.throughput(Throughput::Bytes(i.json_len()));
        g.bench_with_input(
            BenchmarkId::new("ignored_any", i.name),
            &i.json,
            |b, body| {
                b.iter(|| serde_json::from_slice::<serde::de::IgnoredAny>(black_box(body)).unwrap())
            },
        );
        g.bench_with_input(BenchmarkId::new("value", i.name), &i.json, |b, body| {
            b.iter(|| serde_json::from_slice::<serde_json::Value>(black_box(body)).unwrap())
        });
    }
    g.finish();
}

fn hot_path<M: Measurement>(c: &mut Criterion<M>) {
    let inputs = inputs();
    decode(c, &inputs);
    build(c, &inputs);
    decode_build(c, &inputs);
    render(c, &inputs);
    parts(c, &inputs);
    batch(c, &inputs);
    reference(c, &inputs);
    metrics_cost(c);
}

/// The metric handles the queue registers once and sets on every send and take.
struct QueueGauges {
    depth: Gauge,
    bytes: Gauge,
}

/// What one acknowledged POST records, with the service's label values and in its order:
/// `http/ingest.rs` (frames received), `pipeline/queue.rs` (depth and bytes on send and on
/// take), `pipeline/writer.rs` (ack latency), `http/middleware.rs` (request count and duration;
/// the status label is formatted per request there too). A mirror of those lines, kept in one
/// function so it is easy to check against them.
fn record_frame(queue: &QueueGauges) {
    let started = Instant::now();
    let method = Method::POST;
    counter!(m::FRAMES_RECEIVED).increment(1);
    queue.depth.set(1.0);
    queue.bytes.set(13_670.0);
    queue.depth.set(0.0);
    queue.bytes.set(0.0);
    histogram!(m::ACK_LATENCY).record(started.elapsed().as_secs_f64());
    let status = StatusCode::OK.as_u16().to_string();
    counter!(m::HTTP_REQUESTS, "method" => method.as_str().to_owned(), "route" => "/session-events", "status" => status)
        .increment(1);
    histogram!(m::HTTP_REQUEST_DURATION, "method" => method.as_str().to_owned(), "route" => "/session-events")
        .record(started.elapsed().as_secs_f64());
}

/// What one written batch records (`pipeline/writer.rs`), paid once per batch.
fn record_batch(frames: u64, bytes: u64) {
    let started = Instant::now();
    histogram!(m::BATCH_SIZE_FRAMES).record(frames as f64);
    histogram!(m::BATCH_SIZE_BYTES).record(bytes as f64);
    histogram!(m::STORE_WRITE_DURATION).record(started.elapsed().as_secs_f64());
    counter!(m::FRAMES_WRITTEN).increment(frames);
    counter!(m::FRAMES_DUPLICATE).increment(0);
}

/// The cost of metrics: the same calls under the service's Prometheus recorder
/// (`metrics::builder`, its buckets) and under the no-op recorder, side by side. Per-frame cost
/// = `per_frame` + `per_batch` ÷ batch size. One thread, so no contention on the recorder's
/// atomics; the service records from many threads, but into per-series atomics.
fn metrics_cost<M: Measurement>(c: &mut Criterion<M>) {
    let prometheus = session_events::metrics::builder().build_recorder();
    let recorders: [(&str, &dyn Recorder); 2] = [
        ("noop", &metrics::NoopRecorder),
        ("prometheus", &prometheus),
    ];
    let mut group = c.benchmark_group("metrics");
    group.throughput(Throughput::Elements(1));
    for (name, recorder) in recorders {
        metrics::with_local_recorder(recorder, || {
            let queue = QueueGauges {
                depth: gauge!(m::QUEUE_DEPTH),
                bytes: gauge!(m::QUEUE_BYTES),
            };
            group.bench_function(BenchmarkId::new("per_frame", name), |b| {
                b.iter(|| record_frame(black_box(&queue)))
            });
            group.bench_function(BenchmarkId::new("per_batch", name), |b| {
                b.iter(|| record_batch(black_box(50), black_box(50 * 13_670)))
            });
        });
    }
    group.finish();
}

/// CPU time of the measuring thread (`CLOCK_THREAD_CPUTIME_ID`): on a shared machine, wall time
/// also counts the time the thread waited for a core; this does not.
struct ThreadCpuTime;

#[repr(C)]
struct Timespec {
    tv_sec: i64,
    tv_nsec: i64,
}

unsafe extern "C" {
    fn clock_gettime(clock: i32, ts: *mut Timespec) -> i32;
}

const CLOCK_THREAD_CPUTIME_ID: i32 = 3;

fn thread_cpu_time() -> Duration {
    let mut ts = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is Linux's thread CPU clock.
    let rc = unsafe { clock_gettime(CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Borrowed for its formatter (nanoseconds shown as a duration, bytes as MiB/s).
static WALL_TIME: WallTime = WallTime;

impl Measurement for ThreadCpuTime {
    type Intermediate = Duration;
    type Value = Duration;

    fn start(&self) -> Duration {
        thread_cpu_time()
    }
    fn end(&self, start: Duration) -> Duration {
        thread_cpu_time().saturating_sub(start)
    }
    fn add(&self, a: &Duration, b: &Duration) -> Duration {
        *a + *b
    }
    fn zero(&self) -> Duration {
        Duration::ZERO
    }
    fn to_f64(&self, d: &Duration) -> f64 {
        d.as_nanos() as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        WALL_TIME.formatter()
    }
}

/// Wall time by default; `HOT_PATH_CLOCK=cpu` measures thread CPU time instead.
fn main() {
    if std::env::var("HOT_PATH_CLOCK").is_ok_and(|v| v == "cpu") {
        let mut c = Criterion::default()
            .with_measurement(ThreadCpuTime)
            .configure_from_args();
        hot_path(&mut c);
        c.final_summary();
    } else {
        let mut c = Criterion::default().configure_from_args();
        hot_path(&mut c);
        c.final_summary();
    }
}
