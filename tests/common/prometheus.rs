//! A real Prometheus server for the metrics and dashboard tests: started on a free loopback
//! port with a generated scrape config and a temporary TSDB, queried through its HTTP API, and
//! stopped by its process id when dropped. Also finds `promtool` for config and exposition checks.

use super::free_port;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The scrape job the dashboard expects (`up{job="session-events"}`).
pub const JOB: &str = "session-events";

/// `$SESSION_EVENTS_PROMETHEUS_BIN`. Missing is a failure, never a skip.
pub fn prometheus_bin() -> PathBuf {
    let bin = std::env::var_os("SESSION_EVENTS_PROMETHEUS_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            panic!(
                "SESSION_EVENTS_PROMETHEUS_BIN is not set. Install Prometheus \
                 (`apt-get install -y prometheus`) and run the tests with scripts/test, which \
                 exports it, or export SESSION_EVENTS_PROMETHEUS_BIN=$(command -v prometheus)."
            )
        });
    assert!(
        bin.is_file(),
        "SESSION_EVENTS_PROMETHEUS_BIN={} does not exist. Install Prometheus \
         (`apt-get install -y prometheus`) or point the variable at a prometheus binary.",
        bin.display()
    );
    bin
}

/// `promtool`: `$SESSION_EVENTS_PROMTOOL_BIN`, else next to the Prometheus binary, else on
/// `PATH`. Missing is a failure.
pub fn promtool_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("SESSION_EVENTS_PROMTOOL_BIN") {
        return PathBuf::from(bin);
    }
    if let Some(dir) = std::env::var_os("SESSION_EVENTS_PROMETHEUS_BIN")
        .map(PathBuf::from)
        .and_then(|p| p.parent().map(Path::to_path_buf))
    {
        let sibling = dir.join("promtool");
        if sibling.is_file() {
            return sibling;
        }
    }
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .map(|dir| dir.join("promtool"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "promtool not found (next to SESSION_EVENTS_PROMETHEUS_BIN, or on PATH). \
                 Install Prometheus (`apt-get install -y prometheus`, which ships promtool) \
                 and run the tests with scripts/test."
            )
        })
}

/// Runs promtool with `args`, feeding `stdin` if given.
pub fn promtool(args: &[&str], stdin: Option<&[u8]>) -> Output {
    use std::io::Write;
    let mut child = Command::new(promtool_bin())
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting promtool");
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().expect("promtool stdin");
        pipe.write_all(input).expect("writing to promtool");
    }
    child.wait_with_output().expect("waiting for promtool")
}

/// Percent-encodes a query-string value (everything but RFC 3986 unreserved characters).
pub fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len() * 3);
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// A running Prometheus scraping the given targets every second as job [`JOB`].
pub struct Prometheus {
    child: Option<Child>,
    /// `http://127.0.0.1:<port>`
    pub base: String,
    http: reqwest::Client,
    dir: tempfile::TempDir,
}

impl Prometheus {
    /// Starts Prometheus and waits until it is ready to answer queries.
    pub async fn start(targets: &[SocketAddr]) -> Self {
        let bin = prometheus_bin();
        let mut dir = tempfile::tempdir().expect("temp dir");
        let config = dir.path().join("prometheus.yml");
        std::fs::write(&config, scrape_config(targets)).expect("writing prometheus.yml");
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        // The free port can be taken between probing and binding: try a few.
        for _ in 0..3 {
            let port = free_port();
            let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
            let child = Command::new(&bin)
                .arg(format!("--config.file={}", config.display()))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    dir.path().join("data").display()
                ))
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .arg("--log.level=warn")
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()));
            let mut prom = Self {
                child: Some(child),
                base: format!("http://127.0.0.1:{port}"),
                http: http.clone(),
                dir,
            };
            if prom.wait_ready(Duration::from_secs(30)).await {
                return prom;
            }
            prom.stop();
            let log = prom.log();
            assert!(
                log.contains("address already in use"),
                "Prometheus did not become ready; its log:\n{log}"
            );
            dir = std::mem::replace(&mut prom.dir, tempfile::tempdir().unwrap());
        }
        panic!("Prometheus could not bind a free port in 3 tries");
    }

    /// True once `/-/ready` answers 200; false if the process exits or time runs out.
    async fn wait_ready(&mut self, within: Duration) -> bool {
        let until = Instant::now() + within;
        while Instant::now() < until {
            if let Some(child) = self.child.as_mut()
                && child.try_wait().unwrap().is_some()
            {
                return false;
            }
            if let Ok(resp) = self.http.get(format!("{}/-/ready", self.base)).send().await
                && resp.status().is_success()
            {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    }

    /// Prometheus's own log (stdout and stderr), for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("prometheus.log")).unwrap_or_default()
    }

    /// GETs an API path (with its query string) and returns the parsed JSON body, whatever the
    /// status (errors come back as `{"status":"error","error":…}`).
    pub async fn api(&self, path_and_query: &str) -> serde_json::Value {
        let url = format!("{}{}", self.base, path_and_query);
        let resp = self
            .http
            .get(&url)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {url}: {e}\nPrometheus log:\n{}", self.log()));
        let text = resp.text().await.expect("Prometheus response body");
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("GET {url}: not JSON ({e}): {text}"))
    }

    /// An instant query at the current time; returns the whole response body.
    pub async fn query(&self, expr: &str) -> serde_json::Value {
        self.api(&format!("/api/v1/query?query={}", encode(expr)))
            .await
    }

    /// The samples of an instant query as (labels, value) pairs; panics on a query error.
    pub async fn samples(&self, expr: &str) -> Vec<(serde_json::Value, String)> {
        let body = self.query(expr).await;
        assert_eq!(body["status"], "success", "query {expr}: {body}");
        body["data"]["result"]
            .as_array()
            .map(|result| {
                result
                    .iter()
                    .map(|s| {
                        let value = s["value"][1].as_str().unwrap_or_default().to_owned();
                        (s["metric"].clone(), value)
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Waits until `up{job="session-events"}` is 1 for every target.
    pub async fn wait_up(&self, targets: usize, within: Duration) {
        let until = Instant::now() + within;
        let expr = format!("up{{job=\"{JOB}\"}} == 1");
        loop {
            let up = self.samples(&expr).await;
            if up.len() == targets {
                return;
            }
            if Instant::now() > until {
                let targets = self.api("/api/v1/targets").await;
                panic!(
                    "up{{job=\"{JOB}\"}} did not reach 1 within {within:?} (up: {up:?});\n\
                     targets: {targets}\nPrometheus log:\n{}",
                    self.log()
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// SIGTERM by process id, then SIGKILL if it has not exited within 10 s.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if child.try_wait().ok().flatten().is_some() {
            return;
        }
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        let until = Instant::now() + Duration::from_secs(10);
        while Instant::now() < until {
            if child.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One job, [`JOB`], scraping `/metrics` of every target each second.
pub fn scrape_config(targets: &[SocketAddr]) -> String {
    let targets: Vec<String> = targets.iter().map(|t| format!("'{t}'")).collect();
    format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
         scrape_configs:\n  - job_name: {JOB}\n    scrape_interval: 1s\n    \
         scrape_timeout: 1s\n    metrics_path: /metrics\n    scheme: http\n    \
         static_configs:\n      - targets: [{}]\n",
        targets.join(", ")
    )
}
