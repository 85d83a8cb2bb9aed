//! The one harness every integration test uses: spawn the whole service in-process on a random
//! port against a fresh database (its own MongoDB database name, or its own embedded-store
//! directory), plus private FerretDB instances for tests that stop or pause the database, the
//! service binary as a child process, and the load generator as a subprocess.
#![allow(dead_code, unused_imports)]

pub mod browser;
pub mod exposition;
pub mod loadgen;
pub mod mongo_server;
pub mod prometheus;
pub mod schema;
pub mod service_process;
pub mod sse;
pub mod ws;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use session_events::config::Config;
use session_events::pipeline::PipelineStats;
use session_events::proto::LobbySessionStateFrame;
use session_events::service::Service;
use session_events::synth::{self, MatchGenerator, Profile};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use mongo_server::MongoServer;

/// Which store a behaviour test runs against; every behaviour test runs on both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Mongo,
    Embedded,
}

/// Generates one `#[tokio::test]` per backend for each listed `async fn name(Backend)`.
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        mod on_mongo {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::Backend::Mongo).await
                }
            )*
        }
        mod on_embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::Backend::Embedded).await
                }
            )*
        }
    };
}

/// The MongoDB the suite runs against. Missing is a failure, never a skip.
pub fn mongo_uri() -> String {
    std::env::var("MONGO_URI").unwrap_or_else(|_| {
        panic!(
            "MONGO_URI is not set. Run the tests with scripts/test (it builds and starts a \
             FerretDB test server), or point MONGO_URI at a MongoDB."
        )
    })
}

/// A loopback port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Sends `sig` (`TERM`, `STOP`, `CONT`, ...) to a child process, the way an operator or the
/// kernel would; panics if it cannot be delivered.
pub fn signal(pid: u32, sig: &str) {
    let ok = std::process::Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()
        .expect("running kill")
        .success();
    assert!(ok, "kill -{sig} {pid} failed");
}

/// A database name no other test (or earlier run) uses.
pub fn unique_name(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}_{}_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed),
        fastrand::u32(..)
    )
}

/// Settings that keep tests quick: short linger and deadlines.
pub fn test_config() -> Config {
    Config {
        server_address: "127.0.0.1:0".parse().unwrap(),
        server_timeout: Duration::from_secs(10),
        // FerretDB (SQLite) scans and sorts a whole match before a read's first batch, and
        // the machine is shared with builds: generous, so slowness is not mistaken for an
        // outage (15 s was exceeded reading 300 frames back at load average 8-10). Tests of
        // timeouts set their own.
        mongo_timeout: Duration::from_secs(60),
        shutdown_timeout: Duration::from_secs(10),
        batch_linger: Duration::from_millis(5),
        writers: Some(2),
        ..Config::default()
    }
}

/// A running service.
pub struct TestApp {
    pub addr: SocketAddr,
    pub base: String,
    pub http: reqwest::Client,
    pub stats: Arc<PipelineStats>,
    /// The service's store, for tests that make large data cheaply (straight `write_batch`).
    pub raw_store: Arc<dyn session_events::store::Store>,
    pub config: Config,
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<()>>,
    _data_dir: Option<tempfile::TempDir>,
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

/// Starts the service with `tweak` applied to the test config; MongoDB runs get a fresh
/// database, embedded runs a fresh directory.
pub async fn spawn_app_with(backend: Backend, tweak: impl FnOnce(&mut Config)) -> TestApp {
    let mut config = test_config();
    let mut data_dir = None;
    match backend {
        Backend::Mongo => {
            config.mongo_uri = Some(mongo_uri());
            config.database_name = unique_name("se_test");
        }
        Backend::Embedded => {
            let dir = tempfile::tempdir().expect("temp dir");
            config.data_dir = dir.path().join("data");
            data_dir = Some(dir);
        }
    }
    tweak(&mut config);
    let mut app = spawn_config(config).await;
    app._data_dir = data_dir;
    app
}

/// Starts the service with exactly this config (its own listener on 127.0.0.1:0).
pub async fn spawn_config(config: Config) -> TestApp {
    session_events::logging::init_for_tests();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Service::new(config.clone())
        .initialize()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "service failed to start: {}",
                session_events::logging::error_chain(&e)
            )
        });
    let stats = app.stats();
    let raw_store = app.store();
    let (tx, rx) = oneshot::channel::<()>();
    let handle = tokio::spawn(async move {
        app.run(listener, async {
            let _ = rx.await;
        })
        .await
        .expect("service run");
    });
    TestApp {
        addr,
        base: format!("http://{addr}"),
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap(),
        stats,
        raw_store,
        config,
        shutdown: Some(tx),
        handle: Some(handle),
        _data_dir: None,
    }
}

impl TestApp {
    /// Graceful shutdown, as on SIGTERM; waits until the service has flushed and stopped.
    pub async fn stop(mut self) {
        self.begin_stop();
        if let Some(h) = self.handle.take() {
            h.await.expect("service task");
        }
    }

    pub fn begin_stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }

    pub async fn wait_stopped(&mut self) {
        if let Some(h) = self.handle.take() {
            h.await.expect("service task");
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// POSTs a body with the given content type and extra headers.
    pub async fn post(
        &self,
        body: Vec<u8>,
        content_type: &str,
        headers: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut req = self
            .http
            .post(self.url("/session-events"))
            .header("content-type", content_type)
            .body(body);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.send().await.expect("POST reached the service")
    }

    pub async fn post_json(&self, body: Vec<u8>, node: Option<&str>) -> reqwest::Response {
        let headers: Vec<(&str, &str)> = node.map(|n| ("x-node-id", n)).into_iter().collect();
        self.post(body, "application/json", &headers).await
    }

    /// POSTs a frame as JSON and asserts 200; returns the match id.
    pub async fn store(&self, frame: &LobbySessionStateFrame, node: &str) -> String {
        let resp = self.post_json(synth::to_json(frame), Some(node)).await;
        let status = resp.status();
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(status, 200, "POST failed: {body}");
        assert_eq!(body["success"], true);
        body["match_id"].as_str().unwrap().to_owned()
    }

    /// GET with a query string; returns status and parsed body.
    pub async fn get(&self, path: &str) -> (u16, serde_json::Value) {
        let resp = self
            .http
            .get(self.url(path))
            .send()
            .await
            .expect("GET reached the service");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        let body = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("GET {path}: not JSON ({e}): {text}"));
        (status, body)
    }

    /// Every stored event of a match (no paging).
    pub async fn events(&self, match_id: &str) -> Vec<serde_json::Value> {
        let (status, body) = self.get(&format!("/session-events/{match_id}")).await;
        assert_eq!(status, 200, "GET failed: {body}");
        let events = body["events"].as_array().expect("events array").clone();
        assert_eq!(body["count"].as_u64(), Some(events.len() as u64));
        events
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.begin_stop();
    }
}

/// A match of synthetic frames (~12 KB JSON each) with a random session id.
pub fn new_match(seed: u64) -> MatchGenerator {
    MatchGenerator::new(uuid::Uuid::new_v4(), seed, Profile::Session)
}

/// The protojson (as a JSON value) the service should return for `frame`.
pub fn protojson(frame: &LobbySessionStateFrame) -> serde_json::Value {
    serde_json::to_value(frame).unwrap()
}

/// Frame indexes of a GET's events, sorted (protojson omits index 0, so absent means 0).
pub fn frame_indexes(events: &[serde_json::Value]) -> Vec<u64> {
    let mut idx: Vec<u64> = events
        .iter()
        .map(|e| e["data"]["frameIndex"].as_u64().unwrap_or(0))
        .collect();
    idx.sort_unstable();
    idx
}

/// One staggered POST's task: it yields the frame index and the status (None: no answer).
pub type PostTask = JoinHandle<(u64, Option<u16>)>;

/// Posts frames `0..count` of `m` to `base` as node `n1`, the i-th after `i * gap`, each in its
/// own task; every task yields the frame index and the status (None: no answer).
pub fn post_staggered(
    base: &str,
    m: &mut MatchGenerator,
    count: u32,
    gap: Duration,
) -> Vec<JoinHandle<(u64, Option<u16>)>> {
    post_staggered_counted(base, m, count, gap).0
}

/// [`post_staggered`], plus a count of the 200s so far: a test waits for it to move before it
/// injects a fault ("some frames were acknowledged before") instead of sleeping a guessed time.
pub fn post_staggered_counted(
    base: &str,
    m: &mut MatchGenerator,
    count: u32,
    gap: Duration,
) -> (Vec<PostTask>, Arc<AtomicU32>) {
    let http = reqwest::Client::new();
    let acked = Arc::new(AtomicU32::new(0));
    let tasks = (0..count)
        .map(|i| {
            let body = synth::to_json(&m.frame(i));
            let (http, url) = (http.clone(), format!("{base}/session-events"));
            let acked = acked.clone();
            tokio::spawn(async move {
                tokio::time::sleep(gap * i).await;
                let resp = http
                    .post(url)
                    .header("content-type", "application/json")
                    .header("x-node-id", "n1")
                    .body(body)
                    .send()
                    .await;
                let status = resp.map(|r| r.status().as_u16()).ok();
                if status == Some(200) {
                    acked.fetch_add(1, Ordering::SeqCst);
                }
                (u64::from(i), status)
            })
        })
        .collect();
    (tasks, acked)
}

/// Waits (at most `within`, a liveness bound) until `counter` reaches `at_least`.
pub async fn wait_for_count(counter: &AtomicU32, at_least: u32, within: Duration, what: &str) {
    let until = std::time::Instant::now() + within;
    while counter.load(Ordering::SeqCst) < at_least {
        assert!(
            std::time::Instant::now() < until,
            "{what}: {} of {at_least} within {within:?}",
            counter.load(Ordering::SeqCst)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The frame indexes whose POST was answered 200.
pub async fn acknowledged(tasks: Vec<JoinHandle<(u64, Option<u16>)>>) -> Vec<u64> {
    let mut acked = Vec::new();
    for t in tasks {
        if let (i, Some(200)) = t.await.expect("post task") {
            acked.push(i);
        }
    }
    acked
}
