//! The service on the embedded store, run through the library instead of the binary.
//!
//! ```text
//! cargo run --example embedded_service                  # 127.0.0.1:8080, data in ./data
//! cargo run --example embedded_service -- 0.0.0.0:9000 /tmp/events
//! ```
//!
//! Stops cleanly on Ctrl-C: in-flight requests finish, the queue is flushed, the store closed.

use std::path::PathBuf;

use session_events::config::{Config, LogFormat};
use session_events::logging;
use session_events::service::Service;
use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let address = args.next().unwrap_or_else(|| "127.0.0.1:8080".to_owned());
    let data_dir = args
        .next()
        .map_or_else(|| PathBuf::from("./data"), PathBuf::from);

    logging::init(LogFormat::Text);
    let config = Config {
        mongo_uri: None,
        data_dir,
        ..Config::default()
    };
    let listener = TcpListener::bind(&address)
        .await
        .map_err(|e| format!("cannot listen on {address}: {e}"))?;
    println!(
        "serving on http://{} (store in {}); Ctrl-C to stop",
        listener.local_addr()?,
        config.data_dir.display()
    );
    let app = Service::new(config).initialize().await?;
    app.run(listener, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    println!("stopped");
    Ok(())
}
