//! Misbehaving clients: slow headers, too many headers, too many connections. The service
//! cuts them off and keeps serving everyone else.

mod common;

use std::time::{Duration, Instant};

use common::{Backend, spawn_app_with};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Reads until the server closes the connection (or `within` passes); returns what it sent.
async fn read_until_closed(conn: &mut TcpStream, within: Duration) -> Option<String> {
    let mut buf = Vec::new();
    match tokio::time::timeout(within, conn.read_to_end(&mut buf)).await {
        Ok(_) => Some(String::from_utf8_lossy(&buf).into_owned()),
        Err(_) => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slowloris_client_is_cut_off_without_stalling_others() {
    let app = spawn_app_with(Backend::Embedded, |c| {
        c.header_read_timeout = Duration::from_secs(1)
    })
    .await;
    let mut slow = TcpStream::connect(app.addr).await.unwrap();
    slow.write_all(b"POST /session-events HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let started = Instant::now();

    // Others are served meanwhile.
    assert_eq!(app.get("/livez").await.0, 200);

    // A liveness bound (the timeout is 1 s), generous for a busy machine.
    let answer = read_until_closed(&mut slow, Duration::from_secs(20))
        .await
        .expect("the server closes a connection whose headers never finish");
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "not before the timeout: closed after {:?}",
        started.elapsed()
    );
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer}"
    );
    // A fresh connection: the pooled one idled past the header timeout, which closes idle
    // keep-alive connections too.
    let fresh = reqwest::Client::new();
    assert_eq!(
        fresh.get(app.url("/livez")).send().await.unwrap().status(),
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_headers_are_refused() {
    let app = spawn_app_with(Backend::Embedded, |_| {}).await;
    let mut conn = TcpStream::connect(app.addr).await.unwrap();
    let mut req = String::from("GET /livez HTTP/1.1\r\nHost: x\r\n");
    for i in 0..200 {
        req.push_str(&format!("x-h{i}: v\r\n"));
    }
    req.push_str("\r\n");
    conn.write_all(req.as_bytes()).await.unwrap();
    let answer = read_until_closed(&mut conn, Duration::from_secs(5))
        .await
        .unwrap_or_default();
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_cap_are_closed() {
    let app = spawn_app_with(Backend::Embedded, |c| c.max_connections = 2).await;
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut c = TcpStream::connect(app.addr).await.unwrap();
        c.write_all(b"GET /livez HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 12];
        c.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"HTTP/1.1 200");
        held.push(c);
    }
    let mut third = TcpStream::connect(app.addr).await.unwrap();
    let _ = third
        .write_all(b"GET /livez HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    let answer = read_until_closed(&mut third, Duration::from_secs(5)).await;
    assert_eq!(
        answer.as_deref(),
        Some(""),
        "the connection over the cap is closed unanswered"
    );

    drop(held);
    // Once the held connections go, new ones are served again.
    let until = Instant::now() + Duration::from_secs(5);
    loop {
        match app.http.get(app.url("/livez")).send().await {
            Ok(r) if r.status() == 200 => break,
            _ => assert!(
                Instant::now() < until,
                "service did not recover after the cap"
            ),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
