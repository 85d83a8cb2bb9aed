//! Clients that hold connections: silent ones (1), idle HTTP/2 (1), readers that stop
//! reading (4), and bodies in flight (5).

use super::*;

backend_tests!(
    silent_connections_do_not_lock_out_clients,
    idle_http2_connections_are_closed,
    stalled_readers_are_bounded_and_cut_off,
    bodies_in_flight_are_bounded,
);

// 1. Silent connections.

async fn silent_connections_do_not_lock_out_clients(backend: Backend) {
    let service = start(backend, &[("MAX_CONNECTIONS", "100")]).await;
    let addr = addr(&service);
    // 100 sockets that never send a byte, and some that stop inside the HTTP/2 preface (the
    // auto builder is still choosing a protocol) or right after it.
    let mut silent = Vec::new();
    for i in 0..100 {
        let mut c = TcpStream::connect(&addr).await.unwrap();
        match i % 4 {
            0 => c.write_all(b"PRI * HTTP/2.0\r\n").await.unwrap(),
            1 => c.write_all(H2_PREFACE).await.unwrap(),
            _ => {}
        }
        silent.push(c);
    }
    // By construction: wait past the first-request bound (2 s) twice over.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let mut closed = 0;
    for c in &mut silent {
        let mut buf = [0u8; 256];
        // Closed by the server: EOF (possibly after its SETTINGS / GOAWAY) or a reset.
        loop {
            match tokio::time::timeout(Duration::from_millis(500), c.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => {
                    closed += 1;
                    break;
                }
                Ok(Ok(_)) => continue,
                Err(_) => break,
            }
        }
    }
    let took = livez(&service).await;
    println!("silent connections closed by the server: {closed}/100");
    assert_eq!(closed, 100, "every silent connection is closed");
    report(
        "silent_connections",
        backend,
        &service,
        &format!("closed={closed}/100"),
        took,
    );
}

/// The HTTP/2 connection preface plus an empty SETTINGS frame.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";

async fn idle_http2_connections_are_closed(backend: Backend) {
    let service = start(backend, &[]).await;
    // A raw h2 client that sends the preface and nothing else, and is answered a GOAWAY and EOF.
    let started = Instant::now();
    let answer = exchange(&addr(&service), H2_PREFACE, Duration::from_secs(10)).await;
    let held = started.elapsed();
    println!("h2 connection after the preface held for {held:?}");
    assert!(
        held < Duration::from_secs(8),
        "an idle h2 connection is closed after the idle timeout (2 s), held {held:?}"
    );
    // A GOAWAY frame (type 7) is in what the server sent.
    assert!(
        answer.as_bytes().windows(4).any(|w| w[3] == 7 && w[0] == 0),
        "no GOAWAY before the close"
    );
    let took = livez(&service).await;
    report(
        "idle_h2",
        backend,
        &service,
        &format!("closed_after_ms={}", held.as_millis()),
        took,
    );
}

// 4. Readers that stop reading.

async fn stalled_readers_are_bounded_and_cut_off(backend: Backend) {
    let service = start(backend, &[("SEND_TIMEOUT", "10s")]).await;
    let mut m = new_match(6);
    let mut match_id = String::new();
    // FerretDB (SQLite) builds a whole first batch before answering: 64 MB of it takes longer
    // than MONGO_TIMEOUT on a busy machine, and the case is about the service, not the store.
    // Eight frames (7.6 MB) still outgrow what the kernel buffers on a 4 KB receive window.
    let frames = if backend == Backend::Mongo { 8 } else { 64 };
    for i in 0..frames {
        let (status, body, _) = post(&service, big_frame(&mut m, i, 950_000), &[]).await;
        assert_eq!(status, 200, "{body}");
        match_id = body["match_id"].as_str().unwrap().to_owned();
    }
    let after_writes = service.rss_bytes();
    let addr = addr(&service);
    // Six readers at once that read the response head and then stop reading. SEND_TIMEOUT is
    // 10 s here, so all six hold (or are refused) a read slot at the same time by construction.
    let request = format!("GET /session-events/{match_id} HTTP/1.1\r\nHost: x\r\n\r\n");
    let tasks: Vec<_> = (0..6)
        .map(|_| {
            let (addr, request) = (addr.clone(), request.clone());
            tokio::spawn(async move {
                // A small receive buffer, so the kernel cannot take a whole response on the
                // client's behalf (loopback buffers grow to several MB).
                let socket = tokio::net::TcpSocket::new_v4().unwrap();
                socket.set_recv_buffer_size(4096).unwrap();
                let mut c = socket.connect(addr.parse().unwrap()).await.unwrap();
                c.write_all(request.as_bytes()).await.unwrap();
                let mut head = [0u8; 12];
                c.read_exact(&mut head).await.unwrap();
                let mut head = String::from_utf8_lossy(&head).into_owned();
                if head.ends_with("503") {
                    // A refusal is small: read it whole, to show which bound refused it.
                    let mut rest = [0u8; 1024];
                    let n = tokio::time::timeout(Duration::from_secs(2), c.read(&mut rest))
                        .await
                        .ok()
                        .and_then(Result::ok)
                        .unwrap_or(0);
                    head.push_str(&String::from_utf8_lossy(&rest[..n]));
                }
                (head, c)
            })
        })
        .collect();
    let mut readers = Vec::new();
    let mut refused = 0;
    for t in tasks {
        let (head, c) = t.await.unwrap();
        if head.starts_with("HTTP/1.1 503") {
            assert!(head.contains("too many reads"), "{head}");
            refused += 1;
        } else {
            assert!(head.ends_with("200"), "{head}");
        }
        readers.push(c);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let stalled_rss = service.rss_bytes();
    // Past the send timeout the stalled responses are cut off and their reads end.
    tokio::time::sleep(Duration::from_secs(13)).await;
    let http = reqwest::Client::new();
    let fresh = http
        .get(format!(
            "{}/session-events/{match_id}?limit=1",
            service.base()
        ))
        .send()
        .await
        .unwrap()
        .status();
    drop(readers);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = service.rss_bytes();
    println!(
        "rss after writes {} MiB, with stalled readers {} MiB, after {} MiB; refused {refused}/6, fresh read {fresh}",
        after_writes / MIB,
        stalled_rss / MIB,
        after / MIB
    );
    assert_eq!(refused, 2, "reads beyond MAX_READS_IN_FLIGHT (4) are 503");
    assert_eq!(
        fresh, 200,
        "stalled reads were cut off and their permits returned"
    );
    assert!(
        after < memory_bound(backend),
        "memory is returned after the readers go"
    );
    let took = livez(&service).await;
    report(
        "stalled_readers",
        backend,
        &service,
        &format!("refused={refused}/6 fresh={fresh}"),
        took,
    );
}

// 5. Bodies in flight.

async fn bodies_in_flight_are_bounded(backend: Backend) {
    let service = start(backend, &[]).await;
    let addr = addr(&service);
    // 300 clients each announce ~1 MB, send all but the last few bytes, and stall.
    let len = 1_000_000;
    let head = format!(
        "POST /session-events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         X-Node-Id: n1\r\nContent-Length: {len}\r\n\r\n"
    );
    let body = vec![b' '; len - 10];
    let mut tasks = Vec::new();
    for _ in 0..300 {
        let (addr, head, body) = (addr.clone(), head.clone(), body.clone());
        tasks.push(tokio::spawn(async move {
            let mut c = TcpStream::connect(&addr).await.unwrap();
            let _ = c.write_all(head.as_bytes()).await;
            let _ = c.write_all(&body).await;
            let mut buf = vec![0u8; 4096];
            // A refusal arrives at once; an accepted body waits for its last bytes.
            let n = tokio::time::timeout(Duration::from_secs(8), c.read(&mut buf))
                .await
                .ok()
                .and_then(Result::ok)
                .unwrap_or(0);
            let answer = String::from_utf8_lossy(&buf[..n]).into_owned();
            (answer, c)
        }));
    }
    let mut refused = 0;
    let mut retry_after = 0;
    let mut conns = Vec::new();
    for t in tasks {
        let (answer, c) = t.await.unwrap();
        if status_of(&answer) == 503 {
            refused += 1;
            retry_after += usize::from(answer.to_ascii_lowercase().contains("retry-after:"));
        }
        conns.push(c);
    }
    let took = livez(&service).await;
    println!("refused {refused}/300 (Retry-After on {retry_after})");
    assert!(
        refused >= 250,
        "bodies beyond MAX_BODY_BYTES_IN_FLIGHT (16 MiB) are 503: {refused}/300"
    );
    assert_eq!(retry_after, refused);
    report(
        "bodies_in_flight",
        backend,
        &service,
        &format!("503={refused}/300"),
        took,
    );
    drop(conns);
}
