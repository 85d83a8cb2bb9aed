//! Live tail (SSE and WebSocket) on both stores: every durable frame once, history then live
//! with no gap and no repeat at the seam, resume, slow subscribers, the cap, shutdown.

mod common;

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use common::sse::{SseClient, SseEvent};
use common::{Backend, TestApp, new_match, spawn_app, spawn_app_with};
use futures::StreamExt;
use serde_json::Value;
use session_events::synth::{
    self, DEFAULT_START_UNIX_MS, FRAME_INTERVAL_MS, MatchGenerator, Profile,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

backend_tests!(
    a_tail_opened_before_the_first_frame_sees_every_frame_once_in_durable_order,
    since_mid_match_has_no_gap_and_no_repeat_at_the_seam,
    last_event_id_resumes_after_the_last_frame_seen,
    a_stalled_subscriber_skips_with_lagged_and_others_keep_receiving,
    the_websocket_tail_carries_the_same_frames,
    shutdown_closes_subscribers_cleanly,
    bad_requests_the_cap_and_auth,
    the_client_tails_and_resumes,
);

async fn the_client_tails_and_resumes(backend: Backend) {
    use session_events::client::{Client, TailEvent, TailFrom};
    let app = spawn_app(backend).await;
    let mut m = new_match(8);
    let id = match_id(&m);
    for i in 0..3 {
        app.store(&m.frame(i), "n1").await;
    }
    let client = Client::new(&app.base).unwrap();
    let since = chrono::DateTime::from_timestamp_millis(DEFAULT_START_UNIX_MS).unwrap();
    let mut tail = client.tail(&id, TailFrom::Since(since)).await.unwrap();
    app.store(&m.frame(3), "n1").await;
    for want in 0..4u32 {
        match tokio::time::timeout(LIVENESS, tail.next())
            .await
            .unwrap()
            .unwrap()
        {
            Some(TailEvent::Frame { event, .. }) => assert_eq!(event.data.frame_index, want),
            other => panic!("{other:?}"),
        }
    }
    let last = tail.last_id().unwrap().to_owned();
    drop(tail);
    app.store(&m.frame(4), "n1").await;
    let mut resumed = client.tail(&id, TailFrom::After(last)).await.unwrap();
    match tokio::time::timeout(LIVENESS, resumed.next())
        .await
        .unwrap()
        .unwrap()
    {
        Some(TailEvent::Frame { event, .. }) => assert_eq!(event.data.frame_index, 4),
        other => panic!("{other:?}"),
    }
    let err = client
        .tail("nope", TailFrom::Now)
        .await
        .err()
        .expect("a bad id is refused");
    assert_eq!(err.status(), Some(400));
}

/// Liveness only: a frame the service made durable reaches a tail well within this.
const LIVENESS: Duration = Duration::from_secs(60);

fn live_url(app: &TestApp, match_id: &str, query: &str) -> String {
    app.url(&format!("/session-events/{match_id}/live{query}"))
}

/// The match id frames of `m` get on node `n1`.
fn match_id(m: &MatchGenerator) -> String {
    format!("{}.n1", m.session_id().to_lowercase())
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Reads frames until `want` distinct frame indexes were seen; returns them in arrival order
/// (with any repeats, so the caller can assert there are none).
async fn read_frames(tail: &mut SseClient, want: usize) -> Vec<u64> {
    let mut got = Vec::new();
    let mut distinct = BTreeSet::new();
    while distinct.len() < want {
        match tail.next_event(LIVENESS).await {
            Some(ev @ SseEvent::Frame { .. }) => {
                let i = ev.frame_index().unwrap();
                distinct.insert(i);
                got.push(i);
            }
            Some(other) => panic!("unexpected {other:?} after {got:?}"),
            None => panic!("tail ended after {got:?}"),
        }
    }
    got
}

async fn a_tail_opened_before_the_first_frame_sees_every_frame_once_in_durable_order(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let mut m = new_match(1);
    let id = match_id(&m);
    let mut tail = SseClient::connect(&live_url(&app, &id, ""), None).await;

    // Out of timestamp order, one at a time: each is durable (answered) before the next, so
    // the durable order is the posting order.
    let order: Vec<u32> = vec![4, 0, 7, 1, 9, 2, 3, 8, 6, 5];
    for &i in &order {
        app.store(&m.frame(i), "n1").await;
    }
    // A duplicate is not a new durable frame: nothing is published for it.
    app.store(&m.frame(7), "n1").await;
    app.store(&m.frame(10), "n1").await;

    let got = read_frames(&mut tail, 11).await;
    println!("received {got:?}");
    let want: Vec<u64> = order.iter().map(|&i| u64::from(i)).chain([10]).collect();
    assert_eq!(
        got, want,
        "every frame once, in durable order, no duplicate"
    );

    // The event object is GET's event object; ids are resume positions that only grow.
    let events = app.events(&id).await;
    let mut tail2 =
        SseClient::connect(&live_url(&app, &id, "?since=2000-01-01T00:00:00Z"), None).await;
    let mut ids = Vec::new();
    for want in &events {
        match tail2.next_event(LIVENESS).await {
            Some(SseEvent::Frame { id, data }) => {
                assert_eq!(&data, want, "replayed history is GET's events, in order");
                ids.push(id);
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(ids.len(), 11);
}

async fn since_mid_match_has_no_gap_and_no_repeat_at_the_seam(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut m = new_match(2);
    let id = match_id(&m);
    // History: 0..30 except 12..16, which are held back and posted late, during the connect,
    // with timestamps older than frames the replay will already have sent.
    for i in (0..30).filter(|i| !(12..16).contains(i)) {
        app.store(&m.frame(i), "n1").await;
    }
    let late: Vec<u32> = (12..16).collect();
    let live: Vec<u32> = (30..60).collect();
    // Posted while the tail connects: late ones interleaved with new ones, 15 ms apart.
    let mut mixed = Vec::new();
    for (k, i) in live.iter().enumerate() {
        mixed.push(*i);
        if k % 3 == 1
            && let Some(l) = late.get(k / 3)
        {
            mixed.push(*l);
        }
    }
    assert_eq!(mixed.len(), live.len() + late.len());
    let bodies: Vec<Vec<u8>> = mixed.iter().map(|&i| synth::to_json(&m.frame(i))).collect();
    let url = app.url("/session-events");
    let poster = tokio::spawn(async move {
        let http = reqwest::Client::new();
        for body in bodies {
            let r = http
                .post(&url)
                .header("content-type", "application/json")
                .header("x-node-id", "n1")
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            tokio::time::sleep(Duration::from_millis(15)).await;
        }
    });
    tokio::time::sleep(Duration::from_millis(120)).await;
    let since = rfc3339(DEFAULT_START_UNIX_MS + 10 * FRAME_INTERVAL_MS);
    let mut tail = SseClient::connect(&live_url(&app, &id, &format!("?since={since}")), None).await;
    poster.await.unwrap();

    // Frames 10..60: every one exactly once.
    let got = read_frames(&mut tail, 50).await;
    println!("received {} frames: {got:?}", got.len());
    let mut counts: HashMap<u64, u32> = HashMap::new();
    for i in &got {
        *counts.entry(*i).or_default() += 1;
    }
    let repeated: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(repeated.is_empty(), "repeated at the seam: {repeated:?}");
    let distinct: BTreeSet<u64> = got.iter().copied().collect();
    assert_eq!(distinct, (10..60).collect::<BTreeSet<u64>>(), "no gap");
    // Nothing more is pending: a new frame is the next event.
    app.store(&m.frame(60), "n1").await;
    let next = tail.next_event(LIVENESS).await.unwrap();
    assert_eq!(next.frame_index(), Some(60), "{next:?}");
}

async fn last_event_id_resumes_after_the_last_frame_seen(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut m = new_match(3);
    let id = match_id(&m);
    for i in 0..10 {
        app.store(&m.frame(i), "n1").await;
    }
    let url = live_url(&app, &id, "?since=2000-01-01T00:00:00Z");
    let mut tail = SseClient::connect(&url, None).await;
    let mut last = String::new();
    for want in 0..6u64 {
        match tail.next_event(LIVENESS).await {
            Some(ev @ SseEvent::Frame { .. }) => {
                assert_eq!(ev.frame_index(), Some(want));
                if let SseEvent::Frame { id, .. } = ev {
                    last = id;
                }
            }
            other => panic!("{other:?}"),
        }
    }
    drop(tail);
    for i in 10..14 {
        app.store(&m.frame(i), "n1").await;
    }
    // Header, as a browser's EventSource sends it, and the query parameter for fetch().
    let resumed_header = SseClient::connect(&live_url(&app, &id, ""), Some(&last)).await;
    let resumed_query = SseClient::connect(
        &live_url(&app, &id, &format!("?last_event_id={last}")),
        None,
    )
    .await;
    for mut tail in [resumed_header, resumed_query] {
        let got = read_frames(&mut tail, 8).await;
        assert_eq!(
            got,
            (6..14).collect::<Vec<u64>>(),
            "exactly what came after"
        );
        app.store(&m.frame(100 + got.len() as u32), "n1").await;
        let next = tail.next_event(LIVENESS).await.unwrap();
        assert!(next.frame_index().unwrap() >= 100, "then live: {next:?}");
    }
}

/// A raw HTTP/1.1 tail with a 4 KiB receive buffer that reads nothing until told to.
struct StalledTail {
    stream: tokio::net::TcpStream,
    raw: Vec<u8>,
}

impl StalledTail {
    async fn open(app: &TestApp, match_id: &str) -> Self {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        let mut stream = socket.connect(app.addr).await.unwrap();
        let req = format!(
            "GET /session-events/{match_id}/live HTTP/1.1\r\nhost: test\r\nconnection: close\r\n\r\n"
        );
        stream.write_all(req.as_bytes()).await.unwrap();
        // Read only up to the opening comment: subscribed, and from now on it reads nothing.
        let mut raw = Vec::new();
        let mut buf = [0u8; 512];
        while !raw.windows(9).any(|w| w == b"tail open") {
            let n = tokio::time::timeout(LIVENESS, stream.read(&mut buf))
                .await
                .expect("the tail answers")
                .unwrap();
            assert!(
                n > 0,
                "closed before subscribing: {}",
                String::from_utf8_lossy(&raw)
            );
            raw.extend_from_slice(&buf[..n]);
        }
        Self { stream, raw }
    }

    /// Reads the response until `total` frames are accounted for (received + skipped);
    /// returns (frames received, frames skipped, lagged events).
    async fn drain(mut self, total: u64) -> (u64, u64, u32) {
        let mut raw = std::mem::take(&mut self.raw);
        let (mut frames, mut skipped, mut lagged) = (0u64, 0u64, 0u32);
        let mut body = Vec::new();
        let mut head_done = false;
        let mut buf = vec![0u8; 64 * 1024];
        while frames + skipped < total {
            if head_done || raw.is_empty() {
                let n = tokio::time::timeout(LIVENESS, self.stream.read(&mut buf))
                    .await
                    .expect("stalled tail: no data within the liveness timeout")
                    .unwrap();
                assert!(
                    n > 0,
                    "connection closed at {frames} + {skipped} of {total}"
                );
                raw.extend_from_slice(&buf[..n]);
            }
            if !head_done {
                let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
                    continue;
                };
                let head = String::from_utf8_lossy(&raw[..end]).to_lowercase();
                assert!(head.starts_with("http/1.1 200"), "{head}");
                assert!(head.contains("transfer-encoding: chunked"), "{head}");
                raw.drain(..end + 4);
                head_done = true;
            }
            // De-chunk what is complete.
            while let Some(eol) = raw.windows(2).position(|w| w == b"\r\n") {
                let size =
                    usize::from_str_radix(std::str::from_utf8(&raw[..eol]).unwrap().trim(), 16)
                        .unwrap();
                if raw.len() < eol + 2 + size + 2 {
                    break;
                }
                body.extend_from_slice(&raw[eol + 2..eol + 2 + size]);
                raw.drain(..eol + 2 + size + 2);
            }
            while let Some(end) = body.windows(2).position(|w| w == b"\n\n") {
                let block: Vec<u8> = body.drain(..end + 2).collect();
                match common::sse::parse(std::str::from_utf8(&block).unwrap()) {
                    SseEvent::Frame { .. } => frames += 1,
                    SseEvent::Lagged(n) => {
                        skipped += n;
                        lagged += 1;
                    }
                    SseEvent::Comment(_) => {}
                }
            }
        }
        (frames, skipped, lagged)
    }
}

async fn a_stalled_subscriber_skips_with_lagged_and_others_keep_receiving(backend: Backend) {
    // A small hub buffer makes the slowness by construction: the stalled reader cannot hold
    // more than 16 frames in the service, whatever the machine's speed; frames are posted one
    // at a time (each batch holds one), so the healthy reader is never more than a frame behind.
    // The stalled reader reads nothing while the 300 posts are made, which on a loaded
    // FerretDB took longer than the 30 s `SEND_TIMEOUT`: the service then closed its
    // connection, as it should (tests/abuse/ tests that). That is not what this test is
    // about, so the send timeout is out of its way.
    let app = spawn_app_with(backend, |c| {
        c.live_buffer = 16;
        c.send_timeout = Duration::from_secs(3600);
    })
    .await;
    let mut m = MatchGenerator::new(uuid::Uuid::new_v4(), 4, Profile::SessionWithBones);
    let id = match_id(&m);
    let stalled = StalledTail::open(&app, &id).await;
    let mut reader = SseClient::connect(&live_url(&app, &id, ""), None).await;
    app.store(&m.frame(0), "n1").await;
    assert_eq!(
        reader.next_event(LIVENESS).await.unwrap().frame_index(),
        Some(0)
    );

    // ~30 KB frames with bones, 300 of them: ~9 MB of events, more than twice what the kernel
    // buffers of the stalled connection can take (the sender's buffer grows to 4 MiB at most,
    // net.ipv4.tcp_wmem; the receiver's is pinned at 4 KiB), so skipping is certain. One post
    // at a time.
    const TOTAL: u32 = 300;
    let reading = tokio::spawn(async move {
        let got = read_frames(&mut reader, TOTAL as usize - 1).await;
        (got, reader)
    });
    let bodies: Vec<Vec<u8>> = (1..TOTAL).map(|i| synth::to_json(&m.frame(i))).collect();
    let posting = std::time::Instant::now();
    let results = futures::stream::iter(bodies)
        .map(|b| app.post_json(b, Some("n1")))
        .buffered(1)
        .collect::<Vec<_>>()
        .await;
    println!(
        "{} posts took {:.1}s while the stalled tail read nothing",
        results.len(),
        posting.elapsed().as_secs_f64()
    );
    assert!(results.iter().all(|r| r.status() == 200));

    let (got, _reader) = reading.await.unwrap();
    assert_eq!(
        got.len(),
        TOTAL as usize - 1,
        "the healthy reader got each frame once"
    );

    let (frames, skipped, lagged) = stalled.drain(u64::from(TOTAL)).await;
    println!(
        "stalled tail: {frames} frames received, {skipped} skipped in {lagged} lagged events, of {TOTAL}"
    );
    assert!(
        skipped > 0 && lagged > 0,
        "the stalled tail must have been told it skipped"
    );
    assert_eq!(
        frames + skipped,
        u64::from(TOTAL),
        "every frame either sent or counted"
    );
}

async fn the_websocket_tail_carries_the_same_frames(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut m = new_match(5);
    let id = match_id(&m);
    for i in 0..3 {
        app.store(&m.frame(i), "n1").await;
    }
    let url = format!(
        "ws://{}/session-events/{id}/live/ws?since=2000-01-01T00:00:00Z",
        app.addr
    );
    let (mut ws, resp) = tokio_tungstenite::connect_async(&url).await.unwrap();
    assert_eq!(resp.status(), 101);
    let mut sse =
        SseClient::connect(&live_url(&app, &id, "?since=2000-01-01T00:00:00Z"), None).await;
    for i in 3..6 {
        app.store(&m.frame(i), "n1").await;
    }
    let mut last_id = String::new();
    for want in 0..6u64 {
        let msg = tokio::time::timeout(LIVENESS, ws.next())
            .await
            .expect("liveness")
            .unwrap()
            .unwrap();
        let Message::Text(text) = msg else {
            panic!("{msg:?}")
        };
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["event"], "frame");
        assert_eq!(v["data"]["data"]["frameIndex"].as_u64().unwrap_or(0), want);
        let Some(SseEvent::Frame { id: sse_id, data }) = sse.next_event(LIVENESS).await else {
            panic!("sse")
        };
        assert_eq!(v["data"], data, "the same event object on both transports");
        assert_eq!(v["id"], sse_id.as_str());
        last_id = sse_id;
    }
    // Resume on the socket with the query parameter.
    ws.close(None).await.unwrap();
    app.store(&m.frame(6), "n1").await;
    let url = format!(
        "ws://{}/session-events/{id}/live/ws?last_event_id={last_id}",
        app.addr
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    let msg = tokio::time::timeout(LIVENESS, ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let v: Value = serde_json::from_str(msg.to_text().unwrap()).unwrap();
    assert_eq!(v["data"]["data"]["frameIndex"], 6);
}

async fn shutdown_closes_subscribers_cleanly(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut m = new_match(6);
    let id = match_id(&m);
    let mut sse = SseClient::connect(&live_url(&app, &id, ""), None).await;
    let url = format!("ws://{}/session-events/{id}/live/ws", app.addr);
    let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    app.store(&m.frame(0), "n1").await;
    assert_eq!(
        sse.next_event(LIVENESS).await.unwrap().frame_index(),
        Some(0)
    );
    let first = tokio::time::timeout(LIVENESS, ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(first.is_text());

    let stopping = tokio::spawn(app.stop());
    // SSE: the stream ends (a complete chunked body), it is not cut.
    assert_eq!(sse.next_event(LIVENESS).await, None);
    // WebSocket: a close frame saying why (1001 going away).
    let closing = tokio::time::timeout(LIVENESS, ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    match closing {
        Message::Close(Some(frame)) => {
            println!("close frame: {} {}", u16::from(frame.code), frame.reason);
            assert_eq!(u16::from(frame.code), 1001);
        }
        other => panic!("expected a close frame, got {other:?}"),
    }
    tokio::time::timeout(LIVENESS, stopping)
        .await
        .expect("shutdown finished")
        .unwrap();
}

async fn bad_requests_the_cap_and_auth(backend: Backend) {
    let token = "reader-token-0123456789";
    let app = spawn_app_with(backend, |c| {
        c.live_max_subscribers = 2;
        // The service notices a closed tail when it next writes to it.
        c.live_keep_alive = Duration::from_millis(200);
        c.auth_tokens = vec![format!("read:{token}").parse().unwrap()];
    })
    .await;
    let http = reqwest::Client::new();
    let m = new_match(7);
    let id = match_id(&m);
    let get = |path: String, auth: bool| {
        let mut r = http.get(app.url(&path));
        if auth {
            r = r.bearer_auth(token);
        }
        r.send()
    };
    let status = |r: reqwest::Response| r.status().as_u16();

    assert_eq!(
        status(
            get(format!("/session-events/{id}/live"), false)
                .await
                .unwrap()
        ),
        401
    );
    assert_eq!(
        status(
            get(format!("/session-events/{id}/live/ws"), false)
                .await
                .unwrap()
        ),
        401
    );
    for bad in [
        "/session-events/nope/live".to_owned(),
        format!("/session-events/{id}/live?since=yesterday"),
        format!("/session-events/{id}/live?last_event_id=garbage"),
    ] {
        let r = get(bad.clone(), true).await.unwrap();
        assert_eq!(r.status(), 400, "{bad}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["success"], false);
    }
    // Two open tails fill the cap: the third is 503 with Retry-After; closing one frees it.
    let one = get(format!("/session-events/{id}/live"), true)
        .await
        .unwrap();
    let two = get(format!("/session-events/{id}/live"), true)
        .await
        .unwrap();
    assert_eq!((one.status().as_u16(), two.status().as_u16()), (200, 200));
    let third = get(format!("/session-events/{id}/live"), true)
        .await
        .unwrap();
    assert_eq!(third.status(), 503);
    assert!(third.headers().contains_key("retry-after"));
    drop(one);
    let mut freed = None;
    for _ in 0..100 {
        let r = get(format!("/session-events/{id}/live"), true)
            .await
            .unwrap();
        if r.status() == 200 {
            freed = Some(r);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(freed.is_some(), "a closed tail frees its place");
}
