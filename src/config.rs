//! Every setting, as a CLI flag and an environment variable (the original service's names where
//! it had them), with every default in [`defaults`]. `Config::default()` equals the CLI with no
//! flags and no environment, so the library and the binary start the same service.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};

use crate::http::ScopedToken;

/// Every default in one place.
pub mod defaults {
    use std::time::Duration;

    pub const DATABASE_NAME: &str = "nakama";
    pub const COLLECTION_NAME: &str = "session_events";
    /// Per-match summaries for `GET /matches` (MongoDB).
    pub const MATCHES_COLLECTION_NAME: &str = "matches";
    /// Frames a live tail may fall behind before it skips (and is told `event: lagged`). Shared
    /// by every subscriber of a match: at ~12 KB a frame, 256 bound a match's buffer at ~3 MB.
    pub const LIVE_BUFFER: usize = 256;
    /// Open live tails (SSE + WebSocket) per instance; more are refused with 503.
    pub const LIVE_MAX_SUBSCRIBERS: usize = 1000;
    /// Comment line on an idle tail, so proxies do not cut it and clients see it is alive.
    pub const LIVE_KEEP_ALIVE: Duration = Duration::from_secs(15);
    /// How long before a tail subscribes a frame may have been received and still be written
    /// after: history frames received within it are remembered, so a live copy of one is not
    /// sent twice at the seam. Covers the request deadline (SERVER_TIMEOUT) with room to spare.
    pub const LIVE_SEAM_WINDOW: Duration = Duration::from_secs(120);
    pub const SERVER_ADDRESS: &str = ":8080";
    pub const MONGO_TIMEOUT: Duration = Duration::from_secs(10);
    pub const SERVER_TIMEOUT: Duration = Duration::from_secs(30);
    pub const DATA_DIR: &str = "./data";
    /// ~8k frames is almost a second of a busy deployment's aggregate rate.
    pub const QUEUE_CAPACITY: usize = 8192;
    pub const QUEUE_MAX_BYTES: usize = 128 * 1024 * 1024;
    /// redb's own default is 1 GiB, which let the embedded service's RSS grow past the memory
    /// bound the queue promises; 64 MiB keeps recent pages hot for reads of live matches.
    pub const EMBEDDED_CACHE_BYTES: usize = 64 * 1024 * 1024;
    pub const BATCH_MAX_DOCS: usize = 500;
    /// Well under MongoDB's 48 MB message limit, so one batch is one round trip.
    pub const BATCH_MAX_BYTES: usize = 8 * 1024 * 1024;
    pub const BATCH_LINGER: Duration = Duration::from_millis(5);
    /// Several batches in flight hide MongoDB's round trips.
    pub const WRITERS_MONGODB: usize = 4;
    /// redb runs one write transaction at a time: more writers only split the queue into
    /// smaller batches and more commits (each with an fsync). One writer used 22 % less CPU a
    /// frame than four at 500 frames/s, with p50 3 ms higher.
    pub const WRITERS_EMBEDDED: usize = 1;
    /// A full 30 KB frame with bones is far below this; gzip bodies are checked again after
    /// decompression.
    pub const MAX_BODY_BYTES: usize = 1024 * 1024;
    pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);
    pub const RETRY_BACKOFF_MIN: Duration = Duration::from_millis(50);
    pub const RETRY_BACKOFF_MAX: Duration = Duration::from_secs(2);
    pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
    pub const MAX_CONNECTIONS: usize = 10_000;
    pub const SHUTDOWN_DRAIN_DELAY: Duration = Duration::ZERO;
    /// Bodies being received or decoded at once, in bytes (beyond: 503). 64 bodies of the
    /// default 1 MiB limit.
    pub const MAX_BODY_BYTES_IN_FLIGHT: usize = 64 * 1024 * 1024;
    /// Reads streaming at once (beyond: 503); each holds at most a page of events.
    pub const MAX_READS_IN_FLIGHT: usize = 32;
    /// A response the client does not take for this long is cut off (stalled readers).
    pub const SEND_TIMEOUT: Duration = Duration::from_secs(30);
    /// Readiness fails above this queue fill ratio, so balancers shift load before 503s start.
    pub const READY_HIGH_WATER: f64 = 0.9;
    /// Frames one WebSocket stream may have read and not yet answered; at the bound the server
    /// stops reading the socket (TCP backpressure). 128 covers a producer at 60 Hz through a
    /// two-second write stall; the queue's byte bound still caps all streams together.
    pub const WS_MAX_IN_FLIGHT: usize = 128;
    /// The successor service's keep-alive, which `nevr-agent` is built against: a ping every
    /// 54 s, and a client silent (no message, no pong) for 60 s is gone.
    pub const WS_PING_INTERVAL: Duration = Duration::from_secs(54);
    pub const WS_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
    /// Most frames in one batch POST (the agent replays its spill file 100 at a time).
    pub const MAX_BATCH_FRAMES: usize = 1000;
    /// Most bytes of one batch POST body (checked after decompression): 1000 frames of ~30 KB.
    pub const MAX_BATCH_BYTES: usize = 32 * 1024 * 1024;
}

/// When a POST is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AckMode {
    /// 200 once the frame's batch is written at the configured write concern (default).
    Durable,
    /// 202 as soon as the frame is queued: lower latency, but a frame queued when the process
    /// dies (or that the store refuses until shutdown) is lost although it was acknowledged.
    Enqueue,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// session-events: ingest EchoVR telemetry frames over HTTP and store them in MongoDB.
#[derive(Debug, Clone, Parser)]
#[command(version, about, long_about = None)]
pub struct Config {
    /// MongoDB connection string. Unset: the embedded store in DATA_DIR.
    #[arg(long, env = "MONGO_URI")]
    pub mongo_uri: Option<String>,

    /// MongoDB database.
    #[arg(long, env = "DATABASE_NAME", default_value = defaults::DATABASE_NAME)]
    pub database_name: String,

    /// MongoDB collection.
    #[arg(long, env = "COLLECTION_NAME", default_value = defaults::COLLECTION_NAME)]
    pub collection_name: String,

    /// MongoDB collection of the per-match summaries (the match list).
    #[arg(long, env = "MATCHES_COLLECTION_NAME", default_value = defaults::MATCHES_COLLECTION_NAME)]
    pub matches_collection_name: String,

    /// HTTP bind address; ":PORT" means every interface.
    #[arg(long, env = "SERVER_ADDRESS", default_value = defaults::SERVER_ADDRESS, value_parser = parse_address)]
    pub server_address: SocketAddr,

    /// Bound on connecting to, pinging and querying MongoDB (e.g. 10s, 250ms).
    #[arg(long, env = "MONGO_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub mongo_timeout: Duration,

    /// Request deadline: a POST not durable by then is answered 504 (safe to retry).
    #[arg(long, env = "SERVER_TIMEOUT", default_value = "30s", value_parser = humantime::parse_duration)]
    pub server_timeout: Duration,

    /// Directory of the embedded store (used when MONGO_URI is unset).
    #[arg(long, env = "DATA_DIR", default_value = defaults::DATA_DIR)]
    pub data_dir: PathBuf,

    /// Page cache of the embedded store, in bytes (a term of the memory bound, with the queue,
    /// bodies and reads in flight: README, "The memory bound").
    #[arg(long, env = "EMBEDDED_CACHE_BYTES", default_value_t = defaults::EMBEDDED_CACHE_BYTES, value_parser = positive)]
    pub embedded_cache_bytes: usize,

    /// Most frames waiting to be written; beyond it POSTs get 503 + Retry-After.
    #[arg(long, env = "QUEUE_CAPACITY", default_value_t = defaults::QUEUE_CAPACITY, value_parser = positive)]
    pub queue_capacity: usize,

    /// Most bytes of documents waiting to be written (bounds memory under overload).
    #[arg(long, env = "QUEUE_MAX_BYTES", default_value_t = defaults::QUEUE_MAX_BYTES, value_parser = positive)]
    pub queue_max_bytes: usize,

    /// Most frames in one insert_many.
    #[arg(long, env = "BATCH_MAX_DOCS", default_value_t = defaults::BATCH_MAX_DOCS, value_parser = positive)]
    pub batch_max_docs: usize,

    /// Most bytes in one insert_many.
    #[arg(long, env = "BATCH_MAX_BYTES", default_value_t = defaults::BATCH_MAX_BYTES, value_parser = positive)]
    pub batch_max_bytes: usize,

    /// How long a writer waits for more frames after the first before writing a partial batch.
    #[arg(long, env = "BATCH_LINGER", default_value = "5ms", value_parser = humantime::parse_duration)]
    pub batch_linger: Duration,

    /// Writer threads; each keeps one batch in flight. Default: 4 on MongoDB, 1 on the
    /// embedded store (see [`Config::writers`]).
    #[arg(long, env = "WRITERS", value_parser = positive)]
    pub writers: Option<usize>,

    /// When a POST is answered: after the durable write (200) or on enqueue (202).
    #[arg(long, env = "ACK_MODE", value_enum, default_value_t = AckMode::Durable)]
    pub ack_mode: AckMode,

    /// MongoDB write concern `w` (majority, a node count, or a tag); unset: the server default.
    #[arg(long, env = "WRITE_CONCERN", value_parser = parse_write_concern)]
    pub write_concern: Option<String>,

    /// Require the write to reach the journal before it is acknowledged.
    #[arg(long, env = "WRITE_JOURNAL")]
    pub write_journal: Option<bool>,

    /// Largest request body in bytes, checked before and after decompression (413 beyond).
    #[arg(long, env = "MAX_BODY_BYTES", default_value_t = defaults::MAX_BODY_BYTES, value_parser = positive)]
    pub max_body_bytes: usize,

    /// Frames a WebSocket stream may have in flight; beyond it the socket is not read.
    #[arg(long, env = "WS_MAX_IN_FLIGHT", default_value_t = defaults::WS_MAX_IN_FLIGHT, value_parser = positive)]
    pub ws_max_in_flight: usize,

    /// How often the server pings a WebSocket stream.
    #[arg(long, env = "WS_PING_INTERVAL", default_value = "54s", value_parser = humantime::parse_duration)]
    pub ws_ping_interval: Duration,

    /// A WebSocket client that sends nothing (not even a pong) for this long is disconnected;
    /// also how long a reply may wait for a client that does not read.
    #[arg(long, env = "WS_IDLE_TIMEOUT", default_value = "60s", value_parser = humantime::parse_duration)]
    pub ws_idle_timeout: Duration,

    /// Most frames in one batch POST (application/x-ndjson, application/x-protobuf-delimited).
    #[arg(long, env = "MAX_BATCH_FRAMES", default_value_t = defaults::MAX_BATCH_FRAMES, value_parser = positive)]
    pub max_batch_frames: usize,

    /// Largest batch POST body in bytes, checked before and after decompression (413 beyond).
    #[arg(long, env = "MAX_BATCH_BYTES", default_value_t = defaults::MAX_BATCH_BYTES, value_parser = positive)]
    pub max_batch_bytes: usize,

    /// Separate address for GET /metrics (it is always served on the main address too).
    #[arg(long, env = "METRICS_ADDRESS", value_parser = parse_address)]
    pub metrics_address: Option<SocketAddr>,

    /// How long shutdown may take to finish requests and flush the queue.
    #[arg(long, env = "SHUTDOWN_TIMEOUT", default_value = "30s", value_parser = humantime::parse_duration)]
    pub shutdown_timeout: Duration,

    /// Time a client has to send its request headers (cuts off slowloris clients); also how
    /// long an idle keep-alive connection stays open.
    #[arg(long, env = "HEADER_READ_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub header_read_timeout: Duration,

    /// Most bytes of request bodies being received or decoded at once (part of the memory
    /// bound); beyond it POSTs get 503 + Retry-After.
    #[arg(long, env = "MAX_BODY_BYTES_IN_FLIGHT", default_value_t = defaults::MAX_BODY_BYTES_IN_FLIGHT, value_parser = positive)]
    pub max_body_bytes_in_flight: usize,

    /// Most reads streaming at once (part of the memory bound); beyond it 503 + Retry-After.
    #[arg(long, env = "MAX_READS_IN_FLIGHT", default_value_t = defaults::MAX_READS_IN_FLIGHT, value_parser = positive)]
    pub max_reads_in_flight: usize,

    /// How long a response may wait for the client to take more of it before the connection
    /// is closed (a reader that stops reading holds memory and a read slot until then).
    #[arg(long, env = "SEND_TIMEOUT", default_value = "30s", value_parser = humantime::parse_duration)]
    pub send_timeout: Duration,

    /// Most open client connections; more are closed on accept.
    #[arg(long, env = "MAX_CONNECTIONS", default_value_t = defaults::MAX_CONNECTIONS, value_parser = positive)]
    pub max_connections: usize,

    /// On SIGTERM, how long /readyz reports 503 before the listener closes, so load balancers
    /// stop routing here first (e.g. 5s behind a Kubernetes Service).
    #[arg(long, env = "SHUTDOWN_DRAIN_DELAY", default_value = "0s", value_parser = humantime::parse_duration)]
    pub shutdown_drain_delay: Duration,

    /// Bearer tokens, comma-separated `scope:token` (scopes: write, read, metrics; several per
    /// scope for rotation). A scope without tokens is open; health probes are always open.
    #[arg(
        long,
        env = "AUTH_TOKENS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub auth_tokens: Vec<ScopedToken>,

    /// Frames a live tail may fall behind before it skips them (it is told `event: lagged`).
    #[arg(long, env = "LIVE_BUFFER", default_value_t = defaults::LIVE_BUFFER, value_parser = positive)]
    pub live_buffer: usize,

    /// Most open live tails (SSE and WebSocket); more are answered 503.
    #[arg(long, env = "LIVE_MAX_SUBSCRIBERS", default_value_t = defaults::LIVE_MAX_SUBSCRIBERS, value_parser = positive)]
    pub live_max_subscribers: usize,

    /// Interval of keep-alive comments on an idle live tail.
    #[arg(long, env = "LIVE_KEEP_ALIVE", default_value = "15s", value_parser = humantime::parse_duration)]
    pub live_keep_alive: Duration,

    /// Log format; filter with RUST_LOG (default info).
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// BENCHMARKING ONLY: acknowledge every frame and keep none (no store at all), to measure
    /// the service's own cost. Exists only in builds with the `bench-null-store` feature.
    #[cfg(feature = "bench-null-store")]
    #[arg(long, env = "NULL_STORE")]
    pub null_store: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            mongo_uri: None,
            database_name: defaults::DATABASE_NAME.into(),
            collection_name: defaults::COLLECTION_NAME.into(),
            matches_collection_name: defaults::MATCHES_COLLECTION_NAME.into(),
            server_address: parse_address(defaults::SERVER_ADDRESS).expect("valid default"),
            mongo_timeout: defaults::MONGO_TIMEOUT,
            server_timeout: defaults::SERVER_TIMEOUT,
            data_dir: defaults::DATA_DIR.into(),
            embedded_cache_bytes: defaults::EMBEDDED_CACHE_BYTES,
            queue_capacity: defaults::QUEUE_CAPACITY,
            queue_max_bytes: defaults::QUEUE_MAX_BYTES,
            batch_max_docs: defaults::BATCH_MAX_DOCS,
            batch_max_bytes: defaults::BATCH_MAX_BYTES,
            batch_linger: defaults::BATCH_LINGER,
            writers: None,
            ack_mode: AckMode::Durable,
            write_concern: None,
            write_journal: None,
            max_body_bytes: defaults::MAX_BODY_BYTES,
            ws_max_in_flight: defaults::WS_MAX_IN_FLIGHT,
            ws_ping_interval: defaults::WS_PING_INTERVAL,
            ws_idle_timeout: defaults::WS_IDLE_TIMEOUT,
            max_batch_frames: defaults::MAX_BATCH_FRAMES,
            max_batch_bytes: defaults::MAX_BATCH_BYTES,
            metrics_address: None,
            shutdown_timeout: defaults::SHUTDOWN_TIMEOUT,
            header_read_timeout: defaults::HEADER_READ_TIMEOUT,
            max_connections: defaults::MAX_CONNECTIONS,
            max_body_bytes_in_flight: defaults::MAX_BODY_BYTES_IN_FLIGHT,
            max_reads_in_flight: defaults::MAX_READS_IN_FLIGHT,
            send_timeout: defaults::SEND_TIMEOUT,
            shutdown_drain_delay: defaults::SHUTDOWN_DRAIN_DELAY,
            auth_tokens: Vec::new(),
            live_buffer: defaults::LIVE_BUFFER,
            live_max_subscribers: defaults::LIVE_MAX_SUBSCRIBERS,
            live_keep_alive: defaults::LIVE_KEEP_ALIVE,
            log_format: LogFormat::Text,
            #[cfg(feature = "bench-null-store")]
            null_store: false,
        }
    }
}

impl Config {
    /// `WRITERS` if set, else the default of the store in use.
    pub fn writers(&self) -> usize {
        self.writers.unwrap_or(if self.mongo_uri.is_some() {
            defaults::WRITERS_MONGODB
        } else {
            defaults::WRITERS_EMBEDDED
        })
    }
}

/// `HOST:PORT`, `[V6]:PORT`, or the original's `:PORT` (every interface).
fn parse_address(s: &str) -> Result<SocketAddr, String> {
    let s = s.trim();
    if let Some(port) = s.strip_prefix(':') {
        let port: u16 = port.parse().map_err(|_| format!("bad port in {s:?}"))?;
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port));
    }
    if let Ok(addr) = s.parse() {
        return Ok(addr);
    }
    use std::net::ToSocketAddrs;
    s.to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| format!("{s:?} is not HOST:PORT or :PORT"))
}

fn positive(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) | Err(_) => Err(format!("{s:?} is not a whole number above 0")),
        Ok(n) => Ok(n),
    }
}

fn parse_write_concern(s: &str) -> Result<String, String> {
    match s.trim() {
        "" => Err("write concern is empty".into()),
        "0" => Err("w=0 (unacknowledged) would acknowledge frames that may be lost".into()),
        w => Ok(w.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Config, clap::Error> {
        Config::try_parse_from(std::iter::once("session-events").chain(args.iter().copied()))
    }

    #[test]
    fn default_matches_the_cli_defaults() {
        let cli = parse(&[]).unwrap();
        let lib = Config::default();
        // Environment variables of the machine running the tests could differ; compare the
        // fields the environment of CI does not set.
        assert_eq!(cli.database_name, lib.database_name);
        assert_eq!(cli.collection_name, lib.collection_name);
        assert_eq!(cli.mongo_timeout, lib.mongo_timeout);
        assert_eq!(cli.server_timeout, lib.server_timeout);
        assert_eq!(cli.batch_linger, lib.batch_linger);
        assert_eq!(cli.queue_capacity, lib.queue_capacity);
        assert_eq!(cli.shutdown_timeout, lib.shutdown_timeout);
        assert_eq!(cli.ws_ping_interval, lib.ws_ping_interval);
        assert_eq!(cli.ws_idle_timeout, lib.ws_idle_timeout);
        assert_eq!(lib.server_address.port(), 8080);
        assert!(lib.server_address.ip().is_unspecified());
    }

    #[test]
    fn humane_durations_and_addresses() {
        let c = parse(&[
            "--mongo-timeout",
            "250ms",
            "--server-address",
            "127.0.0.1:9000",
        ])
        .unwrap();
        assert_eq!(c.mongo_timeout, Duration::from_millis(250));
        assert_eq!(c.server_address, "127.0.0.1:9000".parse().unwrap());
    }

    #[test]
    fn a_malformed_auth_token_is_never_echoed() {
        for bad in [
            "write:SECRETshort",
            "admin:0123456789abcdefSECRET",
            "0123456789abcdefSECRET",
            "read:has spaces SECRET inside",
        ] {
            let err = parse(&["--auth-tokens", &format!("read:0123456789abcdef,{bad}")])
                .unwrap_err()
                .to_string();
            assert!(!err.contains("SECRET"), "the secret is echoed: {err}");
            assert!(err.contains("AUTH_TOKENS entry"), "what is wrong: {err}");
        }
    }

    #[test]
    fn bad_values_are_clear_errors() {
        for args in [
            &["--mongo-timeout", "soon"][..],
            &["--server-address", ":http"],
            &["--queue-capacity", "0"],
            &["--write-concern", "0"],
            &["--ack-mode", "eventually"],
        ] {
            let err = parse(args).unwrap_err().to_string();
            assert!(
                err.contains(args[0]) || err.contains("invalid value"),
                "{args:?}: {err}"
            );
        }
    }
}
