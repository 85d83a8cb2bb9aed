//! Log set-up (`tracing`) and the one helper every error log uses.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Installs the global subscriber: `RUST_LOG` filters (default `info`), text or JSON lines on
/// stderr, with colours only when stderr is a terminal (and `NO_COLOR` is unset): escape codes
/// in a log file or a pipe are noise. Safe to call more than once (later calls do nothing).
pub fn init(format: LogFormat) {
    let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter_or("info"))
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// For tests that run the service in-process: `RUST_LOG` filters (default `warn`), no colours,
/// and lines go through the test harness's capture (every thread the test started inherits it),
/// so a passing test prints nothing and a failing one shows its service's log with its output.
/// Safe to call more than once; the first call of the process wins.
pub fn init_for_tests() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter_or("warn"))
        .with_ansi(false)
        .with_test_writer()
        .try_init();
}

fn filter_or(default: &str) -> EnvFilter {
    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default))
}

/// `error: cause: cause…`, so a log line carries the whole chain, not just the outer message.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        source = cause.source();
    }
    s
}
