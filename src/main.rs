//! The `session-events` binary: configuration from flags and environment, then the service.

use std::process::ExitCode;

use clap::Parser;
use session_events::config::Config;
use session_events::logging::{self, error_chain};
use session_events::service::Service;
use tokio::net::TcpListener;

/// A failure is printed once, as one line on stderr saying what to change (not also as a log
/// line: the two said the same thing twice).
#[tokio::main]
async fn main() -> ExitCode {
    let config = match Config::try_parse() {
        Ok(config) => config,
        Err(e) => match session_events::config::describe_parse_error(&e) {
            Some(line) => {
                eprintln!("session-events: {line}");
                return ExitCode::from(2);
            }
            // --help, --version
            None => e.exit(),
        },
    };
    logging::init(config.log_format);
    match run(config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let e: &(dyn std::error::Error + 'static) = e.as_ref();
            eprintln!("session-events: {}", error_chain(e));
            ExitCode::FAILURE
        }
    }
}

async fn run(config: Config) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    // Bind first: a port in use is reported at once, before any connection attempt.
    let addr = config.server_address;
    let listener = TcpListener::bind(addr).await.map_err(|e| {
        format!("cannot listen on {addr} ({e}): stop what uses it, or set SERVER_ADDRESS")
    })?;
    let app = Service::new(config).initialize().await?;
    app.run(listener, shutdown_signal()).await?;
    Ok(())
}

/// SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing the SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
