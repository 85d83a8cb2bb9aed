//! Decoding amplification (3): bodies that expand when decoded, and a document over
//! MongoDB's limit.

use super::*;

backend_tests!(
    amplifying_bodies_are_refused_without_starving_probes,
    a_document_over_mongodbs_limit_is_a_413,
);

// 3. Decoding amplification.

/// ~1 MB bodies of hundreds of thousands of empty messages: JSON `"players":[{},{},…]` and
/// the protobuf equivalent (two bytes an element).
fn amplifying_bodies() -> Vec<(Vec<u8>, &'static str)> {
    let mut m = new_match(3);
    let mut frame = m.frame(0);
    let session = frame.session.as_mut().unwrap();
    session.teams = vec![Team {
        players: vec![TeamMember::default(); 340_000],
        ..Team::default()
    }];
    let json = synth::to_json(&frame);
    let session = frame.session.as_mut().unwrap();
    session.teams[0].players = vec![TeamMember::default(); 500_000];
    let proto = frame.encode_to_vec();
    assert!(json.len() < 1024 * 1024 && proto.len() < 1024 * 1024);
    vec![
        (json, "application/json"),
        (proto, "application/x-protobuf"),
    ]
}

async fn amplifying_bodies_are_refused_without_starving_probes(backend: Backend) {
    let service = start(backend, &[]).await;
    let bodies = amplifying_bodies();
    let base = service.base();
    let mut posts = Vec::new();
    for i in 0..8 {
        let (body, ct) = bodies[i % 2].clone();
        let url = format!("{base}/session-events");
        posts.push(tokio::spawn(async move {
            let resp = reqwest::Client::new()
                .post(url)
                .header("content-type", ct)
                .header("x-node-id", "n1")
                .timeout(Duration::from_secs(120))
                .body(body)
                .send()
                .await
                .unwrap();
            let status = resp.status().as_u16();
            (status, resp.text().await.unwrap_or_default())
        }));
    }
    // /livez and /readyz while the bodies are being decoded.
    let mut worst = Duration::ZERO;
    while posts.iter().any(|p| !p.is_finished()) {
        worst = worst.max(livez(&service).await);
        let started = Instant::now();
        let ready = reqwest::get(format!("{base}/readyz"))
            .await
            .unwrap()
            .status();
        worst = worst.max(started.elapsed());
        assert_eq!(ready, 200);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut statuses = Vec::new();
    for p in posts {
        let (status, text) = p.await.unwrap();
        assert!(
            status == 413 && text.contains("\"success\":false"),
            "{status} {text}"
        );
        statuses.push(status);
    }
    // The bounds leave honest frames alone.
    let (status, body, _) = post(&service, synth::to_json(&new_match(4).frame(0)), &[]).await;
    assert_eq!(status, 200, "{body}");
    report(
        "decode_amplification",
        backend,
        &service,
        &format!("{statuses:?}"),
        worst,
    );
}

async fn a_document_over_mongodbs_limit_is_a_413(backend: Backend) {
    // A body limit an operator raised: the frame fits it, its document does not fit 16 MiB.
    let limit = (20 * MIB).to_string();
    let service = start(
        backend,
        &[
            ("MAX_BODY_BYTES", &limit),
            ("MAX_BODY_BYTES_IN_FLIGHT", &limit),
        ],
    )
    .await;
    let mut m = new_match(5);
    let (status, body, _) = post(&service, big_frame(&mut m, 0, 17 * MIB as usize), &[]).await;
    println!("17 MiB payload: {status} {body}");
    assert_eq!(status, 413, "{body}");
    let took = livez(&service).await;
    // This case alone raises the body bound: judge RSS against its own settings.
    let peak = service.peak_rss_bytes();
    println!(
        "ABUSE case=document_over_16mib backend={backend:?} status={status} rss_peak_mib={:.1} livez_ms={:.1}",
        peak as f64 / MIB as f64,
        took.as_secs_f64() * 1e3
    );
    assert!(peak < memory_bound(backend) + 3 * 20 * MIB);
}
