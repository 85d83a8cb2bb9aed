//! The `session-events` binary as a child process that a test can signal, kill and start again
//! on the same port and data while a load generator keeps sending to that port: an in-process
//! service cannot be SIGKILLed, and its memory cannot be told apart from the test's.

use std::fs::OpenOptions;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::{Backend, free_port};

pub struct ServiceProcess {
    child: Option<Child>,
    env: Vec<(String, String)>,
    port: u16,
    /// stderr of every start, appended.
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl ServiceProcess {
    /// Starts the binary with exactly `env` (plus `PATH`, `SERVER_ADDRESS` on a free loopback
    /// port and `RUST_LOG=info`) and waits until it answers `/livez`.
    pub async fn start(env: &[(&str, String)]) -> Self {
        Self::start_in(tempfile::tempdir().unwrap(), env).await
    }

    /// [`ServiceProcess::start`] on `backend`: a fresh MongoDB database (`MONGO_URI`), or the
    /// embedded store in a fresh directory. `env` comes last, so it may override `DATA_DIR`.
    pub async fn start_on(backend: Backend, env: &[(&str, String)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut all = match backend {
            Backend::Mongo => vec![
                ("MONGO_URI", super::mongo_uri()),
                ("DATABASE_NAME", super::unique_name("se_proc")),
            ],
            Backend::Embedded => vec![("DATA_DIR", dir.path().join("data").display().to_string())],
        };
        all.extend(env.iter().cloned());
        Self::start_in(dir, &all).await
    }

    async fn start_in(dir: tempfile::TempDir, env: &[(&str, String)]) -> Self {
        let mut service = Self {
            child: None,
            env: env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
            port: free_port(),
            log: dir.path().join("service.log"),
            _dir: dir,
        };
        service.launch().await;
        service
    }

    async fn launch(&mut self) {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_session-events"))
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("RUST_LOG", "info")
            .env("SERVER_ADDRESS", format!("127.0.0.1:{}", self.port))
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("starting session-events");
        self.child = Some(child);
        self.wait_live().await;
    }

    async fn wait_live(&mut self) {
        let http = reqwest::Client::new();
        let url = format!("{}/livez", self.base());
        let until = Instant::now() + Duration::from_secs(30);
        while http.get(&url).send().await.is_err() {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!(
                    "session-events exited at start-up ({status}):\n{}",
                    self.log()
                );
            }
            assert!(
                Instant::now() < until,
                "session-events did not come up:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Starts it again on the same port with the same settings (and so the same data).
    pub async fn restart(&mut self) {
        assert!(self.child.is_none(), "restart after the process has ended");
        self.launch().await;
    }

    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("service running").id()
    }

    pub fn sigterm(&self) {
        super::signal(self.pid(), "TERM");
    }

    /// SIGKILL, as a crash or the OOM killer would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Waits (bounded) for the process to end by itself.
    pub async fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        let until = Instant::now() + within;
        let child = self.child.as_mut().expect("service running");
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                self.child = None;
                return status;
            }
            if Instant::now() > until {
                self.kill();
                panic!(
                    "session-events did not exit within {within:?}:\n{}",
                    self.log()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Peak resident memory of the running process (VmHWM), in bytes.
    pub fn peak_rss_bytes(&self) -> u64 {
        self.proc_status_bytes("VmHWM:")
    }

    /// Resident memory of the running process now (VmRSS), in bytes.
    pub fn rss_bytes(&self) -> u64 {
        self.proc_status_bytes("VmRSS:")
    }

    fn proc_status_bytes(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("reading /proc/<pid>/status (Linux)");
        let kb: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("{field} in /proc/<pid>/status"));
        kb * 1024
    }

    /// Everything the process (every start of it) wrote to stderr.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for ServiceProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The Prometheus text of `base`'s `/metrics`.
pub async fn scrape(base: &str) -> String {
    reqwest::get(format!("{base}/metrics"))
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("metrics body")
}

/// The value of a metric without labels in Prometheus text.
pub fn metric_value(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in /metrics"))
}
