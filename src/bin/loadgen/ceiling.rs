//! `--mode db-ceiling`: how fast the database takes the service's documents with no HTTP and
//! no pipeline in front of it. The documents are built before timing exactly as the service
//! builds them (`frame::decode_document`, the single-pass transcoder ingest runs), then written
//! with the service's own `MongoStore::write_batch` (one `insert_many(ordered = false)` per
//! batch) from `--writers` concurrent tasks, against a collection with the service's indexes.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use serde_json::json;
use session_events::frame::{self, Encoding, EventDocument};
use session_events::ids::{NodeId, UserId};
use session_events::store::embedded::EmbeddedStore;
use session_events::store::mongo::{MongoSettings, MongoStore};
use session_events::store::{Store, WriteOutcome};

use crate::report::{self, histogram};
use crate::{Args, EncodingArg, bodies};

#[derive(Default)]
struct Counts {
    stored: u64,
    duplicate: u64,
    rejected: u64,
    /// Frames of batches whose insert_many failed as a whole.
    failed: u64,
    batches: u64,
}

pub async fn run(args: &Args) -> anyhow::Result<bool> {
    let database = args.database.clone().unwrap_or_else(|| {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        format!("loadgen_ceiling_{secs}_{:04x}", fastrand::u16(..))
    });
    let n = args.frames.unwrap_or(args.max_prebuild);
    anyhow::ensure!(n > 0, "no frames to write");

    // Build every document first, timing the two halves: generating the body (the producer's
    // cost) and decoding it into the stored document (the service's per-frame cost).
    let seed = args.seed.unwrap_or_else(|| fastrand::u64(..));
    let streams = bodies::streams(args.matches, args.nodes, seed, args.profile.profile());
    let nodes = streams
        .iter()
        .map(|s| NodeId::parse(&s.node))
        .collect::<Result<Vec<_>, _>>()?;
    let user = args.user_id.as_deref().map(UserId::parse).transpose()?;
    let encoding = match args.encoding {
        EncodingArg::Json => Encoding::Json,
        EncodingArg::Protobuf => Encoding::Protobuf,
    };
    eprintln!("loadgen: building {n} documents as the service would...");
    let threads = std::thread::available_parallelism().map_or(1, |p| p.get());
    let chunk = n.div_ceil(threads);
    let parts = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (streams, nodes, user) = (streams.clone(), &nodes, user.as_ref());
                let range = (t * chunk).min(n)..((t + 1) * chunk).min(n);
                scope.spawn(move || build(streams, nodes, user, args.encoding, encoding, range))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("builder thread"))
            .collect::<Result<Vec<_>, _>>()
    })?;
    let (mut gen_time, mut decode_time) = Default::default();
    let (mut body_bytes, mut doc_bytes) = (0usize, 0usize);
    let mut docs = Vec::with_capacity(n);
    for p in parts {
        gen_time += p.gen_time;
        decode_time += p.decode_time;
        body_bytes += p.body_bytes;
        doc_bytes += p.docs.iter().map(EventDocument::size).sum::<usize>();
        docs.extend(p.docs);
    }
    let per = |d: Duration| d.as_secs_f64() * 1e6 / n as f64;
    eprintln!(
        "loadgen: built (CPU time per frame): generate {:.1} µs; the service's decode + build {:.1} µs; body {} B, document {} B",
        per(gen_time),
        per(decode_time),
        body_bytes / n,
        doc_bytes / n
    );

    let store: Arc<dyn Store> = match (&args.mongo_uri, &args.data_dir) {
        (Some(uri), _) => {
            let settings = MongoSettings {
                uri: uri.clone(),
                database: database.clone(),
                collection: args.collection.clone(),
                matches_collection: session_events::config::defaults::MATCHES_COLLECTION_NAME
                    .into(),
                timeout: Duration::from_secs(30),
                write_concern: None,
                journal: None,
            };
            Arc::new(
                MongoStore::connect(&settings)
                    .await
                    .context("cannot connect to MongoDB")?,
            )
        }
        (None, Some(dir)) => Arc::new(
            EmbeddedStore::open(dir)
                .with_context(|| format!("cannot open the embedded store in {}", dir.display()))?,
        ),
        (None, None) => anyhow::bail!("--mongo-uri or --data-dir is required"),
    };
    store.ensure_indexes().await?;

    let docs = Arc::new(docs);
    let batch = args.batch_size;
    let batches = n.div_ceil(batch);
    let next = Arc::new(AtomicUsize::new(0));
    let counts = Arc::new(Mutex::new(Counts::default()));
    let latency = Arc::new(Mutex::new(histogram()));
    // With --frames the run writes them all; otherwise it stops at --duration.
    let limit = args.frames.is_none().then_some(args.duration);
    let cpu_before = crate::process_cpu_seconds();
    let started = Instant::now();
    let mut writers = tokio::task::JoinSet::new();
    for _ in 0..args.writers {
        let (store, docs, next) = (store.clone(), docs.clone(), next.clone());
        let (counts, latency) = (counts.clone(), latency.clone());
        writers.spawn(async move {
            loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                if k >= batches || limit.is_some_and(|l| started.elapsed() >= l) {
                    break;
                }
                let chunk = &docs[k * batch..((k + 1) * batch).min(docs.len())];
                let t = Instant::now();
                let result = store.write_batch(chunk).await;
                let micros = t.elapsed().as_micros() as u64;
                latency.lock().unwrap().saturating_record(micros.max(1));
                let mut c = counts.lock().unwrap();
                c.batches += 1;
                match result {
                    Ok(outcomes) => {
                        for o in outcomes {
                            match o {
                                WriteOutcome::Stored => c.stored += 1,
                                WriteOutcome::Duplicate => c.duplicate += 1,
                                WriteOutcome::Rejected(_) => c.rejected += 1,
                            }
                        }
                    }
                    Err(e) => {
                        c.failed += chunk.len() as u64;
                        eprintln!(
                            "loadgen: insert_many failed: {}",
                            session_events::logging::error_chain(&e)
                        );
                    }
                }
            }
        });
    }
    while let Some(r) = writers.join_next().await {
        r?;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = crate::process_cpu_seconds() - cpu_before;
    store.close().await;

    let c = counts.lock().unwrap();
    let lat = latency.lock().unwrap();
    let written = c.stored + c.duplicate;
    let rate = written as f64 / elapsed;
    let summary = json!({
        "mode": "db-ceiling",
        "store": store.name(),
        "database": database,
        "collection": args.collection,
        "encoding": format!("{:?}", args.encoding).to_lowercase(),
        "profile": format!("{:?}", args.profile).to_lowercase(),
        "batch_size": batch,
        "writers": args.writers,
        "prebuilt": n,
        "generate_us_per_frame": per(gen_time),
        "decode_build_us_per_frame": per(decode_time),
        "mean_body_bytes": body_bytes / n,
        "mean_document_bytes": doc_bytes / n,
        "batches": c.batches,
        "stored": c.stored,
        "duplicate": c.duplicate,
        "rejected": c.rejected,
        "failed": c.failed,
        "seconds": elapsed,
        "frames_per_s": rate,
        "mb_per_s": (written as f64 * (doc_bytes / n) as f64) / elapsed / 1e6,
        "batch_latency_ms": report::latency_json(&lat),
        "loadgen_cpu_s": cpu,
        "loadgen_cpu_us_per_frame": if written > 0 { cpu * 1e6 / written as f64 } else { 0.0 },
    });
    println!(
        "db-ceiling ({}): {written} frames ({} stored, {} duplicate, {} rejected, {} failed) in {} batches of {batch} from {} writers in {elapsed:.2} s",
        store.name(),
        c.stored,
        c.duplicate,
        c.rejected,
        c.failed,
        c.batches,
        args.writers
    );
    println!(
        "db-ceiling: {rate:.0} frames/s ({:.1} MB/s of {} B documents); insert_many {}",
        summary["mb_per_s"].as_f64().unwrap_or(0.0),
        doc_bytes / n,
        report::latency_line(&lat)
    );
    println!(
        "db-ceiling: this process {:.1} µs CPU/frame while writing (driver); decode + build {:.1} µs/frame before timing",
        summary["loadgen_cpu_us_per_frame"].as_f64().unwrap_or(0.0),
        per(decode_time)
    );
    if let Some(path) = &args.summary_json {
        report::write_json(path, &summary)?;
    }
    Ok(c.failed == 0 && c.rejected == 0)
}

struct Built {
    docs: Vec<EventDocument>,
    gen_time: Duration,
    /// `frame::decode_document`: decode, validate and build in the one pass ingest runs.
    decode_time: Duration,
    body_bytes: usize,
}

/// Builds `range` of the run as the service would store them: body, then `decode_document`.
fn build(
    mut streams: Vec<bodies::Stream>,
    nodes: &[NodeId],
    user: Option<&UserId>,
    body_encoding: EncodingArg,
    encoding: Encoding,
    range: std::ops::Range<usize>,
) -> anyhow::Result<Built> {
    let mut out = Built {
        docs: Vec::with_capacity(range.len()),
        gen_time: Duration::ZERO,
        decode_time: Duration::ZERO,
        body_bytes: 0,
    };
    // Two passes, each timed by this thread's CPU clock (wall time would count the time other
    // processes of a busy machine held the core).
    let t = thread_cpu();
    let bodies: Vec<_> = range
        .map(|seq| {
            let (s, index) = bodies::slot(seq as u64, streams.len());
            (
                s,
                bodies::body(
                    &mut streams[s].generator,
                    index,
                    body_encoding,
                    false,
                    bodies::Framing::Post,
                ),
            )
        })
        .collect();
    out.gen_time = thread_cpu().saturating_sub(t);
    let t = thread_cpu();
    for (s, body) in &bodies {
        let ingested = frame::decode_document(body, encoding, &nodes[*s], user, SystemTime::now())?;
        out.docs.push(ingested.doc);
    }
    out.decode_time = thread_cpu().saturating_sub(t);
    out.body_bytes = bodies.iter().map(|(_, b)| b.len()).sum();
    Ok(out)
}

/// CPU time of the calling thread (Linux: /proc/thread-self/schedstat, in ns).
fn thread_cpu() -> Duration {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .map_or(Duration::ZERO, Duration::from_nanos)
}
