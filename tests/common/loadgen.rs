//! The project's load generator (`src/bin/loadgen`) run as a subprocess against a service, and
//! what it saw read back: its summary (with `--verify`: every acknowledged frame read back and
//! counted) and one line per request, timed against the run's clock so a test can line the
//! requests up with a fault it injected at a known moment.

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A load to run: `rate` frames/s for `duration` of ~12 KB JSON frames.
pub struct Load {
    pub rate: f64,
    pub duration: Duration,
    /// Streams are `matches` × `nodes`. Verification reads each stream's match back, and
    /// FerretDB scans the whole collection for each: few streams keep that bounded.
    pub matches: usize,
    pub nodes: usize,
    /// Per-request timeout of the generator: longer than the service's request deadline, so a
    /// service that answers by its deadline never shows up as a client timeout.
    pub timeout: Duration,
    pub verify: bool,
    /// `--transport`: `http` (one POST per frame), `ws` (a stream per match) or `batch`.
    pub transport: &'static str,
}

impl Load {
    pub fn new(rate: f64, duration: Duration) -> Self {
        Self {
            rate,
            duration,
            matches: 1,
            nodes: 2,
            timeout: Duration::from_secs(30),
            verify: true,
            transport: "http",
        }
    }

    /// `20/s x 12 s`, for reports.
    pub fn describe(&self) -> String {
        format!("{:.0}/s x {:.0} s", self.rate, self.duration.as_secs_f64())
    }

    pub fn start(&self, target: &str) -> LoadRun {
        let dir = tempfile::tempdir().unwrap();
        let out = |name: &str| std::fs::File::create(dir.path().join(name)).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_loadgen"));
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .arg("--target")
            .arg(target)
            .arg("--rate")
            .arg(self.rate.to_string())
            .arg("--duration")
            .arg(format!("{}ms", self.duration.as_millis()))
            .arg("--timeout")
            .arg(format!("{}ms", self.timeout.as_millis()))
            .arg("--matches")
            .arg(self.matches.to_string())
            .arg("--nodes")
            .arg(self.nodes.to_string())
            .arg("--transport")
            .arg(self.transport)
            .arg("--quiet")
            .arg("--summary-json")
            .arg(dir.path().join("summary.json"))
            .arg("--requests-csv")
            .arg(dir.path().join("requests.csv"))
            .stdin(Stdio::null())
            .stdout(out("stdout"))
            .stderr(out("stderr"));
        if self.verify {
            cmd.arg("--verify");
        }
        LoadRun {
            child: cmd.spawn().expect("starting loadgen"),
            // Verification reads every acknowledged frame back; FerretDB is slow at that.
            bound: self.duration + self.timeout + Duration::from_secs(90),
            dir,
        }
    }
}

pub struct LoadRun {
    child: Child,
    bound: Duration,
    dir: tempfile::TempDir,
}

impl LoadRun {
    fn output(&self) -> String {
        let read = |name: &str| std::fs::read_to_string(self.dir.path().join(name));
        format!(
            "loadgen stdout:\n{}\nloadgen stderr:\n{}",
            read("stdout").unwrap_or_default(),
            read("stderr").unwrap_or_default()
        )
    }

    /// Waits until the bodies are generated and the send clock has started.
    pub async fn wait_sending(&mut self) {
        let stderr = self.dir.path().join("stderr");
        let until = Instant::now() + Duration::from_secs(60);
        loop {
            if std::fs::read_to_string(&stderr).is_ok_and(|s| s.contains("; sending")) {
                return;
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "loadgen ended before sending ({status}):\n{}",
                    self.output()
                );
            }
            assert!(Instant::now() < until, "loadgen never started sending");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits for the run (and its verification) to end and reads what it recorded.
    pub async fn finish(mut self) -> LoadReport {
        let until = Instant::now() + self.bound;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > until {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "loadgen did not finish within {:?}:\n{}",
                    self.bound,
                    self.output()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let output = self.output();
        // Exit 1 is also a failed verification: the summary says what failed, and the caller
        // asserts on it.
        let summary = std::fs::read_to_string(self.dir.path().join("summary.json"))
            .unwrap_or_else(|e| panic!("loadgen wrote no summary ({status}, {e}):\n{output}"));
        let summary: serde_json::Value = serde_json::from_str(&summary).unwrap();
        let csv = std::fs::read_to_string(self.dir.path().join("requests.csv")).unwrap();
        LoadReport {
            start_unix_ms: summary["start_unix_ms"].as_f64().expect("start_unix_ms"),
            requests: csv.lines().skip(1).map(Request::parse).collect(),
            summary,
            output,
        }
    }
}

impl Drop for LoadRun {
    /// A test that fails mid-run leaves no generator sending behind it.
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// How one scheduled send ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Status(u16),
    /// No response (connect, timeout, request, body, other).
    Transport(String),
    /// Not sent: too many requests outstanding.
    Dropped,
}

/// One line of `--requests-csv`; times are offsets from the run's clock start.
#[derive(Debug, Clone)]
pub struct Request {
    pub scheduled: Duration,
    pub done: Duration,
    pub outcome: Outcome,
    pub retry_after: bool,
}

impl Request {
    fn parse(line: &str) -> Self {
        let f: Vec<&str> = line.split(',').collect();
        assert_eq!(f.len(), 6, "requests.csv line: {line}");
        let ms = |s: &str| Duration::from_secs_f64(s.parse::<f64>().unwrap() / 1000.0);
        Self {
            scheduled: ms(f[0]),
            done: ms(f[1]),
            outcome: match f[4] {
                "dropped" => Outcome::Dropped,
                s => s
                    .parse()
                    .map_or_else(|_| Outcome::Transport(s.to_owned()), Outcome::Status),
            },
            retry_after: f[5] == "1",
        }
    }

    pub fn acked(&self) -> bool {
        matches!(self.outcome, Outcome::Status(200 | 202))
    }

    pub fn latency(&self) -> Duration {
        self.done.saturating_sub(self.scheduled)
    }
}

pub struct LoadReport {
    pub summary: serde_json::Value,
    pub requests: Vec<Request>,
    start_unix_ms: f64,
    /// The generator's stdout and stderr, for failure messages.
    pub output: String,
}

impl LoadReport {
    /// A moment (taken with `SystemTime::now()` by the test) on the run's clock.
    pub fn offset(&self, at: SystemTime) -> Duration {
        let ms = at.duration_since(UNIX_EPOCH).unwrap().as_secs_f64() * 1000.0;
        Duration::from_secs_f64(((ms - self.start_unix_ms) / 1000.0).max(0.0))
    }

    fn count(&self, key: &str) -> u64 {
        self.summary[key]
            .as_u64()
            .unwrap_or_else(|| panic!("no {key} in the loadgen summary"))
    }

    pub fn sent(&self) -> u64 {
        self.count("sent")
    }

    pub fn acked(&self) -> u64 {
        self.count("acknowledged")
    }

    /// Non-2xx answers by status.
    pub fn by_status(&self) -> BTreeMap<u16, u64> {
        let mut out = BTreeMap::new();
        for r in &self.requests {
            if let Outcome::Status(code) = r.outcome
                && !r.acked()
            {
                *out.entry(code).or_default() += 1;
            }
        }
        out
    }

    /// Requests that got no answer, by kind.
    pub fn transport(&self) -> BTreeMap<String, u64> {
        let mut out = BTreeMap::new();
        for r in &self.requests {
            if let Outcome::Transport(kind) = &r.outcome {
                *out.entry(kind.clone()).or_default() += 1;
            }
        }
        out
    }

    /// `--verify`'s (missing, duplicates): acknowledged frames not stored, and stored twice.
    pub fn verified(&self) -> (u64, u64) {
        let v = &self.summary["verify"];
        assert!(
            v.is_object(),
            "loadgen ran without --verify:\n{}",
            self.output
        );
        assert!(
            v["error"].is_null(),
            "verification could not read the frames back: {}\n{}",
            v["error"],
            self.output
        );
        (
            v["missing"].as_u64().unwrap(),
            v["duplicates"].as_u64().unwrap(),
        )
    }

    /// Asserts every acknowledged frame is stored, exactly once.
    pub fn assert_nothing_lost_or_doubled(&self) {
        let (missing, duplicates) = self.verified();
        assert_eq!(
            (missing, duplicates),
            (0, 0),
            "acknowledged-but-missing and duplicate frames\n{}",
            self.output
        );
        assert_eq!(
            self.summary["verify"]["acknowledged"].as_u64(),
            Some(self.acked()),
            "verify checked every acknowledged frame"
        );
    }

    /// Asserts every answer that was not a 200 has one of `allowed` statuses.
    pub fn assert_statuses_within(&self, allowed: &[u16]) {
        let unexpected: BTreeMap<_, _> = self
            .by_status()
            .into_iter()
            .filter(|(code, _)| !allowed.contains(code))
            .collect();
        assert!(
            unexpected.is_empty(),
            "statuses other than 200 and {allowed:?}: {unexpected:?}\n{}",
            self.output
        );
    }

    /// Acknowledgements that arrived before `t` (run clock).
    pub fn acked_before(&self, t: Duration) -> usize {
        self.requests
            .iter()
            .filter(|r| r.acked() && r.done < t)
            .count()
    }

    /// Acknowledged requests that were sent at or after `t`.
    pub fn acked_sent_after(&self, t: Duration) -> usize {
        self.requests
            .iter()
            .filter(|r| r.acked() && r.scheduled >= t)
            .count()
    }

    /// Requests sent in `[from, to)` whose acknowledgement arrived before `to`.
    pub fn acked_within(&self, from: Duration, to: Duration) -> usize {
        self.requests
            .iter()
            .filter(|r| r.acked() && r.scheduled >= from && r.done < to)
            .count()
    }

    /// Requests sent in `[from, to)`.
    pub fn sent_within(&self, from: Duration, to: Duration) -> Vec<&Request> {
        self.requests
            .iter()
            .filter(|r| r.scheduled >= from && r.scheduled < to)
            .collect()
    }

    /// The slowest answer (status or transport error), from its scheduled send time.
    pub fn max_latency(&self) -> Duration {
        self.requests
            .iter()
            .filter(|r| r.outcome != Outcome::Dropped)
            .map(Request::latency)
            .max()
            .unwrap_or_default()
    }

    /// From `t` to the first acknowledgement after it.
    pub fn first_ack_after(&self, t: Duration) -> Option<Duration> {
        self.requests
            .iter()
            .filter(|r| r.acked() && r.done >= t)
            .map(|r| r.done - t)
            .min()
    }

    /// From `t` until every request sent from then on was acknowledged: zero if none sent after
    /// `t` failed.
    pub fn all_acked_after(&self, t: Duration) -> Duration {
        self.requests
            .iter()
            .filter(|r| !r.acked() && r.scheduled >= t)
            .map(|r| r.scheduled - t)
            .max()
            .unwrap_or_default()
    }

    /// How long clients saw failures: from the first to the last send not acknowledged.
    pub fn failing_for(&self) -> Duration {
        let failed = || {
            self.requests
                .iter()
                .filter(|r| !r.acked())
                .map(|r| r.scheduled)
        };
        match (failed().min(), failed().max()) {
            (Some(first), Some(last)) => last - first,
            _ => Duration::ZERO,
        }
    }

    /// Acknowledgements per second that arrived in `[from, to)`.
    pub fn ack_rate(&self, from: Duration, to: Duration) -> f64 {
        let n = self
            .requests
            .iter()
            .filter(|r| r.acked() && r.done >= from && r.done < to)
            .count();
        n as f64 / (to - from).as_secs_f64()
    }

    /// One line of figures for the test's output.
    pub fn line(&self) -> String {
        let (missing, duplicates) = self.verified();
        format!(
            "sent {} acked {} refused {:?} transport {:?} (failures over {:.2} s) missing {missing} duplicates {duplicates}",
            self.sent(),
            self.acked(),
            self.by_status(),
            self.transport(),
            self.failing_for().as_secs_f64()
        )
    }
}

impl LoadReport {
    /// What a load test's assertions judged, for their failure messages: the run's line, its
    /// slowest answer and the fault's moments on the run's clock.
    pub fn figures(&self, marks: &[(&str, Duration)]) -> String {
        let marks: Vec<String> = marks
            .iter()
            .map(|(name, t)| format!("{name} at {:.2} s", t.as_secs_f64()))
            .collect();
        format!(
            "{} | slowest answer {:.2} s | {}",
            self.line(),
            self.max_latency().as_secs_f64(),
            marks.join(", ")
        )
    }
}

/// Where a test's one-line figures go, so `--nocapture` runs can be collected into a table.
pub fn report(case: &str, started: Instant, figures: &str) {
    eprintln!(
        "LOAD-FAULT | {case} | {figures} | test took {:.1} s",
        started.elapsed().as_secs_f64()
    );
}
