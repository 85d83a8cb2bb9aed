//! Every metric the service exports: names, help texts and histogram buckets live here and
//! nowhere else. Names follow Prometheus conventions: `session_events_` prefix, base units,
//! `_total` counters. No match or user ids in labels (unbounded cardinality).

use std::sync::OnceLock;
use std::time::Duration;

use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

pub const HTTP_REQUESTS: &str = "session_events_http_requests_total";
pub const HTTP_REQUEST_DURATION: &str = "session_events_http_request_duration_seconds";
pub const QUEUE_DEPTH: &str = "session_events_queue_depth";
pub const QUEUE_CAPACITY: &str = "session_events_queue_capacity";
pub const QUEUE_BYTES: &str = "session_events_queue_bytes";
pub const QUEUE_CAPACITY_BYTES: &str = "session_events_queue_capacity_bytes";
pub const FRAMES_RECEIVED: &str = "session_events_frames_received_total";
pub const FRAMES_WRITTEN: &str = "session_events_frames_written_total";
pub const FRAMES_REJECTED: &str = "session_events_frames_rejected_total";
pub const FRAMES_DUPLICATE: &str = "session_events_frames_duplicate_total";
pub const FRAMES_UNKNOWN_FIELDS: &str = "session_events_frames_unknown_fields_total";
/// Frames acknowledged with 202 (enqueue mode) that could not be written before shutdown.
pub const FRAMES_DROPPED: &str = "session_events_frames_dropped_total";
pub const BATCH_SIZE_FRAMES: &str = "session_events_batch_size_frames";
pub const BATCH_SIZE_BYTES: &str = "session_events_batch_size_bytes";
pub const STORE_WRITE_DURATION: &str = "session_events_store_write_duration_seconds";
pub const STORE_WRITE_ERRORS: &str = "session_events_store_write_errors_total";
pub const STORE_READ_DURATION: &str = "session_events_store_read_duration_seconds";
pub const ACK_LATENCY: &str = "session_events_ack_latency_seconds";
pub const BUILD_INFO: &str = "session_events_build_info";
/// Open WebSocket ingest streams (`/ws`, `/v3/stream`).
pub const WS_CONNECTIONS: &str = "session_events_ws_connections";
/// WebSocket messages answered, by `outcome`: `frame`, `header`, `failed`.
pub const WS_MESSAGES: &str = "session_events_ws_messages_total";
/// Its `outcome` labels, exported at 0 from start-up.
pub const WS_OUTCOMES: &[&str] = &["frame", "header", "failed"];
/// Match summary updates that failed after their batch was stored (owed to the next batch).
pub const MATCH_SUMMARY_ERRORS: &str = "session_events_match_summary_errors_total";
/// Open live tails (SSE and WebSocket).
pub const LIVE_SUBSCRIBERS: &str = "session_events_live_subscribers";
/// Frames a slow live subscriber skipped (told with `event: lagged`).
pub const LIVE_LAGGED_FRAMES: &str = "session_events_live_lagged_frames_total";
/// Tails refused because `LIVE_MAX_SUBSCRIBERS` were open.
pub const LIVE_REFUSED: &str = "session_events_live_refused_total";
/// Frames written by exports (echoreplay and ndjson).
pub const EXPORT_FRAMES: &str = "session_events_export_frames_total";

/// Every `reason` a POST can be refused for (see `ApiError::reason`, `FrameError::reason` and
/// the error middleware); each series is exported from start-up at 0, so `rate()` and
/// `increase()` see the first refusal rather than an absent series.
pub const REJECT_REASONS: &[&str] = &[
    "bad_json",
    "bad_protobuf",
    "schema",
    "bad_id",
    "bad_request",
    "too_large",
    "unsupported_media_type",
    "body_timeout",
    "queue_full",
    "busy",
    "shutting_down",
    "store_unavailable",
    "deadline",
    "internal",
    "auth",
    "method",
    "other",
];
/// Every `kind` of `store_write_errors_total` (`StoreError::kind`, plus per-document refusals).
pub const STORE_ERROR_KINDS: &[&str] = &["unavailable", "timeout", "failed", "corrupt", "document"];

/// Latencies from sub-millisecond (a decode-and-enqueue) up to the 30 s request deadline.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
const BATCH_FRAMES_BUCKETS: &[f64] =
    &[1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0];
const BATCH_BYTES_BUCKETS: &[f64] = &[16e3, 64e3, 256e3, 512e3, 1e6, 2e6, 4e6, 8e6, 16e6];

/// The exporter as the service configures it (histogram buckets per metric); public so the
/// hot-path bench can measure the same recorder without installing it globally.
pub fn builder() -> PrometheusBuilder {
    PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
        .and_then(|b| {
            b.set_buckets_for_metric(
                Matcher::Full(BATCH_SIZE_FRAMES.into()),
                BATCH_FRAMES_BUCKETS,
            )
        })
        .and_then(|b| {
            b.set_buckets_for_metric(Matcher::Full(BATCH_SIZE_BYTES.into()), BATCH_BYTES_BUCKETS)
        })
        .expect("bucket lists are non-empty constants")
}

/// How often histogram samples are folded into their buckets between scrapes.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// The exporter keeps every histogram sample until something drains it, and a recorder
/// installed with `install_recorder` (not `install`) has nothing that does but a scrape: with no
/// Prometheus scraping, or a long interval, memory grew by ~47 bytes a frame (0.35 MB every
/// 5 s at 1500 frames/s) without end. A plain thread, so it needs no runtime and lives as long
/// as the process-wide recorder.
fn spawn_upkeep(handle: PrometheusHandle) {
    std::thread::Builder::new()
        .name("metrics-upkeep".into())
        .spawn(move || {
            loop {
                std::thread::sleep(UPKEEP_INTERVAL);
                handle.run_upkeep();
            }
        })
        .expect("spawning the metrics upkeep thread");
}

/// Installs the process-wide Prometheus recorder once and returns its handle (tests spawn many
/// services in one process; they share it).
pub fn install() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let handle = builder()
                .install_recorder()
                .expect("no other metrics recorder is installed");
            spawn_upkeep(handle.clone());
            describe();
            process_collector().describe();
            metrics::gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
            for name in [
                FRAMES_RECEIVED,
                FRAMES_WRITTEN,
                FRAMES_DUPLICATE,
                FRAMES_UNKNOWN_FIELDS,
                FRAMES_DROPPED,
                MATCH_SUMMARY_ERRORS,
                LIVE_LAGGED_FRAMES,
                LIVE_REFUSED,
                EXPORT_FRAMES,
            ] {
                metrics::counter!(name).increment(0);
            }
            for reason in REJECT_REASONS {
                metrics::counter!(FRAMES_REJECTED, "reason" => *reason).increment(0);
            }
            for outcome in WS_OUTCOMES {
                metrics::counter!(WS_MESSAGES, "outcome" => *outcome).increment(0);
            }
            metrics::gauge!(WS_CONNECTIONS).set(0.0);
            for kind in STORE_ERROR_KINDS {
                metrics::counter!(STORE_WRITE_ERRORS, "kind" => *kind).increment(0);
            }
            handle
        })
        .clone()
}

/// The standard process metrics (`process_cpu_seconds_total`, `process_resident_memory_bytes`,
/// `process_open_fds`, `process_max_fds`, `process_virtual_memory_bytes`,
/// `process_virtual_memory_max_bytes`, `process_start_time_seconds`, `process_threads`), under
/// the unprefixed names every process dashboard and alert expects.
fn process_collector() -> &'static metrics_process::Collector {
    static COLLECTOR: OnceLock<metrics_process::Collector> = OnceLock::new();
    COLLECTOR.get_or_init(metrics_process::Collector::default)
}

/// Refreshes the process metrics; call before each render.
pub fn collect_process() {
    process_collector().collect();
}

fn describe() {
    describe_counter!(
        HTTP_REQUESTS,
        "HTTP requests answered, by method, route and status."
    );
    describe_histogram!(
        HTTP_REQUEST_DURATION,
        Unit::Seconds,
        "HTTP request latency, by method and route."
    );
    describe_gauge!(QUEUE_DEPTH, "Frames waiting in the ingest queue.");
    describe_gauge!(QUEUE_CAPACITY, "Most frames the ingest queue holds.");
    describe_gauge!(
        QUEUE_BYTES,
        Unit::Bytes,
        "Bytes of documents waiting in the ingest queue."
    );
    describe_gauge!(
        QUEUE_CAPACITY_BYTES,
        Unit::Bytes,
        "Most bytes the ingest queue holds."
    );
    describe_counter!(
        FRAMES_RECEIVED,
        "Frames that passed validation and were offered to the queue."
    );
    describe_counter!(
        FRAMES_WRITTEN,
        "Frames durably written (including duplicates of stored frames)."
    );
    describe_counter!(FRAMES_REJECTED, "Frames refused, by reason.");
    describe_counter!(
        FRAMES_DUPLICATE,
        "Frames that were already stored (retries)."
    );
    describe_counter!(
        FRAMES_UNKNOWN_FIELDS,
        "JSON fields ignored because the schema does not know them."
    );
    describe_counter!(
        FRAMES_DROPPED,
        "Frames acknowledged on enqueue that could not be written."
    );
    describe_histogram!(BATCH_SIZE_FRAMES, "Frames per insert batch.");
    describe_histogram!(BATCH_SIZE_BYTES, Unit::Bytes, "Bytes per insert batch.");
    describe_histogram!(
        STORE_WRITE_DURATION,
        Unit::Seconds,
        "Time of one batch write to the store."
    );
    describe_counter!(STORE_WRITE_ERRORS, "Failed batch writes, by kind.");
    describe_histogram!(
        STORE_READ_DURATION,
        Unit::Seconds,
        "Time to the first result of a store read."
    );
    describe_histogram!(
        ACK_LATENCY,
        Unit::Seconds,
        "Enqueue to durable write, per frame."
    );
    describe_gauge!(WS_CONNECTIONS, "Open WebSocket ingest streams.");
    describe_counter!(
        WS_MESSAGES,
        "WebSocket ingest messages answered, by outcome (frame, header, failed)."
    );
    describe_counter!(
        MATCH_SUMMARY_ERRORS,
        "Match summary updates that failed after their batch was stored (retried with the next)."
    );
    describe_gauge!(LIVE_SUBSCRIBERS, "Open live tails (SSE and WebSocket).");
    describe_counter!(
        LIVE_LAGGED_FRAMES,
        "Frames slow live subscribers skipped (each told with event: lagged)."
    );
    describe_counter!(
        LIVE_REFUSED,
        "Live tails refused because the subscriber cap was reached."
    );
    describe_counter!(EXPORT_FRAMES, "Frames written by replay exports.");
    describe_gauge!(
        BUILD_INFO,
        "Always 1; the version label says which build runs."
    );
}
