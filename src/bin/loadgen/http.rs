//! The open-model load: a fixed timetable of sends, never slowed by the service, over one of
//! three transports: one POST per frame (prebuilt requests on keep-alive connections,
//! [`crate::pool`]), a WebSocket stream per match ([`crate::ws`]), or batch POSTs per node
//! ([`crate::batch`]).
//!
//! The load generator must cost less than what it measures: it runs on one thread (a
//! current-thread runtime, see `main`), so handing a request to a connection or an answer back
//! wakes no other thread; the timetable is one timer re-armed for each due time; each send is
//! a prebuilt request moved to a connection's task, nothing spawned or allocated for it; and
//! an answer is recorded under one uncontended lock (counts, HDR histograms).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use axum::http::{HeaderMap, HeaderValue};
use tokio::time::Instant;

use crate::pool::{Job, Pool, Reply};
use crate::report::{self, RunInfo, Stats};
use crate::requests::{Outcome, RequestLog};
use crate::{Args, EncodingArg, Transport, batch, bodies, verify, ws};

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
pub struct Shared {
    pub stats: Mutex<Stats>,
    pub in_flight: AtomicUsize,
    /// The clock start: send times are fixed relative to it.
    pub start: Instant,
    pub log: Option<RequestLog>,
}

impl Shared {
    /// Records how the frame `index` of `stream`, scheduled at `at`, ended; latency runs from
    /// the *scheduled* time (no coordinated omission).
    pub fn record(&self, stream: usize, index: u32, at: Instant, result: Outcome) {
        let now = Instant::now();
        let micros =
            u64::try_from(now.saturating_duration_since(at).as_micros()).unwrap_or(u64::MAX);
        {
            let mut st = self.stats.lock().unwrap();
            st.last_response = Some(now.into_std());
            match &result {
                Outcome::Status {
                    code: 200 | 202, ..
                } => {
                    st.acked += 1;
                    st.acked_frames[stream].push(index);
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
        if let Some(log) = &self.log {
            log.record(at - self.start, now - self.start, stream, index, &result);
        }
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The headers every POST carries (host, content type, encoding, user, token).
fn common_headers(
    args: &Args,
    host: &HeaderValue,
    content_type: &'static str,
) -> anyhow::Result<HeaderMap> {
    let mut headers = HeaderMap::new();
    // The connections speak HTTP/1.1 with origin-form targets, so Host is ours to send.
    headers.insert(axum::http::header::HOST, host.clone());
    headers.insert(
        axum::http::header::CONTENT_TYPE,
        HeaderValue::from_static(content_type),
    );
    if args.gzip {
        headers.insert(
            axum::http::header::CONTENT_ENCODING,
            HeaderValue::from_static("gzip"),
        );
    }
    if let Some(user) = &args.user_id {
        headers.insert("x-user-id", user.parse()?);
    }
    if let Some(token) = &args.auth_token {
        headers.insert(
            axum::http::header::AUTHORIZATION,
            format!("Bearer {token}").parse()?,
        );
    }
    Ok(headers)
}

/// How the run's frames go out. One per run: its size does not matter.
#[allow(clippy::large_enum_variant)]
enum Dispatch {
    Http(Pool),
    Ws(Vec<ws::Connection>),
    Batch(batch::Batcher),
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
    // reqwest only before and after the clock (health, service CPU, verification).
    let client = reqwest::Client::builder()
        .timeout(args.timeout)
        .connect_timeout(Duration::from_secs(5))
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

    let post_type = match args.encoding {
        EncodingArg::Json => "application/json",
        EncodingArg::Protobuf => "application/x-protobuf",
    };
    let base: axum::http::Uri = target.parse()?;
    anyhow::ensure!(
        base.scheme_str() == Some("http"),
        "--target must be an http:// URL (HTTP/1.1 without TLS)"
    );
    let authority = base
        .authority()
        .ok_or_else(|| anyhow::anyhow!("--target {target} has no host"))?;
    let host = HeaderValue::from_str(authority.as_str())?;
    let authority = match authority.port_u16() {
        Some(_) => authority.as_str().to_owned(),
        None => format!("{}:80", authority.host()),
    };
    // Origin-form: the path as the request line carries it on a connection to the host.
    let uri: axum::http::Uri =
        format!("{}/session-events", base.path().trim_end_matches('/')).parse()?;
    let (framing, template) = match args.transport {
        Transport::Http => (
            bodies::Framing::Post,
            Some(bodies::RequestTemplate {
                uri: uri.clone(),
                headers: common_headers(args, &host, post_type)?,
                nodes: nodes.clone(),
            }),
        ),
        Transport::Ws => (bodies::Framing::Stream, None),
        Transport::Batch => (bodies::Framing::Batch, None),
    };

    eprintln!(
        "loadgen: generating {total} bodies ({} streams, seed {seed}, transport {:?})...",
        streams.len(),
        args.transport
    );
    let (mut rx, prefill) = bodies::spawn(
        streams.clone(),
        total,
        bodies::Shape {
            encoding: args.encoding,
            gzip: args.gzip,
            framing,
            distinct: args.distinct_frames,
        },
        template,
        args.pregen_bytes,
    )
    .await?;
    eprintln!(
        "loadgen: {} bodies ({:.1} MB) ready in {:.2} s",
        prefill.bodies,
        prefill.bytes as f64 / 1e6,
        prefill.seconds
    );

    let log = args
        .requests_csv
        .as_deref()
        .map(RequestLog::create)
        .transpose()?;
    let lead = Duration::from_millis(20);
    let shared = Arc::new(Shared {
        stats: Mutex::new(Stats::new(match_ids.len())),
        in_flight: AtomicUsize::new(0),
        start: Instant::now() + lead,
        log,
    });
    let mut dispatch = match args.transport {
        Transport::Http => {
            Dispatch::Http(Pool::new(&authority, args.timeout, shared.clone()).await?)
        }
        Transport::Ws => {
            let url = format!("{}/ws", target.replacen("http", "ws", 1));
            let mut connections = Vec::with_capacity(streams.len());
            for stream in &streams {
                connections
                    .push(ws::Connection::open(&url, &stream.node, args, shared.clone()).await?);
            }
            Dispatch::Ws(connections)
        }
        Transport::Batch => Dispatch::Batch(batch::Batcher::new(
            args,
            Pool::new(&authority, args.timeout, shared.clone()).await?,
            uri,
            common_headers(
                args,
                &host,
                match args.encoding {
                    EncodingArg::Json => "application/x-ndjson",
                    EncodingArg::Protobuf => "application/x-protobuf-delimited",
                },
            )?,
            &nodes,
            args.nodes,
        )),
    };
    let service_cpu_before = report::service_cpu_seconds(&client, &target, args).await;
    let cpu_before = crate::process_cpu_seconds();
    eprintln!("loadgen: ready; sending");
    let start = shared.start;
    let start_unix_ms = (std::time::SystemTime::now()
        + start.saturating_duration_since(Instant::now()))
    .duration_since(std::time::UNIX_EPOCH)
    .unwrap_or_default()
    .as_secs_f64()
        * 1000.0;
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
    // One timer for the whole timetable, re-armed to each due time that has not come yet.
    let due = tokio::time::sleep_until(start);
    tokio::pin!(due);
    while let Some(mut body) = rx.recv().await {
        let at = start + schedule.offset(body.seq);
        let mut now = Instant::now();
        if at > now {
            due.as_mut().reset(at);
            due.as_mut().await;
            now = Instant::now();
        }
        let behind = now.saturating_duration_since(at);
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
        match &mut dispatch {
            Dispatch::Http(pool) => pool.submit(Job {
                request: body
                    .request
                    .take()
                    .expect("HTTP bodies are prebuilt requests"),
                reply: Reply::Frame {
                    stream: body.stream,
                    index: body.index,
                    at,
                },
            }),
            Dispatch::Ws(connections) => connections[body.stream].send(body, at),
            Dispatch::Batch(batcher) => batcher.add(body, at),
        }
    }
    if let Dispatch::Batch(batcher) = &mut dispatch {
        batcher.flush_all();
    }
    let send_s = start.elapsed().as_secs_f64();
    // Every frame is answered (or times out) before the figures are taken.
    let until = Instant::now() + args.timeout + Duration::from_secs(5);
    while shared.in_flight.load(Ordering::Relaxed) > 0 && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let loadgen_cpu_s = crate::process_cpu_seconds() - cpu_before;
    let service_cpu_after = report::service_cpu_seconds(&client, &target, args).await;
    if let Dispatch::Ws(connections) = dispatch {
        // Streams end once every reply is in; any still missing are counted as lost.
        for c in connections {
            c.finish().await;
        }
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
        transport: match args.transport {
            Transport::Http => "http",
            Transport::Ws => "ws",
            Transport::Batch => "batch",
        },
        batch_frames: args.batch_frames,
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
        distinct_frames: args.distinct_frames,
        start_unix_ms,
        mean_body_bytes: if stats.sent > 0 {
            body_bytes as f64 / stats.sent as f64
        } else {
            0.0
        },
        pregenerated: prefill.bodies,
        pregen_seconds: prefill.seconds,
        wall_s,
        loadgen_cpu_s,
        service_cpu_s: service_cpu_before
            .zip(service_cpu_after)
            .map(|(before, after)| after - before),
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
