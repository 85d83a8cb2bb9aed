//! The metrics contract: `/metrics` is valid Prometheus text holding every metric `src/metrics.rs`
//! declares, the counters move by exactly what happened, a real Prometheus scrapes the service,
//! and every query of the Grafana dashboard returns data from it.
//!
//! The metrics recorder is process-wide (every service this binary spawns shares it), so every
//! test that makes traffic holds `LOCK`: deltas measured by one are never moved by another.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::prometheus::{self, Prometheus};
use common::{
    Backend, MongoServer, TestApp, new_match, spawn_app_with, spawn_config, test_config,
    unique_name,
};
use session_events::config::Config;
use session_events::metrics as m;
use session_events::proto::LobbySessionStateFrame;
use session_events::synth::{self, MatchGenerator};

static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn repo_file(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn read_repo_file(path: &str) -> String {
    std::fs::read_to_string(repo_file(path)).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

// ---------------------------------------------------------------------------------------------
// The text exposition format, parsed strictly enough to catch what Prometheus would refuse.

#[derive(Debug, Clone)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

#[derive(Debug, Default)]
struct Exposition {
    help: HashMap<String, String>,
    types: HashMap<String, String>,
    samples: Vec<Sample>,
}

fn is_metric_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn is_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn parse_value(s: &str) -> Option<f64> {
    match s {
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        _ if s
            .chars()
            .any(|c| c.is_ascii_alphabetic() && c != 'e' && c != 'E') =>
        {
            None
        }
        _ => s.parse().ok(),
    }
}

/// Splits `name{a="x",b="y"} value [timestamp]`.
fn parse_sample(line: &str) -> Result<Sample, String> {
    let name_end = line.find(['{', ' ']).ok_or("no value")?;
    let name = &line[..name_end];
    if !is_metric_name(name) {
        return Err(format!("bad metric name {name:?}"));
    }
    let mut labels = BTreeMap::new();
    let mut rest = &line[name_end..];
    if let Some(after) = rest.strip_prefix('{') {
        let mut chars = after.char_indices().peekable();
        loop {
            // label name, or the closing brace (a trailing comma is allowed)
            let start = chars.peek().map(|(i, _)| *i).ok_or("unterminated labels")?;
            if after[start..].starts_with('}') {
                rest = &after[start + 1..];
                break;
            }
            let eq = after[start..].find('=').ok_or("label without '='")? + start;
            let label = &after[start..eq];
            if !is_label_name(label) {
                return Err(format!("bad label name {label:?}"));
            }
            while chars.peek().is_some_and(|(i, _)| *i <= eq) {
                chars.next();
            }
            if chars.next().map(|(_, c)| c) != Some('"') {
                return Err(format!("label {label} value is not quoted"));
            }
            let mut value = String::new();
            loop {
                match chars.next().ok_or("unterminated label value")?.1 {
                    '"' => break,
                    '\\' => match chars.next().ok_or("dangling escape")?.1 {
                        '\\' => value.push('\\'),
                        '"' => value.push('"'),
                        'n' => value.push('\n'),
                        other => return Err(format!("bad escape \\{other}")),
                    },
                    c => value.push(c),
                }
            }
            if labels.insert(label.to_owned(), value).is_some() {
                return Err(format!("label {label} repeated"));
            }
            match chars.peek().map(|(_, c)| *c) {
                Some(',') => {
                    chars.next();
                }
                Some('}') => {}
                other => return Err(format!("expected ',' or '}}' after a label, got {other:?}")),
            }
        }
    }
    let mut fields = rest.split_ascii_whitespace();
    let raw = fields.next().ok_or("no value")?;
    let value = parse_value(raw).ok_or_else(|| format!("bad value {raw:?}"))?;
    if let Some(ts) = fields.next() {
        ts.parse::<i64>()
            .map_err(|_| format!("bad timestamp {ts:?}"))?;
    }
    if fields.next().is_some() {
        return Err("trailing fields".into());
    }
    Ok(Sample {
        name: name.to_owned(),
        labels,
        value,
    })
}

/// Parses the text format (version 0.0.4), rejecting what Prometheus would: bad names or
/// values, a TYPE after its samples or repeated, samples of a family split into several groups,
/// the same series twice.
fn parse_exposition(text: &str) -> Result<Exposition, String> {
    let mut exp = Exposition::default();
    let mut seen_series = BTreeSet::new();
    let mut finished_families = BTreeSet::new();
    let mut current: Option<String> = None;
    for (n, line) in text.lines().enumerate() {
        let at = |e: String| format!("line {}: {e}: {line:?}", n + 1);
        if line.trim().is_empty() {
            continue;
        }
        let family = if let Some(comment) = line.strip_prefix('#') {
            let mut parts = comment.trim_start().splitn(3, ' ');
            let keyword = parts.next().unwrap_or_default();
            if keyword != "HELP" && keyword != "TYPE" {
                continue;
            }
            let name = parts
                .next()
                .ok_or_else(|| at("no metric name".into()))?
                .to_owned();
            let text = parts.next().unwrap_or_default().to_owned();
            if !is_metric_name(&name) {
                return Err(at("bad metric name".into()));
            }
            if keyword == "TYPE" {
                if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&text.as_str())
                {
                    return Err(at(format!("unknown type {text:?}")));
                }
                if exp
                    .samples
                    .iter()
                    .any(|s| family_of(&exp.types, &s.name) == name)
                {
                    return Err(at("TYPE after samples of its family".into()));
                }
                if exp.types.insert(name.clone(), text).is_some() {
                    return Err(at("second TYPE line".into()));
                }
            } else if exp.help.insert(name.clone(), text).is_some() {
                return Err(at("second HELP line".into()));
            }
            name
        } else {
            let sample = parse_sample(line).map_err(at)?;
            let family = family_of(&exp.types, &sample.name);
            if !exp.types.contains_key(&family) {
                return Err(at("sample without a TYPE line".into()));
            }
            if !seen_series.insert((sample.name.clone(), sample.labels.clone())) {
                return Err(at("series repeated".into()));
            }
            exp.samples.push(sample);
            family
        };
        if current.as_ref() != Some(&family) {
            if let Some(done) = current.replace(family.clone()) {
                finished_families.insert(done);
            }
            if finished_families.contains(&family) {
                return Err(at(format!("family {family} split into several groups")));
            }
        }
    }
    Ok(exp)
}

/// The family a sample belongs to: `x_bucket`, `x_sum`, `x_count` of a histogram `x` are `x`.
fn family_of(types: &HashMap<String, String>, name: &str) -> String {
    if types.contains_key(name) {
        return name.to_owned();
    }
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(base) = name.strip_suffix(suffix)
            && types
                .get(base)
                .is_some_and(|t| t == "histogram" || t == "summary")
        {
            return base.to_owned();
        }
    }
    name.to_owned()
}

impl Exposition {
    fn series<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Sample> + 'a {
        self.samples.iter().filter(move |s| s.name == name)
    }

    /// Sum of the series of `name` carrying all of `labels` (0 when there are none).
    fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.series(name)
            .filter(|s| {
                labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).is_some_and(|x| x == v))
            })
            .map(|s| s.value)
            .sum()
    }

    fn label_values(&self, name: &str, label: &str) -> BTreeSet<String> {
        self.series(name)
            .filter_map(|s| s.labels.get(label).cloned())
            .collect()
    }
}

async fn metrics_text(app: &TestApp) -> String {
    let resp = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("GET /metrics");
    assert_eq!(resp.status(), 200, "GET /metrics");
    resp.text().await.expect("/metrics body")
}

async fn scrape(app: &TestApp) -> Exposition {
    let text = metrics_text(app).await;
    parse_exposition(&text)
        .unwrap_or_else(|e| panic!("/metrics is not valid exposition text: {e}\n{text}"))
}

/// Scrapes until `ready` holds (counters that move just after the response, such as
/// frames_written, which the writer counts after answering), at most 10 s; returns the last.
async fn scrape_until(app: &TestApp, ready: impl Fn(&Exposition) -> bool) -> Exposition {
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let exp = scrape(app).await;
        if ready(&exp) || Instant::now() > until {
            return exp;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// What src/metrics.rs declares, read from its source so a new metric is covered the day it lands.

#[derive(Debug)]
struct Declared {
    ident: String,
    name: String,
    kind: String,
}

fn declared_metrics() -> Vec<Declared> {
    let src = read_repo_file("src/metrics.rs");
    let mut consts = Vec::new();
    for line in src.lines() {
        let Some(rest) = line.trim().strip_prefix("pub const ") else {
            continue;
        };
        let Some((ident, value)) = rest.split_once(": &str = ") else {
            continue;
        };
        let name = value.trim().trim_end_matches(';').trim_matches('"');
        consts.push((ident.trim().to_owned(), name.to_owned()));
    }
    assert!(
        consts.len() >= 19,
        "could not read the metric names from src/metrics.rs: {consts:?}"
    );
    let mut kinds = HashMap::new();
    for kind in ["counter", "gauge", "histogram"] {
        let macro_call = format!("describe_{kind}!(");
        for (at, _) in src.match_indices(&macro_call) {
            let ident: String = src[at + macro_call.len()..]
                .trim_start()
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            assert!(
                kinds.insert(ident.clone(), kind.to_owned()).is_none(),
                "{ident} described twice"
            );
        }
    }
    consts
        .into_iter()
        .map(|(ident, name)| {
            let kind = kinds.remove(&ident).unwrap_or_else(|| {
                panic!("src/metrics.rs declares {ident} but never describes it")
            });
            Declared { ident, name, kind }
        })
        .collect()
}

/// A `const NAME: &[f64] = &[…];` bucket list of src/metrics.rs.
fn declared_buckets(ident: &str) -> Vec<f64> {
    let src = read_repo_file("src/metrics.rs");
    let start = src
        .find(&format!("const {ident}: &[f64]"))
        .unwrap_or_else(|| panic!("src/metrics.rs has no {ident}"));
    let list = &src[start..];
    let list = &list[list.find('=').unwrap()..];
    let list = &list[list.find("&[").unwrap() + 2..];
    let list = &list[..list.find(']').unwrap()];
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse()
                .unwrap_or_else(|_| panic!("{ident}: bad bucket {s:?}"))
        })
        .collect()
}

/// The bucket list `install()` gives each histogram.
fn buckets_for(name: &str) -> Vec<f64> {
    if name == m::BATCH_SIZE_FRAMES {
        declared_buckets("BATCH_FRAMES_BUCKETS")
    } else if name == m::BATCH_SIZE_BYTES {
        declared_buckets("BATCH_BYTES_BUCKETS")
    } else {
        assert!(name.ends_with("_seconds"), "{name}: which buckets?");
        declared_buckets("LATENCY_BUCKETS")
    }
}

/// The standard process metrics (metrics-process), refreshed on each scrape.
const PROCESS_METRICS: &[(&str, &str)] = &[
    ("process_cpu_seconds_total", "counter"),
    ("process_resident_memory_bytes", "gauge"),
    ("process_virtual_memory_bytes", "gauge"),
    ("process_virtual_memory_max_bytes", "gauge"),
    ("process_open_fds", "gauge"),
    ("process_max_fds", "gauge"),
    ("process_start_time_seconds", "gauge"),
    ("process_threads", "gauge"),
];

/// The only labels the service may use (no match, user or session ids: unbounded cardinality).
const ALLOWED_LABELS: &[&str] = &[
    "method", "route", "status", "reason", "kind", "version", "le",
];

// ---------------------------------------------------------------------------------------------
// Traffic.

fn frames(m: &mut MatchGenerator, range: std::ops::Range<u32>) -> Vec<LobbySessionStateFrame> {
    range.map(|i| m.frame(i)).collect()
}

fn with_json(frame: &LobbySessionStateFrame, edit: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
    let mut v: serde_json::Value = serde_json::from_slice(&synth::to_json(frame)).unwrap();
    edit(&mut v);
    serde_json::to_vec(&v).unwrap()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// Some of everything: accepted frames, a duplicate, refusals, a read, probes, an unknown route.
async fn mixed_traffic(app: &TestApp, frames: &[LobbySessionStateFrame]) {
    let mut match_id = String::new();
    for frame in frames {
        match_id = app.store(frame, "n1").await;
    }
    app.store(&frames[0], "n1").await;
    let unknown = with_json(&frames[0], |v| v["notAField"] = 1.into());
    assert_eq!(app.post_json(unknown, Some("n1")).await.status(), 200);
    assert_eq!(
        app.post_json(b"{\"frameIndex\": ".to_vec(), Some("n1"))
            .await
            .status(),
        400
    );
    let bad_id = with_json(&frames[0], |v| {
        v["session"]["sessionid"] = "not-a-uuid".into()
    });
    assert_eq!(app.post_json(bad_id, Some("n1")).await.status(), 400);
    assert!(app.events(&match_id).await.len() >= frames.len());
    assert_eq!(app.get("/health").await.0, 200);
    assert_eq!(app.get("/readyz").await.0, 200);
    assert_eq!(app.get("/no/such/route").await.0, 404);
}

// ---------------------------------------------------------------------------------------------
// 1. The exposition.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_is_valid_exposition_text_with_every_declared_metric() {
    let _serial = LOCK.lock().await;
    let app = spawn_app_with(Backend::Embedded, |_| {}).await;
    let mut m = new_match(31);
    mixed_traffic(&app, &frames(&mut m, 0..4)).await;

    let resp = app.http.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let content_type = resp.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(
        content_type.starts_with("text/plain") && content_type.contains("version=0.0.4"),
        "content type {content_type}"
    );
    let text = resp.text().await.unwrap();

    // promtool's linter: valid syntax, HELP on every family, naming conventions.
    let out = prometheus::promtool(&["check", "metrics"], Some(text.as_bytes()));
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{}{}\n--- /metrics ---\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    let exp = parse_exposition(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let declared = declared_metrics();
    let mut problems = Vec::new();
    for d in &declared {
        let name = d.name.as_str();
        if !name.starts_with("session_events_") {
            problems.push(format!(
                "{}: {name} lacks the session_events_ prefix",
                d.ident
            ));
        }
        if (d.kind == "counter") != name.ends_with("_total") {
            problems.push(format!(
                "{}: {name} is a {} (only counters end in _total)",
                d.ident, d.kind
            ));
        }
        match exp.types.get(name) {
            Some(t) if *t == d.kind => {}
            other => problems.push(format!("{name}: TYPE {other:?}, declared a {}", d.kind)),
        }
        if exp.help.get(name).is_none_or(|h| h.trim().is_empty()) {
            problems.push(format!("{name}: no HELP text"));
        }
        if d.kind != "histogram" {
            if exp.series(name).next().is_none() {
                problems.push(format!("{name}: no samples"));
            }
            continue;
        }
        // A real histogram: per label set, the declared buckets in order, cumulative, ending
        // in +Inf equal to _count, plus _sum.
        let bucket_name = format!("{name}_bucket");
        let mut sets: BTreeMap<BTreeMap<String, String>, Vec<(f64, f64)>> = BTreeMap::new();
        for s in exp.series(&bucket_name) {
            let mut labels = s.labels.clone();
            let Some(le) = labels.remove("le") else {
                problems.push(format!("{bucket_name} without le: {:?}", s.labels));
                continue;
            };
            let le = parse_value(&le).unwrap_or(f64::NAN);
            sets.entry(labels).or_default().push((le, s.value));
        }
        if sets.is_empty() {
            problems.push(format!("{name}: no _bucket series"));
        }
        let mut want_les = buckets_for(name);
        want_les.push(f64::INFINITY);
        for (labels, buckets) in &sets {
            let les: Vec<f64> = buckets.iter().map(|b| b.0).collect();
            if les != want_les {
                problems.push(format!(
                    "{name}{labels:?}: buckets {les:?}, declared {want_les:?}"
                ));
            }
            if buckets.windows(2).any(|w| w[1].1 < w[0].1) {
                problems.push(format!(
                    "{name}{labels:?}: bucket counts not cumulative: {buckets:?}"
                ));
            }
            let pairs: Vec<(&str, &str)> = labels
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let count_name = format!("{name}_count");
            let count: Vec<_> = exp
                .series(&count_name)
                .filter(|s| &s.labels == labels)
                .collect();
            let sum = exp
                .series(&format!("{name}_sum"))
                .filter(|s| &s.labels == labels)
                .count();
            let inf = buckets.iter().find(|b| b.0 == f64::INFINITY).map(|b| b.1);
            match (count.as_slice(), sum, inf) {
                ([c], 1, Some(inf)) if c.value == inf => {}
                _ => problems.push(format!(
                    "{name}{pairs:?}: _count {count:?}, {sum} _sum series, le=\"+Inf\" bucket {inf:?}"
                )),
            }
        }
    }
    // Nothing of ours is exported that src/metrics.rs does not declare.
    let declared_names: BTreeSet<&str> = declared.iter().map(|d| d.name.as_str()).collect();
    for family in exp
        .types
        .keys()
        .filter(|f| f.starts_with("session_events_"))
    {
        if !declared_names.contains(family.as_str()) {
            problems.push(format!(
                "{family} is exported but not declared in src/metrics.rs"
            ));
        }
    }
    for (name, kind) in PROCESS_METRICS {
        if exp.types.get(*name).map(String::as_str) != Some(*kind)
            || exp.series(name).next().is_none()
        {
            problems.push(format!(
                "process metric {name} ({kind}) missing: TYPE {:?}",
                exp.types.get(*name)
            ));
        }
    }
    for s in exp
        .samples
        .iter()
        .filter(|s| s.name.starts_with("session_events_"))
    {
        for label in s.labels.keys() {
            if !ALLOWED_LABELS.contains(&label.as_str()) {
                problems.push(format!(
                    "{} has label {label} (allowed: {ALLOWED_LABELS:?})",
                    s.name
                ));
            }
        }
        if s.labels.values().any(|v| v.contains("no/such")) {
            problems.push(format!("an unknown path became a label value: {s:?}"));
        }
    }
    assert!(
        problems.is_empty(),
        "problems:\n  {}\n--- /metrics ---\n{text}",
        problems.join("\n  ")
    );

    // Labelled counters exist from start-up, at 0 where nothing happened yet.
    assert_eq!(
        exp.label_values(m::FRAMES_REJECTED, "reason"),
        m::REJECT_REASONS.iter().map(|r| r.to_string()).collect()
    );
    assert_eq!(
        exp.label_values(m::STORE_WRITE_ERRORS, "kind"),
        m::STORE_ERROR_KINDS.iter().map(|r| r.to_string()).collect()
    );
    assert_eq!(
        exp.sum(m::BUILD_INFO, &[("version", env!("CARGO_PKG_VERSION"))]),
        1.0
    );
    assert!(
        exp.sum("process_resident_memory_bytes", &[]) > 1e6,
        "RSS is real"
    );
    assert!(exp.sum("process_open_fds", &[]) >= 3.0, "fds are counted");
    app.stop().await;
}

#[test]
fn the_exposition_parser_refuses_what_prometheus_refuses() {
    let ok = "# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"1\",y=\"q\\\"\"} 3\n\n\
              # TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 0.5\nh_count 2\n";
    let exp = parse_exposition(ok).unwrap();
    assert_eq!(exp.sum("a_total", &[("y", "q\"")]), 3.0);
    assert_eq!(exp.sum("h_count", &[]), 2.0);
    for bad in [
        "a_total 1\n",                                                         // no TYPE
        "# TYPE a counter\na 1\na 2\n",                                        // same series twice
        "# TYPE a counter\na{x=1} 1\n", // unquoted label value
        "# TYPE a counter\na one\n",    // bad value
        "# TYPE a counter\n# TYPE a gauge\na 1\n", // two TYPEs
        "# TYPE a counter\na{x=\"1\"} 1\n# TYPE b gauge\nb 1\na{x=\"2\"} 1\n", // split group
        "# TYPE 1a counter\n",          // bad name
    ] {
        assert!(parse_exposition(bad).is_err(), "accepted {bad:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// 2. Counters move by exactly what happened.

struct Deltas<'a> {
    before: &'a Exposition,
    after: &'a Exposition,
}

impl Deltas<'_> {
    fn of(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.after.sum(name, labels) - self.before.sum(name, labels)
    }

    /// Every `reason` whose counter moved, with how much.
    fn rejections(&self) -> BTreeMap<String, f64> {
        self.after
            .label_values(m::FRAMES_REJECTED, "reason")
            .into_iter()
            .map(|r| {
                let d = self.of(m::FRAMES_REJECTED, &[("reason", &r)]);
                (r, d)
            })
            .filter(|(_, d)| *d != 0.0)
            .collect()
    }
}

/// POSTs a body that must be refused with `status` and counted once under `reason`, and
/// nowhere else.
async fn assert_refused(
    app: &TestApp,
    what: &str,
    req: reqwest::RequestBuilder,
    status: u16,
    reason: &str,
) {
    let before = scrape(app).await;
    let resp = req.send().await.expect("POST reached the service");
    let got = resp.status().as_u16();
    let body = resp.text().await.unwrap();
    assert_eq!(got, status, "{what}: {body}");
    let after = scrape(app).await;
    let d = Deltas {
        before: &before,
        after: &after,
    };
    assert_eq!(
        d.rejections(),
        BTreeMap::from([(reason.to_owned(), 1.0)]),
        "{what}: frames_rejected_total moved like this"
    );
    assert_eq!(d.of(m::FRAMES_RECEIVED, &[]), 0.0, "{what}: not received");
    assert_eq!(
        d.of(
            m::HTTP_REQUESTS,
            &[
                ("method", "POST"),
                ("route", "/session-events"),
                ("status", &status.to_string())
            ]
        ),
        1.0,
        "{what}"
    );
}

async fn ingest_counters(backend: Backend) {
    const MAX_BODY: usize = 64 * 1024;
    let app = spawn_app_with(backend, |c| c.max_body_bytes = MAX_BODY).await;
    let mut m = new_match(32);
    let frames = frames(&mut m, 0..7);
    let n = frames.len() as f64;
    let post = "/session-events";

    // N accepted frames.
    let before = scrape(&app).await;
    let mut match_id = String::new();
    for frame in &frames {
        match_id = app.store(frame, "n1").await;
    }
    let after = scrape_until(&app, |e| {
        e.sum(m::FRAMES_WRITTEN, &[]) - before.sum(m::FRAMES_WRITTEN, &[]) >= n
    })
    .await;
    let d = Deltas {
        before: &before,
        after: &after,
    };
    assert_eq!(
        d.of(m::FRAMES_WRITTEN, &[]),
        n,
        "{backend:?}: frames_written"
    );
    assert_eq!(
        d.of(m::FRAMES_RECEIVED, &[]),
        n,
        "{backend:?}: frames_received"
    );
    assert_eq!(
        d.of(m::FRAMES_DUPLICATE, &[]),
        0.0,
        "{backend:?}: no duplicates"
    );
    assert_eq!(
        d.rejections(),
        BTreeMap::new(),
        "{backend:?}: nothing rejected"
    );
    assert_eq!(
        d.of(m::STORE_WRITE_ERRORS, &[]),
        0.0,
        "{backend:?}: no write errors"
    );
    assert_eq!(
        d.of(&format!("{}_count", m::ACK_LATENCY), &[]),
        n,
        "{backend:?}: one ack latency per frame"
    );
    assert_eq!(
        d.of(&format!("{}_sum", m::BATCH_SIZE_FRAMES), &[]),
        n,
        "{backend:?}: batches hold the frames"
    );
    let batches = d.of(&format!("{}_count", m::BATCH_SIZE_FRAMES), &[]);
    assert!(
        (1.0..=n).contains(&batches),
        "{backend:?}: {batches} batches"
    );
    assert_eq!(
        d.of(&format!("{}_count", m::STORE_WRITE_DURATION), &[]),
        batches,
        "{backend:?}: one write per batch"
    );
    assert!(
        d.of(&format!("{}_sum", m::BATCH_SIZE_BYTES), &[]) > n * 1000.0,
        "{backend:?}: batch bytes"
    );
    let posts = [("method", "POST"), ("route", post)];
    assert_eq!(
        d.of(m::HTTP_REQUESTS, &[posts[0], posts[1], ("status", "200")]),
        n,
        "{backend:?}"
    );
    assert_eq!(
        d.of(&format!("{}_count", m::HTTP_REQUEST_DURATION), &posts),
        n,
        "{backend:?}"
    );
    assert_eq!(
        after.sum(m::QUEUE_DEPTH, &[]),
        0.0,
        "{backend:?}: queue drained"
    );
    assert_eq!(
        after.sum(m::QUEUE_BYTES, &[]),
        0.0,
        "{backend:?}: queue drained"
    );

    // A duplicate is written (acknowledged) and counted as such.
    let before = after;
    app.store(&frames[0], "n1").await;
    let after = scrape_until(&app, |e| {
        e.sum(m::FRAMES_WRITTEN, &[]) > before.sum(m::FRAMES_WRITTEN, &[])
    })
    .await;
    let d = Deltas {
        before: &before,
        after: &after,
    };
    assert_eq!(
        (
            d.of(m::FRAMES_WRITTEN, &[]),
            d.of(m::FRAMES_DUPLICATE, &[]),
            d.of(m::FRAMES_RECEIVED, &[])
        ),
        (1.0, 1.0, 1.0),
        "{backend:?}: written, duplicate, received"
    );

    // Unknown JSON fields are counted, one per field.
    let before = after;
    let body = with_json(&frames[1], |v| {
        v["notAField"] = 1.into();
        v["session"]["norThis"] = "x".into();
    });
    assert_eq!(app.post_json(body, Some("n2")).await.status(), 200);
    let after = scrape(&app).await;
    assert_eq!(
        Deltas {
            before: &before,
            after: &after
        }
        .of(m::FRAMES_UNKNOWN_FIELDS, &[]),
        2.0,
        "{backend:?}"
    );

    // Refusals, each counted once under its reason.
    let req = |body: Vec<u8>, content_type: &str, node: &str| {
        app.http
            .post(app.url(post))
            .header("content-type", content_type)
            .header("x-node-id", node)
            .body(body)
    };
    let json = "application/json";
    assert_refused(
        &app,
        "truncated JSON",
        req(b"{\"frameIndex\": ".to_vec(), json, "n1"),
        400,
        "bad_json",
    )
    .await;
    let bad_uuid = with_json(&frames[0], |v| {
        v["session"]["sessionid"] = "not-a-uuid".into()
    });
    assert_refused(
        &app,
        "bad session id",
        req(bad_uuid, json, "n1"),
        400,
        "bad_id",
    )
    .await;
    let good = synth::to_json(&frames[0]);
    assert_refused(
        &app,
        "bad node id",
        req(good.clone(), json, "a/b"),
        400,
        "bad_id",
    )
    .await;
    let huge = vec![b' '; MAX_BODY + 1];
    assert_refused(
        &app,
        "body over the limit (Content-Length)",
        req(huge.clone(), json, "n1"),
        413,
        "too_large",
    )
    .await;
    let bomb = gzip(&[good.as_slice(), &huge].concat());
    assert!(bomb.len() < MAX_BODY);
    let bomb = req(bomb, json, "n1").header("content-encoding", "gzip");
    assert_refused(
        &app,
        "gzip body inflating over the limit",
        bomb,
        413,
        "too_large",
    )
    .await;
    assert_refused(
        &app,
        "unsupported media type",
        req(good, "text/plain", "n1"),
        415,
        "unsupported_media_type",
    )
    .await;

    // Reads and probes: per-route request counts and the store read latency.
    let before = scrape(&app).await;
    assert_eq!(app.events(&match_id).await.len(), frames.len());
    assert_eq!(app.get("/health").await.0, 200);
    assert_eq!(app.get("/no/such/route").await.0, 404);
    let after = scrape(&app).await;
    let d = Deltas {
        before: &before,
        after: &after,
    };
    assert_eq!(
        d.of(&format!("{}_count", m::STORE_READ_DURATION), &[]),
        1.0,
        "{backend:?}: one read"
    );
    let read = [
        ("method", "GET"),
        ("route", "/session-events/{match_id}"),
        ("status", "200"),
    ];
    assert_eq!(
        d.of(m::HTTP_REQUESTS, &read),
        1.0,
        "{backend:?}: the read, under its route template"
    );
    assert_eq!(
        d.of(
            m::HTTP_REQUESTS,
            &[("method", "GET"), ("route", "/health"), ("status", "200")]
        ),
        1.0
    );
    assert_eq!(
        d.of(m::HTTP_REQUESTS, &[("method", "GET"), ("status", "404")]),
        1.0,
        "{backend:?}: the unknown route"
    );
    assert!(
        after.samples.iter().all(|s| s
            .labels
            .values()
            .all(|v| !v.contains(&match_id) && !v.contains("no/such"))),
        "{backend:?}: no path or id became a label value"
    );
    app.stop().await;
}

fn private_config(db: &MongoServer, tweak: impl FnOnce(&mut Config)) -> Config {
    let mut config = test_config();
    config.mongo_uri = Some(db.uri());
    config.database_name = unique_name("se_metrics");
    tweak(&mut config);
    config
}

/// A paused store fills the queue: refusals are counted as queue_full, one per 503, and the
/// queue gauges show the backlog.
async fn queue_full_counters() {
    let db = MongoServer::start();
    let app = spawn_config(private_config(&db, |c| {
        c.queue_capacity = 1;
        c.writers = Some(1);
        c.batch_max_docs = 1;
        c.server_timeout = Duration::from_secs(60);
        c.mongo_timeout = Duration::from_secs(60);
    }))
    .await;
    let mut m = new_match(33);
    let frames = frames(&mut m, 0..9);
    app.store(&frames[0], "n1").await;
    let before = scrape(&app).await;
    assert_eq!(before.sum(m::QUEUE_CAPACITY, &[]), 1.0, "queue_capacity");

    db.pause();
    let tasks: Vec<_> = frames[1..]
        .iter()
        .map(|frame| {
            let req = app
                .http
                .post(app.url("/session-events"))
                .header("content-type", "application/json")
                .body(synth::to_json(frame));
            tokio::spawn(async move { req.send().await.unwrap().status().as_u16() })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let refused_so_far = tasks.iter().filter(|t| t.is_finished()).count() as f64;
    let during = scrape(&app).await;
    assert_eq!(
        during.sum(m::QUEUE_DEPTH, &[]),
        1.0,
        "one frame waits in the queue (one more is being written)"
    );
    assert!(
        during.sum(m::QUEUE_BYTES, &[]) > 1000.0,
        "queue_bytes counts the waiting frame"
    );
    db.resume();

    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    let refused = statuses.iter().filter(|s| **s == 503).count() as f64;
    let accepted = statuses.iter().filter(|s| **s == 200).count() as f64;
    assert_eq!(
        refused + accepted,
        statuses.len() as f64,
        "only 200 and 503: {statuses:?}"
    );
    assert!(refused >= 1.0, "the queue filled: {statuses:?}");
    assert_eq!(
        refused_so_far, refused,
        "only refusals came back while the store was paused"
    );
    let mid = Deltas {
        before: &before,
        after: &during,
    };
    assert_eq!(
        mid.rejections(),
        BTreeMap::from([("queue_full".to_owned(), refused)]),
        "counted as they were refused"
    );

    let after = scrape_until(&app, |e| {
        e.sum(m::FRAMES_WRITTEN, &[]) - before.sum(m::FRAMES_WRITTEN, &[]) >= accepted
    })
    .await;
    let d = Deltas {
        before: &before,
        after: &after,
    };
    assert_eq!(
        d.rejections(),
        BTreeMap::from([("queue_full".to_owned(), refused)]),
        "one queue_full per 503"
    );
    assert_eq!(
        d.of(m::FRAMES_WRITTEN, &[]),
        accepted,
        "one written per 200"
    );
    assert_eq!(
        d.of(m::FRAMES_RECEIVED, &[]),
        accepted + refused,
        "every valid frame was received"
    );
    assert_eq!(d.of(m::HTTP_REQUESTS, &[("status", "503")]), refused);
    assert_eq!(after.sum(m::QUEUE_DEPTH, &[]), 0.0, "drained after resume");
    assert_eq!(after.sum(m::QUEUE_BYTES, &[]), 0.0, "drained after resume");
    app.stop().await;
}

/// A dead store: failed attempts are counted by kind, and the refused request once.
async fn store_error_counters() {
    let mut db = MongoServer::start();
    let app = spawn_config(private_config(&db, |c| {
        c.server_timeout = Duration::from_secs(3);
        c.mongo_timeout = Duration::from_secs(1);
    }))
    .await;
    let mut m = new_match(34);
    app.store(&m.frame(0), "n1").await;
    let before = scrape(&app).await;

    db.kill();
    let resp = app.post_json(synth::to_json(&m.frame(1)), Some("n1")).await;
    let status = resp.status().as_u16();
    assert!(
        matches!(status, 503 | 504),
        "store down → 503/504, got {status}"
    );
    // The writer gives the frame up at its deadline, which is when the handler answers.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let after = scrape(&app).await;
    let d = Deltas {
        before: &before,
        after: &after,
    };
    let errors: BTreeMap<String, f64> = m::STORE_ERROR_KINDS
        .iter()
        .map(|k| (k.to_string(), d.of(m::STORE_WRITE_ERRORS, &[("kind", k)])))
        .filter(|(_, v)| *v > 0.0)
        .collect();
    assert!(
        !errors.is_empty(),
        "failed write attempts are counted by kind"
    );
    assert_eq!(
        errors.get("document"),
        None,
        "the batch failed, not a document: {errors:?}"
    );
    assert_eq!(
        after.label_values(m::STORE_WRITE_ERRORS, "kind"),
        m::STORE_ERROR_KINDS.iter().map(|k| k.to_string()).collect(),
        "only the declared kinds"
    );
    assert_eq!(d.of(m::FRAMES_WRITTEN, &[]), 0.0);
    let rejected: f64 = d.rejections().values().sum();
    assert_eq!(
        rejected,
        1.0,
        "one refused request is one rejection: {:?} (status {status}, write errors {errors:?})",
        d.rejections()
    );
    drop(app);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counters_move_by_exactly_what_happened() {
    let _serial = LOCK.lock().await;
    ingest_counters(Backend::Embedded).await;
    ingest_counters(Backend::Mongo).await;
    queue_full_counters().await;
    store_error_counters().await;
}

// ---------------------------------------------------------------------------------------------
// 3. A real Prometheus and the dashboard.

fn dashboard() -> serde_json::Value {
    let text = read_repo_file("grafana/dashboards/session-events.json");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("the dashboard is not JSON: {e}"))
}

fn all_panels(panels: &serde_json::Value, out: &mut Vec<serde_json::Value>) {
    for p in panels.as_array().into_iter().flatten() {
        out.push(p.clone());
        all_panels(&p["panels"], out);
    }
}

/// (panel title, refId, expr) of every target of every panel, rows included.
fn dashboard_queries(dash: &serde_json::Value) -> Vec<(String, String, String)> {
    let mut panels = Vec::new();
    all_panels(&dash["panels"], &mut panels);
    let mut out = Vec::new();
    for p in &panels {
        for t in p["targets"].as_array().into_iter().flatten() {
            out.push((
                p["title"].as_str().unwrap_or_default().to_owned(),
                t["refId"].as_str().unwrap_or_default().to_owned(),
                t["expr"].as_str().unwrap_or_default().to_owned(),
            ));
        }
    }
    out
}

/// Grafana's variables, as a dashboard user looking at every instance sees them.
fn substitute(expr: &str) -> String {
    expr.replace("$__rate_interval", "1m")
        .replace("${__rate_interval}", "1m")
        .replace("$__interval", "15s")
        .replace("${__interval}", "15s")
        .replace("${instance}", ".*")
        .replace("$instance", ".*")
}

/// The left operand of a top-level `or` (the series the panel is about, before its fallback).
fn primary_arm(expr: &str) -> Option<&str> {
    let (mut depth, mut quoted) = (0i32, false);
    let bytes = expr.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'"' if i == 0 || bytes[i - 1] != b'\\' => quoted = !quoted,
            b'(' | b'{' | b'[' if !quoted => depth += 1,
            b')' | b'}' | b']' if !quoted => depth -= 1,
            b' ' if !quoted && depth == 0 && expr[i..].starts_with(" or ") => {
                return Some(expr[..i].trim());
            }
            _ => {}
        }
    }
    None
}

/// Every value of an instant query's result, or why there is none.
fn result_values(body: &serde_json::Value) -> Result<Vec<String>, String> {
    if body["status"] != "success" {
        return Err(format!("status {}: {}", body["status"], body["error"]));
    }
    let data = &body["data"];
    match data["resultType"].as_str() {
        Some("vector") => {
            let result = data["result"].as_array().cloned().unwrap_or_default();
            if result.is_empty() {
                return Err("empty result".into());
            }
            Ok(result
                .iter()
                .map(|s| s["value"][1].as_str().unwrap_or_default().to_owned())
                .collect())
        }
        Some("scalar") => Ok(vec![
            data["result"][1].as_str().unwrap_or_default().to_owned(),
        ]),
        other => Err(format!("unexpected result type {other:?}: {data}")),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_dashboard_query_returns_data_from_a_real_prometheus() {
    let queries = dashboard_queries(&dashboard());
    assert!(
        queries.len() >= 20,
        "the dashboard has {} queries",
        queries.len()
    );
    let _serial = LOCK.lock().await;
    let app = spawn_app_with(Backend::Embedded, |_| {}).await;
    let prom = Prometheus::start(&[app.addr]).await;
    prom.wait_up(1, Duration::from_secs(30)).await;

    // A few scrapes' worth of everything the panels show.
    let mut m = new_match(35);
    let traffic_until = Instant::now() + Duration::from_secs(6);
    let mut i = 0;
    while Instant::now() < traffic_until {
        let batch = frames(&mut m, i..i + 5);
        mixed_traffic(&app, &batch).await;
        i += 5;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Two more scrapes, so the last of it is in.
    tokio::time::sleep(Duration::from_millis(2500)).await;

    // The `instance` variable's query: label_values(session_events_build_info, instance).
    let instances = prom
        .api(&format!(
            "/api/v1/label/instance/values?match[]={}",
            prometheus::encode(m::BUILD_INFO)
        ))
        .await;
    assert!(
        instances["data"]
            .as_array()
            .is_some_and(|a| a.iter().any(|v| v == app.addr.to_string().as_str())),
        "label_values(session_events_build_info, instance) lacks {}: {instances}",
        app.addr
    );

    let mut failures = Vec::new();
    let mut report = Vec::new();
    for (title, ref_id, raw) in &queries {
        let expr = substitute(raw);
        if expr.contains('$') {
            failures.push(format!(
                "{title} [{ref_id}]: unknown variable left in {expr}"
            ));
            continue;
        }
        match result_values(&prom.query(&expr).await) {
            Err(why) => failures.push(format!("{title} [{ref_id}]: {why}: {expr}")),
            Ok(values) => {
                if values
                    .iter()
                    .any(|v| v.parse::<f64>().is_ok_and(f64::is_nan))
                {
                    failures.push(format!(
                        "{title} [{ref_id}]: NaN (no observations in the window): {expr}"
                    ));
                }
                report.push(format!("{title} [{ref_id}] = {values:?}"));
            }
        }
        // A fallback (`or vector(0)`) must not hide a series that never appears.
        if let Some(primary) = primary_arm(&expr)
            && let Err(why) = result_values(&prom.query(primary).await)
        {
            failures.push(format!(
                "{title} [{ref_id}]: without its fallback: {why}: {primary}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "dashboard queries without data:\n  {}\n\nthe others:\n  {}",
        failures.join("\n  "),
        report.join("\n  ")
    );
    eprintln!("dashboard queries:\n  {}", report.join("\n  "));
    drop(prom);
    app.stop().await;
}

#[test]
fn the_scrape_configs_pass_promtool() {
    let shipped = repo_file("grafana/prometheus.yml");
    let out = prometheus::promtool(&["check", "config", shipped.to_str().unwrap()], None);
    assert!(
        out.status.success(),
        "promtool check config grafana/prometheus.yml:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = read_repo_file("grafana/prometheus.yml");
    assert!(
        text.contains("job_name: session-events"),
        "the dashboard selects job=\"session-events\""
    );

    // The config the tests run Prometheus with is valid too.
    let dir = tempfile::tempdir().unwrap();
    let generated = dir.path().join("prometheus.yml");
    std::fs::write(
        &generated,
        prometheus::scrape_config(&["127.0.0.1:8080".parse().unwrap()]),
    )
    .unwrap();
    let out = prometheus::promtool(&["check", "config", generated.to_str().unwrap()], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_dashboard_is_well_formed() {
    let dash = dashboard();
    let mut problems = Vec::new();
    if dash.get("__inputs").is_some() || dash.to_string().contains("${DS_") {
        problems.push(
            "uses import inputs (__inputs / ${DS_…}); provisioning cannot fill them".to_owned(),
        );
    }
    let variables = dash["templating"]["list"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let var = |name: &str| variables.iter().find(|v| v["name"] == name).cloned();
    match var("datasource") {
        Some(v) if v["type"] == "datasource" && v["query"] == "prometheus" => {}
        other => problems.push(format!(
            "no `datasource` variable of type datasource (query prometheus): {other:?}"
        )),
    }
    let want_ds = serde_json::json!({"type": "prometheus", "uid": "${datasource}"});
    if let Some(v) = var("instance")
        && v["datasource"] != want_ds
    {
        problems.push(format!("variable instance uses {}", v["datasource"]));
    }
    let mut panels = Vec::new();
    all_panels(&dash["panels"], &mut panels);
    let mut ids = BTreeMap::new();
    for p in &panels {
        let title = p["title"].as_str().unwrap_or_default();
        match p["id"].as_u64() {
            None => problems.push(format!("panel {title:?} has no id")),
            Some(id) => {
                if let Some(other) = ids.insert(id, title) {
                    problems.push(format!("panel id {id} used by {other:?} and {title:?}"));
                }
            }
        }
        if p["datasource"] != want_ds {
            problems.push(format!("panel {title:?}: datasource {}", p["datasource"]));
        }
        for t in p["targets"].as_array().into_iter().flatten() {
            if t["datasource"] != want_ds {
                problems.push(format!(
                    "panel {title:?} target {}: datasource {}",
                    t["refId"], t["datasource"]
                ));
            }
            if t["expr"].as_str().is_none_or(|e| e.trim().is_empty()) {
                problems.push(format!("panel {title:?} target {}: no expr", t["refId"]));
            }
        }
    }
    // Every metric a query names exists (histograms through _bucket/_sum/_count).
    let declared = declared_metrics();
    let mut known: BTreeSet<String> = BTreeSet::new();
    for d in &declared {
        known.insert(d.name.clone());
        if d.kind == "histogram" {
            for suffix in ["_bucket", "_sum", "_count"] {
                known.insert(format!("{}{suffix}", d.name));
            }
        }
    }
    for (title, ref_id, expr) in dashboard_queries(&dash) {
        for (at, _) in expr.match_indices("session_events_") {
            let name: String = expr[at..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !known.contains(&name) {
                problems.push(format!(
                    "{title} [{ref_id}] uses {name}, which the service does not export"
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "dashboard problems:\n  {}",
        problems.join("\n  ")
    );
}
