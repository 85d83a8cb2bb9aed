//! The open-model HTTP load: a fixed timetable of sends, never slowed by the service.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use reqwest::header::{HeaderName, HeaderValue};
use tokio::time::Instant;

use crate::report::{self, RunInfo, Stats};
use crate::requests::{Outcome, RequestLog};
use crate::{Args, EncodingArg, bodies, verify};

/// Send times: a constant rate, or a linear ramp from `r0` to `r1` over the duration.
pub struct Schedule {
    r0: f64,
    r1: f64,
    d: f64,
}

impl Schedule {
    pub fn new(rate: f64, ramp_to: Option<f64>, duration: Duration) -> Self {
        Self {
            r0: rate,
            r1: ramp_to.unwrap_or(rate),
            d: duration.as_secs_f64(),
        }
    }

    /// Sends in the whole run: the area under the rate curve.
    pub fn total(&self) -> u64 {
        (self.d * (self.r0 + self.r1) / 2.0).floor() as u64
    }

    /// The rate at `t` seconds.
    pub fn rate_at(&self, t: f64) -> f64 {
        self.r0 + (self.r1 - self.r0) * (t / self.d).clamp(0.0, 1.0)
    }

    /// When send `i` is due: solves r0·t + k·t²/2 = i for t, with k the ramp's slope.
    pub fn offset(&self, i: u64) -> Duration {
        let i = i as f64;
        let k = (self.r1 - self.r0) / self.d;
        let t = if k.abs() < 1e-9 {
            i / self.r0
        } else {
            (-self.r0 + (self.r0 * self.r0 + 2.0 * k * i).max(0.0).sqrt()) / k
        };
        Duration::from_secs_f64(t.max(0.0))
    }
}

/// What every send task shares.
struct Shared {
    client: reqwest::Client,
    /// Parsed once: reqwest would parse a string URL on every request.
    url: reqwest::Url,
    headers: Vec<(HeaderName, HeaderValue)>,
    nodes: Vec<HeaderValue>,
    stats: Mutex<Stats>,
    in_flight: AtomicUsize,
    /// The clock start: send times are fixed relative to it.
    start: Instant,
    log: Option<RequestLog>,
}

pub async fn run(args: &Args) -> anyhow::Result<bool> {
    let seed = args.seed.unwrap_or_else(|| fastrand::u64(..));
    let streams = bodies::streams(args.matches, args.nodes, seed, args.profile.profile());
    let match_ids: Vec<String> = streams.iter().map(|s| s.match_id.clone()).collect();
    let nodes = streams
        .iter()
        .map(|s| HeaderValue::from_str(&s.node))
        .collect::<Result<Vec<_>, _>>()?;
    let schedule = Schedule::new(args.rate, args.ramp_to, args.duration);
    let total = schedule.total();
    anyhow::ensure!(total > 0, "--rate x --duration schedules no sends");

    let target = args.target.trim_end_matches('/').to_owned();
    let client = reqwest::Client::builder()
        .http1_only()
        .tcp_nodelay(true)
        .timeout(args.timeout)
        .connect_timeout(Duration::from_secs(5))
        .pool_max_idle_per_host(args.max_in_flight)
        .build()?;
    let health = client
        .get(format!("{target}/health"))
        .send()
        .await
        .with_context(|| format!("the service at {target} does not answer"))?;
    anyhow::ensure!(
        health.status().is_success(),
        "{target}/health answered {}",
        health.status()
    );

    let mut headers = vec![(
        reqwest::header::CONTENT_TYPE,
        HeaderValue::from_static(match args.encoding {
            EncodingArg::Json => "application/json",
            EncodingArg::Protobuf => "application/x-protobuf",
        }),
    )];
    if args.gzip {
        headers.push((
            reqwest::header::CONTENT_ENCODING,
            HeaderValue::from_static("gzip"),
        ));
    }
    if let Some(user) = &args.user_id {
        headers.push((HeaderName::from_static("x-user-id"), user.parse()?));
    }
    if let Some(token) = &args.auth_token {
        headers.push((
            reqwest::header::AUTHORIZATION,
            format!("Bearer {token}").parse()?,
        ));
    }

    eprintln!(
        "loadgen: generating {total} bodies ({} streams, seed {seed})...",
        streams.len()
    );
    let (mut rx, prefill) =
        bodies::spawn(streams, total, args.encoding, args.gzip, args.pregen_bytes).await?;
    eprintln!(
        "loadgen: {} bodies ({:.1} MB) ready in {:.2} s; sending",
        prefill.bodies,
        prefill.bytes as f64 / 1e6,
        prefill.seconds
    );

    let log = args
        .requests_csv
        .as_deref()
        .map(RequestLog::create)
        .transpose()?;
    let cpu_before = crate::process_cpu_seconds();
    let lead = Duration::from_millis(20);
    let start = Instant::now() + lead;
    let start_unix_ms = (std::time::SystemTime::now() + lead)
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
        * 1000.0;
    let shared = Arc::new(Shared {
        client: client.clone(),
        url: format!("{target}/session-events").parse()?,
        headers,
        nodes,
        stats: Mutex::new(Stats::new(match_ids.len())),
        in_flight: AtomicUsize::new(0),
        start,
        log,
    });
    let done = Arc::new(AtomicBool::new(false));
    let progress = (!args.quiet).then(|| {
        tokio::spawn(progress(
            shared.clone(),
            start,
            Schedule::new(args.rate, args.ramp_to, args.duration),
            done.clone(),
        ))
    });

    let mut body_bytes = 0u64;
    while let Some(body) = rx.recv().await {
        let at = start + schedule.offset(body.seq);
        if at > Instant::now() {
            tokio::time::sleep_until(at).await;
        }
        let behind = Instant::now().saturating_duration_since(at);
        if shared.in_flight.load(Ordering::Relaxed) >= args.max_in_flight {
            shared.stats.lock().unwrap().dropped += 1;
            if let Some(log) = &shared.log {
                log.record_dropped(at - start, body.stream, body.index);
            }
            continue;
        }
        {
            let mut st = shared.stats.lock().unwrap();
            st.sent += 1;
            if behind > args.late_after {
                st.late += 1;
            }
        }
        body_bytes += body.bytes.len() as u64;
        shared.in_flight.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(send(shared.clone(), body, at));
    }
    let send_s = start.elapsed().as_secs_f64();
    while shared.in_flight.load(Ordering::Relaxed) > 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    done.store(true, Ordering::Relaxed);
    if let Some(p) = progress {
        let _ = p.await;
    }
    if let Some(log) = &shared.log {
        log.finish()?;
    }

    let stats = std::mem::replace(
        &mut *shared.stats.lock().unwrap(),
        Stats::new(match_ids.len()),
    );
    let wall_s = stats.last_response.map_or(send_s, |t| {
        t.saturating_duration_since(start.into_std()).as_secs_f64()
    });
    let info = RunInfo {
        target: target.clone(),
        rate: args.rate,
        ramp_to: args.ramp_to,
        duration_s: args.duration.as_secs_f64(),
        streams: match_ids.len(),
        matches: args.matches,
        nodes: args.nodes,
        encoding: match args.encoding {
            EncodingArg::Json => "json",
            EncodingArg::Protobuf => "protobuf",
        },
        profile: match args.profile {
            crate::ProfileArg::Session => "session",
            crate::ProfileArg::Bones => "bones",
        },
        gzip: args.gzip,
        max_in_flight: args.max_in_flight,
        late_after_ms: args.late_after.as_secs_f64() * 1000.0,
        scheduled: total,
        start_unix_ms,
        mean_body_bytes: if stats.sent > 0 {
            body_bytes as f64 / stats.sent as f64
        } else {
            0.0
        },
        pregenerated: prefill.bodies,
        pregen_seconds: prefill.seconds,
        wall_s,
        loadgen_cpu_s: crate::process_cpu_seconds() - cpu_before,
    };
    let mut summary = report::summary(&info, &stats);
    report::print_summary(&summary);

    let mut ok = true;
    let mut failed = None;
    if args.verify {
        match verify::run(&client, &target, &match_ids, &stats.acked_frames).await {
            Ok(v) => {
                println!("{}", v.line());
                ok = v.missing == 0 && v.duplicates == 0;
                summary["verify"] = v.json();
            }
            // The run's figures are still worth keeping when the read-back fails.
            Err(e) => {
                summary["verify"] = serde_json::json!({ "error": format!("{e:#}") });
                failed = Some(e);
            }
        }
    }
    if let Some(path) = &args.summary_json {
        report::write_json(path, &summary)?;
    }
    match failed {
        Some(e) => Err(e),
        None => Ok(ok),
    }
}

/// One POST; latency runs from the scheduled time `at`, not from when it was sent.
async fn send(shared: Arc<Shared>, body: bodies::Body, at: Instant) {
    let mut req = shared
        .client
        .post(shared.url.clone())
        .header("x-node-id", shared.nodes[body.stream].clone());
    for (name, value) in &shared.headers {
        req = req.header(name, value);
    }
    let result = async {
        let resp = req.body(body.bytes).send().await?;
        let code = resp.status().as_u16();
        let retry_after = resp.headers().contains_key(reqwest::header::RETRY_AFTER);
        resp.bytes().await?;
        Ok::<_, reqwest::Error>(Outcome::Status { code, retry_after })
    }
    .await
    .unwrap_or_else(|e| Outcome::Transport(transport_kind(&e)));
    let now = Instant::now();
    let micros = u64::try_from(now.saturating_duration_since(at).as_micros()).unwrap_or(u64::MAX);
    {
        let mut st = shared.stats.lock().unwrap();
        st.last_response = Some(now.into_std());
        match &result {
            Outcome::Status {
                code: 200 | 202, ..
            } => {
                st.acked += 1;
                st.acked_frames[body.stream].push(body.index);
                st.record_latency(micros);
            }
            &Outcome::Status { code, retry_after } => {
                *st.by_status.entry(code).or_default() += 1;
                st.rejected_latency.saturating_record(micros.max(1));
                if code == 503 && !retry_after {
                    st.unavailable_without_retry_after += 1;
                }
            }
            &Outcome::Transport(kind) => *st.transport.entry(kind).or_default() += 1,
        }
    }
    if let Some(log) = &shared.log {
        let (scheduled, done) = (at - shared.start, now - shared.start);
        log.record(scheduled, done, body.stream, body.index, &result);
    }
    shared.in_flight.fetch_sub(1, Ordering::Relaxed);
}

fn transport_kind(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect"
    } else if e.is_body() || e.is_decode() {
        "body"
    } else if e.is_request() {
        "request"
    } else {
        "other"
    }
}

/// One line a second on stderr: what happened in that second.
async fn progress(shared: Arc<Shared>, start: Instant, schedule: Schedule, done: Arc<AtomicBool>) {
    let mut tick = tokio::time::interval_at(start + Duration::from_secs(1), Duration::from_secs(1));
    let (mut sent, mut acked, mut errors, mut dropped, mut late) = (0, 0, 0, 0, 0);
    while !done.load(Ordering::Relaxed) {
        tick.tick().await;
        let t = start.elapsed().as_secs_f64();
        let mut st = shared.stats.lock().unwrap();
        let p99 = report::ms_at(&st.interval, 0.99);
        st.interval.reset();
        let e = st.errors();
        eprintln!(
            "[{t:5.1}s] target {:7.0}/s  sent {:6}/s  ok {:6}/s  errors {:4}  dropped {:4}  late {:4}  in-flight {:5}  p99 {p99:8.1} ms",
            schedule.rate_at(t - 1.0),
            st.sent - sent,
            st.acked - acked,
            e - errors,
            st.dropped - dropped,
            st.late - late,
            shared.in_flight.load(Ordering::Relaxed),
        );
        (sent, acked, errors, dropped, late) = (st.sent, st.acked, e, st.dropped, st.late);
    }
}
