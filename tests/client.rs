//! `session_events::client` against the real service, run in-process on the embedded store,
//! plus its retry rules against a stub server that fails on purpose.

#![cfg(feature = "client")]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use session_events::client::{Client, ClientError, PageRequest};
use session_events::config::Config;
use session_events::proto::LobbySessionStateFrame;
use session_events::service::Service;
use session_events::synth::{self, MatchGenerator, Profile};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The service on 127.0.0.1:0 with its store in a temporary directory.
struct Running {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl Running {
    async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = Config {
            data_dir: dir.path().join("data"),
            ..Config::default()
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Service::new(config).initialize().await.unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            app.run(listener, async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        });
        Self {
            addr,
            stop: Some(stop),
            task: Some(task),
            _dir: dir,
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    async fn shutdown(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.task.take().unwrap().await.unwrap();
    }
}

fn generator(seed: u64) -> MatchGenerator {
    MatchGenerator::new(
        uuid::Uuid::from_u128(fastrand::u128(1..)),
        seed,
        Profile::Session,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stores_protobuf_and_json_and_reads_them_back() {
    let service = Running::start().await;
    let client = Client::builder(service.url())
        .node_id("node-a")
        .user_id("player-1")
        .build()
        .unwrap();
    let mut generator = generator(1);
    let session = generator.session_id().to_ascii_lowercase();
    let first = generator.frame(0);
    let second = generator.frame(1);

    let stored = client.store_frame(&first).await.unwrap();
    assert_eq!(stored.match_id, format!("{session}.node-a"));
    assert_eq!(stored.status, 200);
    let stored_json = client.store_json(synth::to_json(&second)).await.unwrap();
    assert_eq!(stored_json, stored);

    let events = client.events(&stored.match_id).await.unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].data, first);
    assert_eq!(events[1].data, second);
    for event in &events {
        assert_eq!(event.match_id, stored.match_id);
        assert_eq!(event.user_id.as_deref(), Some("player-1"));
    }

    // Idempotent: the same frame again answers success and stores nothing new.
    client.store_frame(&first).await.unwrap();
    assert_eq!(client.events(&stored.match_id).await.unwrap().len(), 2);

    // Another user on the same connections; no user at all.
    let other = client.with_user_id(Some("player-2")).unwrap();
    other.store_frame(&generator.frame(2)).await.unwrap();
    let anonymous = client.with_user_id(None).unwrap();
    anonymous.store_frame(&generator.frame(3)).await.unwrap();
    let users: Vec<Option<String>> = client
        .events(&stored.match_id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.user_id)
        .collect();
    assert_eq!(
        users,
        [
            Some("player-1".to_owned()),
            Some("player-1".to_owned()),
            Some("player-2".to_owned()),
            None
        ]
    );

    // An unknown match is empty, not an error.
    let unknown = format!("{}.node-a", uuid::Uuid::from_u128(42));
    let page = client
        .events_page(&unknown, &PageRequest::default())
        .await
        .unwrap();
    assert_eq!((page.count, page.events.len(), page.next), (0, 0, None));

    service.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_follow_cursors_over_several_pages() {
    const FRAMES: u32 = 30;
    let service = Running::start().await;
    let client = Client::builder(service.url())
        .node_id("pager")
        .page_size(7)
        .build()
        .unwrap();
    let mut generator = generator(2);
    let frames: Vec<LobbySessionStateFrame> = (0..FRAMES).map(|i| generator.frame(i)).collect();
    // Posted newest first and concurrently: the service orders by frame timestamp.
    let posts = frames.iter().rev().map(|frame| client.store_frame(frame));
    let stored = futures::future::try_join_all(posts).await.unwrap();
    let match_id = stored[0].match_id.clone();

    let events = client.events(&match_id).await.unwrap();
    assert_eq!(events.len(), FRAMES as usize);
    let read: Vec<&LobbySessionStateFrame> = events.iter().map(|e| &e.data).collect();
    let expected: Vec<&LobbySessionStateFrame> = frames.iter().collect();
    assert_eq!(read, expected);

    // Page by page by hand: 7 + 7 + 7 + 7 + 2, `next` on every page but the last.
    let mut request = PageRequest {
        limit: Some(7),
        ..PageRequest::default()
    };
    let mut sizes = Vec::new();
    loop {
        let page = client.events_page(&match_id, &request).await.unwrap();
        assert_eq!(page.count as usize, page.events.len());
        assert_eq!(page.match_id, match_id);
        sizes.push(page.events.len());
        match page.next {
            Some(next) => request.after = Some(next),
            None => break,
        }
    }
    assert_eq!(sizes, [7, 7, 7, 7, 2]);

    // A time window (bounds inclusive), also paged.
    let start = chrono::DateTime::from_timestamp_millis(synth::DEFAULT_START_UNIX_MS).unwrap();
    let window = PageRequest {
        limit: Some(4),
        since: Some(start + chrono::Duration::milliseconds(10 * synth::FRAME_INTERVAL_MS)),
        until: Some(start + chrono::Duration::milliseconds(19 * synth::FRAME_INTERVAL_MS)),
        after: None,
    };
    let windowed = client.events_matching(&match_id, &window).await.unwrap();
    let read: Vec<&LobbySessionStateFrame> = windowed.iter().map(|e| &e.data).collect();
    let expected: Vec<&LobbySessionStateFrame> = frames[10..20].iter().collect();
    assert_eq!(read, expected);

    service.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_client_errors() {
    let service = Running::start().await;
    let client = Client::new(service.url()).unwrap();

    let health = client.health().await.unwrap();
    assert!(health.healthy, "{health:?}");
    assert_eq!(health.status, "healthy");
    assert!(health.timestamp.is_some());
    assert_eq!(health.error, None);

    // 4xx carry the service's message and are not retried.
    let err = client.store_json(&b"{\"session\":"[..]).await.unwrap_err();
    assert!(
        matches!(&err, ClientError::Status { status: 400, attempts: 1, message } if !message.is_empty()),
        "{err:?}"
    );
    let err = client
        .events_page("not-a-match-id", &PageRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(400), "{err:?}");
    let err = client
        .events_page(
            &format!("{}.n", uuid::Uuid::from_u128(7)),
            &PageRequest {
                after: Some("garbage".into()),
                ..PageRequest::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(400), "{err:?}");

    service.shutdown().await;
}

/// A stub that answers the first `failures` requests with `status` (and `Retry-After: 0`),
/// then success. Returns its address and the request counter.
async fn stub(status: StatusCode, failures: u32) -> (SocketAddr, Arc<AtomicU32>) {
    let hits = Arc::new(AtomicU32::new(0));
    let counter = hits.clone();
    let handler = move |headers: HeaderMap| {
        let counter = counter.clone();
        async move {
            let n = counter.fetch_add(1, Ordering::SeqCst);
            assert_eq!(
                headers.get("x-node-id").and_then(|v| v.to_str().ok()),
                Some("stub-node")
            );
            assert_eq!(
                headers
                    .get(header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok()),
                Some("Bearer s3cret")
            );
            if n < failures {
                (
                    status,
                    [(header::RETRY_AFTER, "0")],
                    axum::Json(serde_json::json!({"success": false, "error": "try later"})),
                )
                    .into_response()
            } else {
                axum::Json(serde_json::json!({"success": true, "match_id": "m.stub-node"}))
                    .into_response()
            }
        }
    };
    let router = axum::Router::new().route("/session-events", axum::routing::post(handler));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (addr, hits)
}

fn stub_client(addr: SocketAddr, retries: u32) -> Client {
    Client::builder(format!("http://{addr}"))
        .node_id("stub-node")
        .bearer_token("s3cret")
        .max_retries(retries)
        .backoff(Duration::from_millis(1), Duration::from_millis(5))
        .build()
        .unwrap()
}

#[tokio::test]
async fn retries_503_and_504_until_success() {
    for status in [StatusCode::SERVICE_UNAVAILABLE, StatusCode::GATEWAY_TIMEOUT] {
        let (addr, hits) = stub(status, 3).await;
        let stored = stub_client(addr, 5).store_json("{}").await.unwrap();
        assert_eq!(stored.match_id, "m.stub-node");
        assert_eq!(hits.load(Ordering::SeqCst), 4, "{status}");
    }
}

#[tokio::test]
async fn gives_up_after_max_retries() {
    let (addr, hits) = stub(StatusCode::SERVICE_UNAVAILABLE, u32::MAX).await;
    let err = stub_client(addr, 2).store_json("{}").await.unwrap_err();
    assert!(
        matches!(&err, ClientError::Status { status: 503, attempts: 3, message } if message == "try later"),
        "{err:?}"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn other_statuses_are_not_retried() {
    for status in [
        StatusCode::BAD_REQUEST,
        StatusCode::UNAUTHORIZED,
        StatusCode::TOO_MANY_REQUESTS,
        StatusCode::INTERNAL_SERVER_ERROR,
    ] {
        let (addr, hits) = stub(status, 1).await;
        let err = stub_client(addr, 5).store_json("{}").await.unwrap_err();
        assert_eq!(err.status(), Some(status.as_u16()));
        assert_eq!(hits.load(Ordering::SeqCst), 1, "{status}");
    }
}

#[tokio::test]
async fn connection_errors_are_retried_then_reported() {
    // A port that was just free: nothing listens there.
    let addr = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let err = stub_client(addr, 2).store_json("{}").await.unwrap_err();
    assert!(
        matches!(&err, ClientError::Transport { attempts: 3, .. }),
        "{err:?}"
    );
    let err = Client::builder(format!("http://{addr}"))
        .build()
        .unwrap()
        .health()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ClientError::Transport { attempts: 1, .. }),
        "{err:?}"
    );
}
