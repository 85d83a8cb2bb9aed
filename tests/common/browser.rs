//! A real headless Chromium for the UI tests, driven over the DevTools protocol
//! (`chromiumoxide`). Debian's `chromium` package; `SESSION_EVENTS_CHROMIUM_BIN` overrides the
//! path. Missing is a failure with instructions, never a skip.
//!
//! Each test gets its own browser (own profile directory, killed on drop, also on panic). At
//! most [`MAX_BROWSERS`] run at once in a test binary: the machine is small and shared.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chromiumoxide::cdp::browser_protocol::log::EventEntryAdded;
use chromiumoxide::cdp::js_protocol::runtime::EventExceptionThrown;
use chromiumoxide::handler::viewport::Viewport;
use chromiumoxide::{Browser, BrowserConfig, Page};
use futures::StreamExt;
use serde::de::DeserializeOwned;
use tokio::sync::{Semaphore, SemaphorePermit};

/// Browsers alive at once per test binary.
pub const MAX_BROWSERS: usize = 2;
static SLOTS: Semaphore = Semaphore::const_new(MAX_BROWSERS);

/// Liveness only: how long a condition may take to become true on a loaded machine.
pub const PATIENCE: Duration = Duration::from_secs(60);

pub fn chromium_bin() -> PathBuf {
    if let Ok(p) = std::env::var("SESSION_EVENTS_CHROMIUM_BIN") {
        return PathBuf::from(p);
    }
    for p in ["/usr/bin/chromium", "/usr/bin/chromium-browser"] {
        if std::path::Path::new(p).exists() {
            return PathBuf::from(p);
        }
    }
    panic!(
        "headless Chromium not found. Install Debian's `chromium` package (apt-get install \
         chromium), or set SESSION_EVENTS_CHROMIUM_BIN to a Chromium/Chrome binary."
    )
}

/// Installs the test log subscriber without chromiumoxide's warnings (it warns about every
/// DevTools message newer than its protocol version, which drowns the service's own lines).
/// Call before the service starts (the first subscriber installed wins).
pub fn quiet_browser_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,chromiumoxide=error"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// A running Chromium.
pub struct Chromium {
    pub browser: Browser,
    handler: tokio::task::JoinHandle<()>,
    _profile: tempfile::TempDir,
    _slot: SemaphorePermit<'static>,
}

impl Chromium {
    pub async fn launch() -> Chromium {
        let slot = SLOTS.acquire().await.expect("semaphore");
        let profile = tempfile::tempdir().expect("profile dir");
        let config = BrowserConfig::builder()
            .chrome_executable(chromium_bin())
            .disable_default_args()
            .no_sandbox()
            .user_data_dir(profile.path())
            .viewport(Viewport {
                width: 1400,
                height: 1000,
                ..Viewport::default()
            })
            .window_size(1400, 1000)
            .launch_timeout(PATIENCE)
            .request_timeout(PATIENCE)
            // The machine's network is closed: nothing may try to phone home.
            .args([
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-dev-shm-usage",
                "--enable-precise-memory-info",
            ])
            .build()
            .expect("browser config");
        let (browser, mut handler) = Browser::launch(config)
            .await
            .unwrap_or_else(|e| panic!("launching {}: {e}", chromium_bin().display()));
        let handler = tokio::spawn(async move { while handler.next().await.is_some() {} });
        Chromium {
            browser,
            handler,
            _profile: profile,
            _slot: slot,
        }
    }

    /// Lets pages save downloads into `dir` (headless Chromium refuses them by default).
    pub async fn allow_downloads(&self, dir: &std::path::Path) {
        use chromiumoxide::cdp::browser_protocol::browser::{
            SetDownloadBehaviorBehavior, SetDownloadBehaviorParams,
        };
        let params = SetDownloadBehaviorParams::builder()
            .behavior(SetDownloadBehaviorBehavior::Allow)
            .download_path(dir.display().to_string())
            .build()
            .unwrap();
        self.browser
            .execute(params)
            .await
            .expect("Browser.setDownloadBehavior");
    }

    /// Opens `url` in a new tab and waits for it to load; page errors are collected.
    pub async fn open(&self, url: &str) -> Tab {
        let page = self.browser.new_page("about:blank").await.expect("new tab");
        let errors = Arc::new(Mutex::new(Vec::new()));
        let mut exceptions = page
            .event_listener::<EventExceptionThrown>()
            .await
            .expect("exception listener");
        let mut log = page
            .event_listener::<EventEntryAdded>()
            .await
            .expect("log listener");
        page.enable_log().await.expect("Log.enable");
        let sink = errors.clone();
        tokio::spawn(async move {
            while let Some(e) = exceptions.next().await {
                let d = &e.exception_details;
                let what = d
                    .exception
                    .as_ref()
                    .and_then(|o| o.description.clone())
                    .unwrap_or_else(|| d.text.clone());
                sink.lock().unwrap().push(format!("exception: {what}"));
            }
        });
        let sink = errors.clone();
        let csp = Arc::new(Mutex::new(Vec::new()));
        let csp_sink = csp.clone();
        tokio::spawn(async move {
            while let Some(e) = log.next().await {
                let text = e.entry.text.clone();
                if text.contains("Content Security Policy") || text.contains("Trusted Type") {
                    csp_sink.lock().unwrap().push(text.clone());
                }
                if format!("{:?}", e.entry.level).contains("Error") {
                    sink.lock().unwrap().push(format!("log: {text}"));
                }
            }
        });
        let tab = Tab { page, errors, csp };
        tab.goto(url).await;
        tab
    }
}

impl Chromium {
    /// Closes the browser and waits for its process to end.
    pub async fn close(mut self) {
        let _ = self.browser.close().await;
        let _ = self.browser.wait().await;
    }
}

impl Drop for Chromium {
    fn drop(&mut self) {
        self.handler.abort();
        // `Browser` kills the process on drop (kill_on_drop).
    }
}

/// One tab, with what went wrong in it.
pub struct Tab {
    pub page: Page,
    /// Uncaught exceptions and error log lines.
    pub errors: Arc<Mutex<Vec<String>>>,
    /// Content-Security-Policy and Trusted Types violations reported by the browser.
    pub csp: Arc<Mutex<Vec<String>>>,
}

impl Tab {
    pub async fn goto(&self, url: &str) {
        self.page
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("loading {url}: {e}"));
    }

    /// The value of a JS expression (awaited if it is a promise).
    pub async fn eval<T: DeserializeOwned>(&self, js: &str) -> T {
        let params = chromiumoxide::cdp::js_protocol::runtime::EvaluateParams::builder()
            .expression(js)
            .await_promise(true)
            .return_by_value(true)
            .build()
            .unwrap();
        let result = self
            .page
            .evaluate_expression(params)
            .await
            .unwrap_or_else(|e| panic!("evaluating `{js}`: {e}"));
        // null and undefined come back without a value.
        let value = result.value().cloned().unwrap_or(serde_json::Value::Null);
        serde_json::from_value(value.clone())
            .unwrap_or_else(|e| panic!("result of `{js}`: {e}: {value}"))
    }

    /// Waits until the JS expression `js` gives a value other than null/undefined/false/"",
    /// and returns it; panics after [`PATIENCE`] saying `what` never happened.
    pub async fn wait_for<T: DeserializeOwned>(&self, what: &str, js: &str) -> T {
        let started = Instant::now();
        let mut last = serde_json::Value::Null;
        while started.elapsed() < PATIENCE {
            let v: serde_json::Value = self
                .eval(&format!(
                    "(() => {{ try {{ return ({js}) ?? null; }} catch (e) {{ return null; }} }})()"
                ))
                .await;
            let truthy = !matches!(&v, serde_json::Value::Null | serde_json::Value::Bool(false))
                && v != serde_json::Value::String(String::new());
            if truthy {
                return serde_json::from_value(v.clone())
                    .unwrap_or_else(|e| panic!("{what}: unexpected value {v}: {e}"));
            }
            last = v;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let body: String = self
            .eval("document.body ? document.body.innerText.slice(0, 2000) : ''")
            .await;
        panic!(
            "{what}: not seen within {PATIENCE:?} (last value {last}); page errors: {:?}; page text:\n{body}",
            self.errors()
        )
    }

    /// The text a person sees in the element `selector` ("" when absent).
    pub async fn text(&self, selector: &str) -> String {
        self.eval(&format!(
            "(document.querySelector({}) || {{innerText: ''}}).innerText",
            serde_json::to_string(selector).unwrap()
        ))
        .await
    }

    pub fn errors(&self) -> Vec<String> {
        self.errors.lock().unwrap().clone()
    }

    /// Panics when the page threw or the browser reported a policy violation.
    pub fn assert_clean(&self) {
        let exceptions: Vec<String> = self
            .errors()
            .into_iter()
            .filter(|e| e.starts_with("exception"))
            .collect();
        assert!(exceptions.is_empty(), "the page threw: {exceptions:?}");
        let csp = self.csp.lock().unwrap().clone();
        assert!(csp.is_empty(), "policy violations: {csp:?}");
    }

    pub async fn screenshot(&self) -> Vec<u8> {
        self.page
            .screenshot(
                chromiumoxide::page::ScreenshotParams::builder()
                    .full_page(true)
                    .build(),
            )
            .await
            .expect("screenshot")
    }
}
