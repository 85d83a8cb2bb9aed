//! session-events: ingests EchoVR telemetry frames over HTTP and stores them in batches, in
//! MongoDB or in an embedded database.
//!
//! # Layout and data flow
//!
//! ```text
//! nodes ──POST /session-events──▶ http ──▶ pipeline ──▶ store (mongo | embedded)
//!        ◀──200 once durable────── (ack) ◀─┘
//! clients ──GET /session-events/{id}──▶ http ──▶ store (streamed back)
//! ```
//!
//! - [`http`]: routes and middleware. A POST is decoded (protojson or protobuf, gzip/zstd) and
//!   validated into a typed frame ([`frame`], [`proto`]), its ids parsed ([`ids`]), and the
//!   stored document built; reads and health checks go straight to the store.
//! - [`pipeline`]: a bounded crossbeam queue (a full queue is a 503, never an unbounded buffer)
//!   drained by writer threads that group frames into batches, write each with one
//!   `insert_many`, and acknowledge every request of the batch once it is durable.
//! - [`store`]: the [`store::Store`] trait, with the MongoDB backend and the embedded one (used
//!   when no MongoDB URI is configured); writes are idempotent (content-derived `_id`).
//! - [`service`] assembles it all from a [`config::Config`] and shuts down in order;
//!   [`server`] is the HTTP/1+2 listener; [`metrics`] the Prometheus registry; [`logging`]
//!   tracing setup; [`synth`] synthetic frames for tests, benches and load;
//!   `client` (feature `client`, on by default) an HTTP client with retries.
//!
//! # Embedding the service
//!
//! The binary is a thin wrapper around [`service::Service`]; another program (or a test) can
//! run the same service on a port of its choosing:
//!
//! ```
//! # #[cfg(not(feature = "client"))] fn main() {}
//! # #[cfg(feature = "client")]
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use session_events::client::Client;
//! use session_events::config::Config;
//! use session_events::service::Service;
//! use session_events::synth::{MatchGenerator, Profile};
//!
//! // The embedded store in a fresh directory; `server_address` is unused: we bring a listener.
//! let dir = std::env::temp_dir().join(format!("session-events-doc-{:x}", fastrand::u64(..)));
//! let config = Config { data_dir: dir.clone(), ..Config::default() };
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let addr = listener.local_addr()?;
//!
//! let app = Service::new(config).initialize().await?;
//! let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
//! let server = tokio::spawn(app.run(listener, async {
//!     let _ = stopped.await;
//! }));
//!
//! let client = Client::builder(format!("http://{addr}")).node_id("node1").build()?;
//! let session = uuid::Uuid::from_u128(fastrand::u128(1..));
//! let frame = MatchGenerator::new(session, 7, Profile::Session).frame(0);
//! let stored = client.store_frame(&frame).await?;
//! assert!(stored.match_id.ends_with(".node1"));
//! let events = client.events(&stored.match_id).await?;
//! assert_eq!(events.len(), 1);
//! assert_eq!(events[0].data, frame);
//!
//! // Graceful shutdown: finish requests, flush the queue, close the store.
//! let _ = stop.send(());
//! server.await??;
//! std::fs::remove_dir_all(&dir)?;
//! # Ok(())
//! # }
//! ```

#[cfg(feature = "client")]
pub mod client;
pub mod config;
pub mod frame;
pub mod http;
pub mod ids;
pub mod live;
pub mod logging;
pub mod metrics;
pub mod pipeline;
pub mod proto;
pub mod server;
pub mod service;
pub mod store;
pub mod synth;
