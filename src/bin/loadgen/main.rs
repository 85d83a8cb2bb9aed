//! `loadgen`: the project's load generator and database-ceiling meter.
//!
//! - `--mode http` (default): an *open-model* load on the ingest API, over `--transport http`
//!   (one `POST /session-events` per frame, prebuilt requests on a pooled hyper client), `ws`
//!   (a WebSocket stream per match) or `batch` (batch POSTs of `--batch-frames` per node). Send times are
//!   fixed in advance (a constant `--rate`, or a linear ramp to `--ramp-to`), so a slow service
//!   never slows the generator down: when more than `--max-in-flight` requests are
//!   outstanding the send is counted as dropped, and a send dispatched late is counted as late.
//!   Latency runs from the *scheduled* send time to the response (no coordinated omission).
//!   Every frame is unique: `--matches` × `--nodes` streams, each with its own seeded
//!   `synth::MatchGenerator`, posting increasing frame indices (unless `--distinct-frames`
//!   repeats them, for servers that keep nothing). Bodies are generated before the clock
//!   starts (up to `--pregen-bytes`), so the generator's own CPU stays out of the run; the run
//!   itself is driven from one thread (see `main`).
//!   `--verify` reads every match back afterwards and checks each acknowledged frame is stored
//!   exactly once; `--requests-csv` logs every send with its times, to line a run up against
//!   faults injected while it runs.
//! - `--mode db-ceiling`: the documents the service would store, built before timing with the
//!   service's own `frame::decode` + `EventDocument::build`, written straight to MongoDB with
//!   `insert_many(ordered=false)` (the service's `MongoStore::write_batch`) from `--writers`
//!   tasks in batches of `--batch-size`: the throughput limit the service is compared with.
//!   With `--data-dir` instead of `--mongo-uri`, the same against the embedded store.

mod batch;
mod bodies;
mod ceiling;
mod http;
mod pool;
mod report;
mod requests;
mod verify;
mod ws;

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use session_events::synth::Profile;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// Open-model HTTP load on POST /session-events.
    Http,
    /// Insert prebuilt documents straight into MongoDB, as fast as possible.
    DbCeiling,
}

/// How `--mode http` sends its frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Transport {
    /// One POST /session-events per frame.
    Http,
    /// A WebSocket stream (/ws) per match, replies in order.
    Ws,
    /// Batch POSTs of --batch-frames frames per node (NDJSON or length-delimited protobuf).
    Batch,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProfileArg {
    /// ~12 KB JSON frames (session only).
    Session,
    /// ~30 KB JSON frames (session plus player bones).
    Bones,
}

impl ProfileArg {
    pub fn profile(self) -> Profile {
        match self {
            ProfileArg::Session => Profile::Session,
            ProfileArg::Bones => Profile::SessionWithBones,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EncodingArg {
    Json,
    Protobuf,
}

/// Load generator for session-events (open model, coordinated-omission free).
#[derive(Debug, Clone, Parser)]
#[command(version, long_about = None)]
pub struct Args {
    /// http: load the service; db-ceiling: write prebuilt documents straight to MongoDB.
    #[arg(long, env = "LOADGEN_MODE", value_enum, default_value_t = Mode::Http)]
    pub mode: Mode,

    /// http mode: one POST per frame, a WebSocket stream per match, or batch POSTs.
    #[arg(long, env = "LOADGEN_TRANSPORT", value_enum, default_value_t = Transport::Http)]
    pub transport: Transport,

    /// --transport batch: frames per batch POST.
    #[arg(long, env = "LOADGEN_BATCH_FRAMES", default_value_t = 100)]
    pub batch_frames: usize,

    /// Base URL of the service.
    #[arg(long, env = "LOADGEN_TARGET", default_value = "http://127.0.0.1:8080")]
    pub target: String,

    /// Frames per second at the start (and throughout, without --ramp-to).
    #[arg(long, env = "LOADGEN_RATE", default_value_t = 500.0)]
    pub rate: f64,

    /// Rate reached at the end of the run, linearly from --rate.
    #[arg(long, env = "LOADGEN_RAMP_TO")]
    pub ramp_to: Option<f64>,

    /// Length of the run (http: the send schedule; db-ceiling: a time limit).
    #[arg(long, env = "LOADGEN_DURATION", default_value = "10s", value_parser = humantime::parse_duration)]
    pub duration: Duration,

    /// Matches per node.
    #[arg(long, env = "LOADGEN_MATCHES", default_value_t = 50)]
    pub matches: usize,

    /// Nodes (X-Node-ID node-0, node-1, ...); every node posts --matches matches.
    #[arg(long, env = "LOADGEN_NODES", default_value_t = 4)]
    pub nodes: usize,

    /// Frame shape.
    #[arg(long, env = "LOADGEN_PROFILE", value_enum, default_value_t = ProfileArg::Session)]
    pub profile: ProfileArg,

    /// Body encoding.
    #[arg(long, env = "LOADGEN_ENCODING", value_enum, default_value_t = EncodingArg::Json)]
    pub encoding: EncodingArg,

    /// Send bodies with Content-Encoding: gzip.
    #[arg(long, env = "LOADGEN_GZIP")]
    pub gzip: bool,

    /// Most outstanding requests; a send beyond it is dropped (and counted), never delayed.
    #[arg(long, env = "LOADGEN_MAX_IN_FLIGHT", default_value_t = 2000)]
    pub max_in_flight: usize,

    /// A send dispatched more than this after its scheduled time counts as late.
    #[arg(long, env = "LOADGEN_LATE_AFTER", default_value = "10ms", value_parser = humantime::parse_duration)]
    pub late_after: Duration,

    /// Per-request timeout (a timed-out request is a transport error).
    #[arg(long, env = "LOADGEN_TIMEOUT", default_value = "60s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,

    /// Most bytes of request bodies generated before the clock starts; the rest are generated
    /// during the run by a background thread.
    #[arg(long, env = "LOADGEN_PREGEN_BYTES", default_value_t = 1 << 30)]
    pub pregen_bytes: usize,

    /// At most about this many different bodies (rounded up to a multiple of the streams);
    /// later sends repeat them, as the same frame again. Only for a server that keeps nothing
    /// (the null store, the bench's trivial server): fast runs then need no body generation
    /// during the run. Not with --verify.
    #[arg(long, env = "LOADGEN_DISTINCT_FRAMES")]
    pub distinct_frames: Option<usize>,

    /// Seed of session ids and frames (default: random, so runs never collide).
    #[arg(long, env = "LOADGEN_SEED")]
    pub seed: Option<u64>,

    /// X-User-ID sent with every frame.
    #[arg(long, env = "LOADGEN_USER_ID")]
    pub user_id: Option<String>,

    /// Bearer token, when the service requires one.
    #[arg(long, env = "LOADGEN_AUTH_TOKEN")]
    pub auth_token: Option<String>,

    /// The service's process id, when it runs on this machine: its CPU time over the run is
    /// read from /proc (10 ms ticks) instead of its /metrics (whole seconds).
    #[arg(long, env = "LOADGEN_SERVICE_PID")]
    pub service_pid: Option<u32>,

    /// Bearer token for the service's /metrics (read before and after the run for the
    /// service's CPU time), when its metrics scope requires one.
    #[arg(long, env = "LOADGEN_METRICS_TOKEN")]
    pub metrics_token: Option<String>,

    /// Write the summary as JSON to this file too.
    #[arg(long, env = "LOADGEN_SUMMARY_JSON")]
    pub summary_json: Option<PathBuf>,

    /// Write one CSV line per scheduled send (scheduled and completion times in ms after the
    /// clock start, stream, frame index, status or transport error, Retry-After present).
    #[arg(long, env = "LOADGEN_REQUESTS_CSV")]
    pub requests_csv: Option<PathBuf>,

    /// After the run, read every match back and check each acknowledged frame is stored once.
    #[arg(long, env = "LOADGEN_VERIFY")]
    pub verify: bool,

    /// No per-second progress on stderr.
    #[arg(long, env = "LOADGEN_QUIET")]
    pub quiet: bool,

    /// db-ceiling: MongoDB connection string.
    #[arg(long, env = "MONGO_URI")]
    pub mongo_uri: Option<String>,

    /// db-ceiling without --mongo-uri: write to the embedded store in this (fresh) directory.
    #[arg(long, env = "LOADGEN_DATA_DIR")]
    pub data_dir: Option<PathBuf>,

    /// db-ceiling: database (default: a fresh `loadgen_ceiling_<time>`).
    #[arg(long, env = "LOADGEN_DATABASE")]
    pub database: Option<String>,

    /// db-ceiling: collection.
    #[arg(long, env = "LOADGEN_COLLECTION", default_value = "session_events")]
    pub collection: String,

    /// db-ceiling: documents per insert_many (the service's BATCH_MAX_DOCS default).
    #[arg(long, env = "LOADGEN_BATCH_SIZE", default_value_t = 500)]
    pub batch_size: usize,

    /// db-ceiling: concurrent writer tasks (the service's WRITERS default).
    #[arg(long, env = "LOADGEN_WRITERS", default_value_t = 4)]
    pub writers: usize,

    /// db-ceiling: documents to write (default: as many as --duration allows, up to
    /// --max-prebuild).
    #[arg(long, env = "LOADGEN_FRAMES")]
    pub frames: Option<usize>,

    /// db-ceiling without --frames: documents built before timing.
    #[arg(long, env = "LOADGEN_MAX_PREBUILD", default_value_t = 50_000)]
    pub max_prebuild: usize,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    if let Err(e) = check(&args) {
        eprintln!("loadgen: {e}");
        return std::process::ExitCode::from(2);
    }
    // The load runs on one thread: every hand-off between the schedule, the connections and the
    // recording is then a local wake-up, never a futex and another thread's wake-up (with the
    // multi-threaded runtime those were most of the generator's cost per frame). The ceiling
    // keeps worker threads: its writers' store calls are the measurement.
    let runtime = match args.mode {
        Mode::Http => tokio::runtime::Builder::new_current_thread(),
        Mode::DbCeiling => tokio::runtime::Builder::new_multi_thread(),
    }
    .enable_all()
    .build()
    .expect("tokio runtime");
    let result = runtime.block_on(async {
        match args.mode {
            Mode::Http => http::run(&args).await,
            Mode::DbCeiling => ceiling::run(&args).await,
        }
    });
    match result {
        Ok(true) => std::process::ExitCode::SUCCESS,
        Ok(false) => std::process::ExitCode::FAILURE,
        Err(e) => {
            eprintln!("loadgen: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn check(args: &Args) -> Result<(), String> {
    let positive = |name: &str, v: f64| {
        if v.is_finite() && v > 0.0 {
            Ok(())
        } else {
            Err(format!("{name} must be above 0"))
        }
    };
    positive("--rate", args.rate)?;
    if let Some(r) = args.ramp_to {
        positive("--ramp-to", r)?;
    }
    if args.duration.is_zero() {
        return Err("--duration must be above 0".into());
    }
    if args.matches == 0 || args.nodes == 0 || args.max_in_flight == 0 {
        return Err("--matches, --nodes and --max-in-flight must be above 0".into());
    }
    if args.gzip && args.transport != Transport::Http {
        return Err("--gzip is for --transport http only".into());
    }
    if args.distinct_frames == Some(0) {
        return Err("--distinct-frames must be above 0".into());
    }
    if args.distinct_frames.is_some() && args.verify {
        return Err("--distinct-frames repeats frames: --verify cannot count them".into());
    }
    if args.batch_frames == 0 {
        return Err("--batch-frames must be above 0".into());
    }
    if args.batch_size == 0 || args.writers == 0 {
        return Err("--batch-size and --writers must be above 0".into());
    }
    if args.mode == Mode::DbCeiling && args.mongo_uri.is_none() && args.data_dir.is_none() {
        return Err("--mode db-ceiling needs --mongo-uri (or MONGO_URI) or --data-dir".into());
    }
    Ok(())
}

/// CPU seconds (user + system) this process has used so far, from /proc (0 elsewhere).
pub fn process_cpu_seconds() -> f64 {
    cpu_seconds_of("self").unwrap_or(0.0)
}

/// CPU seconds (user + system) of process `pid` ("self" for this one), from /proc, to the
/// 10 ms tick.
pub fn cpu_seconds_of(pid: &str) -> Option<f64> {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return None;
    };
    // Fields after the command name (which may hold spaces) start at ") ".
    let rest = stat.rsplit_once(") ").map(|(_, r)| r)?;
    let fields: Vec<&str> = rest.split(' ').collect();
    // utime and stime are fields 14 and 15 of the line: indices 11 and 12 after the name.
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // USER_HZ is 100 on every Linux architecture Rust targets.
    Some((ticks(11) + ticks(12)) as f64 / 100.0)
}
