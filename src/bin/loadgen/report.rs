//! What a run counts, the per-second progress line, and the final summary (text and JSON).

use std::collections::BTreeMap;
use std::time::Instant;

use hdrhistogram::Histogram;
use serde_json::{Value, json};

/// Latencies in microseconds, 1 µs to 1 h, 3 significant digits.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds")
}

/// Everything the send tasks record, behind one mutex (a few thousand updates a second).
pub struct Stats {
    pub sent: u64,
    /// 200 or 202.
    pub acked: u64,
    /// Every other status, by code.
    pub by_status: BTreeMap<u16, u64>,
    /// Requests that got no response (connect, timeout, reset), by kind.
    pub transport: BTreeMap<&'static str, u64>,
    /// Not sent: --max-in-flight requests were outstanding at the scheduled time.
    pub dropped: u64,
    /// Sent, but dispatched more than --late-after behind the schedule.
    pub late: u64,
    /// Scheduled send time to complete response, every answered request, µs.
    pub latency: Histogram<u64>,
    /// The same since the last progress line.
    pub interval: Histogram<u64>,
    /// Scheduled send time to complete response, every answer other than 200/202, µs: an
    /// overloaded service should refuse at once, not after its deadline.
    pub rejected_latency: Histogram<u64>,
    /// 503s without `Retry-After`: the client then has no hint when to come back.
    pub unavailable_without_retry_after: u64,
    /// Per stream, the frame indices acknowledged.
    pub acked_frames: Vec<Vec<u32>>,
    pub last_response: Option<Instant>,
}

impl Stats {
    pub fn new(streams: usize) -> Self {
        Self {
            sent: 0,
            acked: 0,
            by_status: BTreeMap::new(),
            transport: BTreeMap::new(),
            dropped: 0,
            late: 0,
            latency: histogram(),
            interval: histogram(),
            rejected_latency: histogram(),
            unavailable_without_retry_after: 0,
            acked_frames: vec![Vec::new(); streams],
            last_response: None,
        }
    }

    pub fn errors(&self) -> u64 {
        self.by_status.values().sum::<u64>() + self.transport.values().sum::<u64>()
    }

    pub fn record_latency(&mut self, micros: u64) {
        self.latency.saturating_record(micros.max(1));
        self.interval.saturating_record(micros.max(1));
    }
}

/// Milliseconds at a quantile, for display.
pub fn ms_at(h: &Histogram<u64>, q: f64) -> f64 {
    if h.is_empty() {
        return 0.0;
    }
    h.value_at_quantile(q) as f64 / 1000.0
}

pub fn latency_json(h: &Histogram<u64>) -> Value {
    json!({
        "count": h.len(),
        "p50": ms_at(h, 0.50),
        "p90": ms_at(h, 0.90),
        "p99": ms_at(h, 0.99),
        "p99_9": ms_at(h, 0.999),
        "max": if h.is_empty() { 0.0 } else { h.max() as f64 / 1000.0 },
        "mean": if h.is_empty() { 0.0 } else { h.mean() / 1000.0 },
    })
}

pub fn latency_line(h: &Histogram<u64>) -> String {
    let max = if h.is_empty() {
        0.0
    } else {
        h.max() as f64 / 1000.0
    };
    format!(
        "p50 {:.2}  p90 {:.2}  p99 {:.2}  p99.9 {:.2}  max {:.2}",
        ms_at(h, 0.50),
        ms_at(h, 0.90),
        ms_at(h, 0.99),
        ms_at(h, 0.999),
        max
    )
}

/// Facts about the run that are not counts.
pub struct RunInfo {
    pub target: String,
    pub transport: &'static str,
    pub batch_frames: usize,
    pub rate: f64,
    pub ramp_to: Option<f64>,
    pub duration_s: f64,
    pub streams: usize,
    pub matches: usize,
    pub nodes: usize,
    pub encoding: &'static str,
    pub profile: &'static str,
    pub gzip: bool,
    pub max_in_flight: usize,
    pub late_after_ms: f64,
    pub scheduled: u64,
    /// `--distinct-frames`, when bodies repeat.
    pub distinct_frames: Option<usize>,
    /// The clock start as milliseconds since the Unix epoch: what `--requests-csv` offsets and
    /// the schedule count from.
    pub start_unix_ms: f64,
    pub mean_body_bytes: f64,
    pub pregenerated: usize,
    pub pregen_seconds: f64,
    /// Clock start to the last response.
    pub wall_s: f64,
    pub loadgen_cpu_s: f64,
    /// The service's `process_cpu_seconds_total` over the run (None: /metrics unreadable).
    pub service_cpu_s: Option<f64>,
}

/// The service's CPU seconds so far: from /proc with `--service-pid`, else from its `/metrics`
/// (`process_cpu_seconds_total`, which the exporter reports in whole seconds: only long runs
/// give a usable figure that way).
pub async fn service_cpu_seconds(
    client: &reqwest::Client,
    target: &str,
    args: &crate::Args,
) -> Option<f64> {
    if let Some(pid) = args.service_pid {
        return crate::cpu_seconds_of(&pid.to_string());
    }
    let mut request = client.get(format!("{target}/metrics"));
    if let Some(token) = &args.metrics_token {
        request = request.bearer_auth(token);
    }
    let text = request.send().await.ok()?.text().await.ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("process_cpu_seconds_total "))
        .and_then(|v| v.trim().parse().ok())
}

/// The summary as JSON; the text form is rendered from it, so both always agree.
pub fn summary(info: &RunInfo, stats: &Stats) -> Value {
    let rate = |n: u64, s: f64| if s > 0.0 { n as f64 / s } else { 0.0 };
    let by_status: BTreeMap<String, u64> = stats
        .by_status
        .iter()
        .map(|(k, v)| (k.to_string(), *v))
        .collect();
    let per_frame = |cpu: f64, n: u64| if n > 0 { cpu * 1e6 / n as f64 } else { 0.0 };
    json!({
        "mode": "http",
        "transport": info.transport,
        "batch_frames": info.batch_frames,
        "target": info.target,
        "rate": info.rate,
        "ramp_to": info.ramp_to,
        "duration_s": info.duration_s,
        "streams": info.streams,
        "matches": info.matches,
        "nodes": info.nodes,
        "encoding": info.encoding,
        "profile": info.profile,
        "gzip": info.gzip,
        "mean_body_bytes": info.mean_body_bytes.round(),
        "pregenerated": info.pregenerated,
        "pregen_s": info.pregen_seconds,
        "max_in_flight": info.max_in_flight,
        "late_after_ms": info.late_after_ms,
        "scheduled": info.scheduled,
        "distinct_frames": info.distinct_frames,
        "start_unix_ms": info.start_unix_ms,
        "sent": stats.sent,
        "acknowledged": stats.acked,
        "errors": stats.errors(),
        "errors_by_status": by_status,
        "transport_errors": stats.transport.values().sum::<u64>(),
        "transport_errors_by_kind": stats.transport,
        "dropped": stats.dropped,
        "late": stats.late,
        "wall_s": info.wall_s,
        "offered_rate": rate(info.scheduled, info.duration_s),
        "sent_rate": rate(stats.sent, info.duration_s),
        "achieved_rate": rate(stats.acked, info.wall_s),
        "latency_ms": latency_json(&stats.latency),
        "rejected_latency_ms": latency_json(&stats.rejected_latency),
        "unavailable_without_retry_after": stats.unavailable_without_retry_after,
        "loadgen_cpu_s": info.loadgen_cpu_s,
        "loadgen_cpu_us_per_frame": per_frame(info.loadgen_cpu_s, stats.sent),
        "service_cpu_s": info.service_cpu_s,
        "service_cpu_us_per_frame": info.service_cpu_s.map(|s| per_frame(s, stats.acked)),
    })
}

pub fn print_summary(s: &Value) {
    let f = |k: &str| s[k].as_f64().unwrap_or(0.0);
    let u = |k: &str| s[k].as_u64().unwrap_or(0);
    let lat = &s["latency_ms"];
    let l = |k: &str| lat[k].as_f64().unwrap_or(0.0);
    let ramp = s["ramp_to"]
        .as_f64()
        .map_or(String::new(), |r| format!(" ramping to {r}/s"));
    println!(
        "loadgen: {} over {} at {}/s{ramp} for {}s, {} streams ({} matches x {} nodes), {} {} frames of {:.0} bytes{}",
        s["target"].as_str().unwrap_or(""),
        s["transport"].as_str().unwrap_or(""),
        f("rate"),
        f("duration_s"),
        u("streams"),
        u("matches"),
        u("nodes"),
        s["profile"].as_str().unwrap_or(""),
        s["encoding"].as_str().unwrap_or(""),
        f("mean_body_bytes"),
        if s["gzip"].as_bool() == Some(true) {
            " (gzip)"
        } else {
            ""
        },
    );
    println!("scheduled     {}", u("scheduled"));
    println!("sent          {}", u("sent"));
    println!("acknowledged  {} (200/202)", u("acknowledged"));
    println!(
        "errors        {} (by status: {}; transport: {} {})",
        u("errors"),
        s["errors_by_status"],
        u("transport_errors"),
        s["transport_errors_by_kind"]
    );
    println!(
        "dropped       {} (over {} in flight at the scheduled time)",
        u("dropped"),
        u("max_in_flight")
    );
    println!(
        "late          {} (dispatched > {} ms behind schedule)",
        u("late"),
        f("late_after_ms")
    );
    println!(
        "rate          offered {:.1}/s, sent {:.1}/s, achieved (acknowledged) {:.1}/s over {:.2} s",
        f("offered_rate"),
        f("sent_rate"),
        f("achieved_rate"),
        f("wall_s")
    );
    println!(
        "latency ms    p50 {:.2}  p90 {:.2}  p99 {:.2}  p99.9 {:.2}  max {:.2}  (from the scheduled send time)",
        l("p50"),
        l("p90"),
        l("p99"),
        l("p99_9"),
        l("max")
    );
    let rej = &s["rejected_latency_ms"];
    if rej["count"].as_u64().unwrap_or(0) > 0 {
        let r = |k: &str| rej[k].as_f64().unwrap_or(0.0);
        println!(
            "refused ms    p50 {:.2}  p99 {:.2}  max {:.2}  (non-2xx answers; {} 503s without Retry-After)",
            r("p50"),
            r("p99"),
            r("max"),
            u("unavailable_without_retry_after")
        );
    }
    println!(
        "loadgen cpu   {:.2} s = {:.1} µs a frame sent (bodies pregenerated: {} in {:.2} s)",
        f("loadgen_cpu_s"),
        f("loadgen_cpu_us_per_frame"),
        u("pregenerated"),
        f("pregen_s")
    );
    match s["service_cpu_s"].as_f64() {
        Some(cpu) => println!(
            "service cpu   {cpu:.2} s = {:.1} µs a frame acknowledged",
            f("service_cpu_us_per_frame")
        ),
        None => println!("service cpu   unknown (its /metrics could not be read)"),
    }
}

pub fn write_json(path: &std::path::Path, summary: &Value) -> anyhow::Result<()> {
    let mut text = serde_json::to_string_pretty(summary)?;
    text.push('\n');
    std::fs::write(path, text)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    Ok(())
}
