//! 2. Counters move by exactly what happened.

use super::*;

pub(crate) struct Deltas<'a> {
    pub(crate) before: &'a Exposition,
    pub(crate) after: &'a Exposition,
}

impl Deltas<'_> {
    pub(crate) fn of(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.after.sum(name, labels) - self.before.sum(name, labels)
    }

    /// Every `reason` whose counter moved, with how much.
    pub(crate) fn rejections(&self) -> BTreeMap<String, f64> {
        self.after
            .label_values(m::FRAMES_REJECTED, "reason")
            .into_iter()
            .map(|r| {
                let d = self.of(m::FRAMES_REJECTED, &[("reason", &r)]);
                (r, d)
            })
            .filter(|(_, d)| *d != 0.0)
            .collect()
    }
}

/// POSTs a body that must be refused with `status` and counted once under `reason`, and
/// nowhere else.
pub(crate) async fn assert_refused(
    app: &TestApp,
    what: &str,
    req: reqwest::RequestBuilder,
    status: u16,
    reason: &str,
) {
    let before = scrape(app).await;
    let resp = req.send().await.expect("POST reached the service");
    let got = resp.status().as_u16();
    let body = resp.text().await.unwrap();
    assert_eq!(got, status, "{what}: {body}");
    let after = scrape(app).await;
    let d = Deltas {
        before: &before,
        after: &after,
    };
    assert_eq!(
        d.rejections(),
        BTreeMap::from([(reason.to_owned(), 1.0)]),
        "{what}: frames_rejected_total moved like this"
    );
    assert_eq!(d.of(m::FRAMES_RECEIVED, &[]), 0.0, "{what}: not received");
    assert_eq!(
        d.of(
            m::HTTP_REQUESTS,
            &[
                ("method", "POST"),
                ("route", "/session-events"),
                ("status", &status.to_string())
            ]
        ),
        1.0,
        "{what}"
    );
}

pub(crate) async fn ingest_counters(backend: Backend) {
    const MAX_BODY: usize = 64 * 1024;
    let app = spawn_app_with(backend, |c| c.max_body_bytes = MAX_BODY).await;
    let mut m = new_match(32);
    let frames = frames(&mut m, 0..7);
    let n = frames.len() as f64;
    let post = "/session-events";

    // N accepted frames.
    let before = scrape(&app).await;
    let mut match_id = String::new();
    for frame in &frames {
        match_id = app.store(frame, "n1").await;
    }
    let after = scrape_until(&app, |e| {
        e.sum(m::FRAMES_WRITTEN, &[]) - before.sum(m::FRAMES_WRITTEN, &[]) >= n
    })
    .await;
    let d = Deltas {
        before: &before,
        after: &after,
    };
    assert_eq!(
        d.of(m::FRAMES_WRITTEN, &[]),
        n,
        "{backend:?}: frames_written"
    );
    assert_eq!(
        d.of(m::FRAMES_RECEIVED, &[]),
        n,
        "{backend:?}: frames_received"
    );
    assert_eq!(
        d.of(m::FRAMES_DUPLICATE, &[]),
        0.0,
        "{backend:?}: no duplicates"
    );
    assert_eq!(
        d.rejections(),
        BTreeMap::new(),
        "{backend:?}: nothing rejected"
    );
    assert_eq!(
        d.of(m::STORE_WRITE_ERRORS, &[]),
        0.0,
        "{backend:?}: no write errors"
    );
    assert_eq!(
        d.of(&format!("{}_count", m::ACK_LATENCY), &[]),
        n,
        "{backend:?}: one ack latency per frame"
    );
    assert_eq!(
        d.of(&format!("{}_sum", m::BATCH_SIZE_FRAMES), &[]),
        n,
        "{backend:?}: batches hold the frames"
    );
    let batches = d.of(&format!("{}_count", m::BATCH_SIZE_FRAMES), &[]);
    assert!(
        (1.0..=n).contains(&batches),
        "{backend:?}: {batches} batches"
    );
    assert_eq!(
        d.of(&format!("{}_count", m::STORE_WRITE_DURATION), &[]),
        batches,
        "{backend:?}: one write per batch"
    );
    assert!(
        d.of(&format!("{}_sum", m::BATCH_SIZE_BYTES), &[]) > n * 1000.0,
        "{backend:?}: batch bytes"
    );
    let posts = [("method", "POST"), ("route", post)];
    assert_eq!(
        d.of(m::HTTP_REQUESTS, &[posts[0], posts[1], ("status", "200")]),
        n,
        "{backend:?}"
    );
    assert_eq!(
        d.of(&format!("{}_count", m::HTTP_REQUEST_DURATION), &posts),
        n,
        "{backend:?}"
    );
    assert_eq!(
        after.sum(m::QUEUE_DEPTH, &[]),
        0.0,
        "{backend:?}: queue drained"
    );
    assert_eq!(
        after.sum(m::QUEUE_BYTES, &[]),
        0.0,
        "{backend:?}: queue drained"
    );

    // A duplicate is written (acknowledged) and counted as such.
    let before = after;
    app.store(&frames[0], "n1").await;
    let after = scrape_until(&app, |e| {
        e.sum(m::FRAMES_WRITTEN, &[]) > before.sum(m::FRAMES_WRITTEN, &[])
    })
    .await;
    let d = Deltas {
        before: &before,
        after: &after,
    };
    assert_eq!(
        (
            d.of(m::FRAMES_WRITTEN, &[]),
            d.of(m::FRAMES_DUPLICATE, &[]),
            d.of(m::FRAMES_RECEIVED, &[])
        ),
        (1.0, 1.0, 1.0),
        "{backend:?}: written, duplicate, received"
    );

    // Unknown JSON fields are counted, one per field.
    let before = after;
    let body = with_json(&frames[1], |v| {
        v["notAField"] = 1.into();
        v["session"]["norThis"] = "x".into();
    });
    assert_eq!(app.post_json(body, Some("n2")).await.status(), 200);
    let after = scrape(&app).await;
    assert_eq!(
        Deltas {
            before: &before,
            after: &after
        }
        .of(m::FRAMES_UNKNOWN_FIELDS, &[]),
        2.0,
        "{backend:?}"
    );

    // Refusals, each counted once under its reason.
    let req = |body: Vec<u8>, content_type: &str, node: &str| {
        app.http
            .post(app.url(post))
            .header("content-type", content_type)
            .header("x-node-id", node)
            .body(body)
    };
    let json = "application/json";
    assert_refused(
        &app,
        "truncated JSON",
        req(b"{\"frameIndex\": ".to_vec(), json, "n1"),
        400,
        "bad_json",
    )
    .await;
    let bad_uuid = with_json(&frames[0], |v| {
        v["session"]["sessionid"] = "not-a-uuid".into()
    });
    assert_refused(
        &app,
        "bad session id",
        req(bad_uuid, json, "n1"),
        400,
        "bad_id",
    )
    .await;
    let good = synth::to_json(&frames[0]);
    assert_refused(
        &app,
        "bad node id",
        req(good.clone(), json, "a/b"),
        400,
        "bad_id",
    )
    .await;
    let huge = vec![b' '; MAX_BODY + 1];
    assert_refused(
        &app,
        "body over the limit (Content-Length)",
        req(huge.clone(), json, "n1"),
        413,
        "too_large",
    )
    .await;
    let bomb = gzip(&[good.as_slice(), &huge].concat());
    assert!(bomb.len() < MAX_BODY);
    let bomb = req(bomb, json, "n1").header("content-encoding", "gzip");
    assert_refused(
        &app,
        "gzip body inflating over the limit",
        bomb,
        413,
        "too_large",
    )
    .await;
    assert_refused(
        &app,
        "unsupported media type",
        req(good, "text/plain", "n1"),
        415,
        "unsupported_media_type",
    )
    .await;

    // Reads and probes: per-route request counts and the store read latency.
    let before = scrape(&app).await;
    assert_eq!(app.events(&match_id).await.len(), frames.len());
    assert_eq!(app.get("/health").await.0, 200);
    assert_eq!(app.get("/no/such/route").await.0, 404);
    let after = scrape(&app).await;
    let d = Deltas {
        before: &before,
        after: &after,
    };
    assert_eq!(
        d.of(&format!("{}_count", m::STORE_READ_DURATION), &[]),
        1.0,
        "{backend:?}: one read"
    );
    let read = [
        ("method", "GET"),
        ("route", "/session-events/{match_id}"),
        ("status", "200"),
    ];
    assert_eq!(
        d.of(m::HTTP_REQUESTS, &read),
        1.0,
        "{backend:?}: the read, under its route template"
    );
    assert_eq!(
        d.of(
            m::HTTP_REQUESTS,
            &[("method", "GET"), ("route", "/health"), ("status", "200")]
        ),
        1.0
    );
    assert_eq!(
        d.of(m::HTTP_REQUESTS, &[("method", "GET"), ("status", "404")]),
        1.0,
        "{backend:?}: the unknown route"
    );
    assert!(
        after.samples.iter().all(|s| s
            .labels
            .values()
            .all(|v| !v.contains(&match_id) && !v.contains("no/such"))),
        "{backend:?}: no path or id became a label value"
    );
    app.stop().await;
}

pub(crate) fn private_config(db: &MongoServer, tweak: impl FnOnce(&mut Config)) -> Config {
    let mut config = test_config();
    config.mongo_uri = Some(db.uri());
    config.database_name = unique_name("se_metrics");
    tweak(&mut config);
    config
}

/// A paused store fills the queue: refusals are counted as queue_full, one per 503, and the
/// queue gauges show the backlog.
pub(crate) async fn queue_full_counters() {
    let db = MongoServer::start();
    let app = spawn_config(private_config(&db, |c| {
        c.queue_capacity = 1;
        c.writers = Some(1);
        c.batch_max_docs = 1;
        c.server_timeout = Duration::from_secs(60);
        c.mongo_timeout = Duration::from_secs(60);
    }))
    .await;
    let mut m = new_match(33);
    let frames = frames(&mut m, 0..9);
    app.store(&frames[0], "n1").await;
    let before = scrape(&app).await;
    assert_eq!(before.sum(m::QUEUE_CAPACITY, &[]), 1.0, "queue_capacity");

    db.pause();
    let tasks: Vec<_> = frames[1..]
        .iter()
        .map(|frame| {
            let req = app
                .http
                .post(app.url("/session-events"))
                .header("content-type", "application/json")
                .body(synth::to_json(frame));
            tokio::spawn(async move { req.send().await.unwrap().status().as_u16() })
        })
        .collect();
    // While the store is paused nothing can be written, so every answer is a refusal: one
    // frame is in the writer's batch and one in the queue, the other 6 are refused. Wait for
    // those (a liveness bound, not a speed) instead of sleeping a guessed time.
    let waiting = 2;
    let until = Instant::now() + Duration::from_secs(30);
    let answered =
        |tasks: &[tokio::task::JoinHandle<u16>]| tasks.iter().filter(|t| t.is_finished()).count();
    while answered(&tasks) < tasks.len() - waiting {
        assert!(
            Instant::now() < until,
            "only {} of {} requests answered within 30 s while the store was paused",
            answered(&tasks),
            tasks.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let refused_so_far = answered(&tasks) as f64;
    let during = scrape(&app).await;
    assert_eq!(
        during.sum(m::QUEUE_DEPTH, &[]),
        1.0,
        "one frame waits in the queue (one more is being written)"
    );
    assert!(
        during.sum(m::QUEUE_BYTES, &[]) > 1000.0,
        "queue_bytes counts the waiting frame"
    );
    db.resume();

    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    let refused = statuses.iter().filter(|s| **s == 503).count() as f64;
    let accepted = statuses.iter().filter(|s| **s == 200).count() as f64;
    assert_eq!(
        refused + accepted,
        statuses.len() as f64,
        "only 200 and 503: {statuses:?}"
    );
    assert_eq!(
        accepted, waiting as f64,
        "one written, one queued, the rest refused: {statuses:?}"
    );
    assert_eq!(
        refused_so_far, refused,
        "only refusals came back while the store was paused"
    );
    let mid = Deltas {
        before: &before,
        after: &during,
    };
    assert_eq!(
        mid.rejections(),
        BTreeMap::from([("queue_full".to_owned(), refused)]),
        "counted as they were refused"
    );

    let after = scrape_until(&app, |e| {
        e.sum(m::FRAMES_WRITTEN, &[]) - before.sum(m::FRAMES_WRITTEN, &[]) >= accepted
    })
    .await;
    let d = Deltas {
        before: &before,
        after: &after,
    };
    assert_eq!(
        d.rejections(),
        BTreeMap::from([("queue_full".to_owned(), refused)]),
        "one queue_full per 503"
    );
    assert_eq!(
        d.of(m::FRAMES_WRITTEN, &[]),
        accepted,
        "one written per 200"
    );
    assert_eq!(
        d.of(m::FRAMES_RECEIVED, &[]),
        accepted + refused,
        "every valid frame was received"
    );
    assert_eq!(d.of(m::HTTP_REQUESTS, &[("status", "503")]), refused);
    assert_eq!(after.sum(m::QUEUE_DEPTH, &[]), 0.0, "drained after resume");
    assert_eq!(after.sum(m::QUEUE_BYTES, &[]), 0.0, "drained after resume");
    app.stop().await;
}

/// A dead store: failed attempts are counted by kind, and the refused request once.
pub(crate) async fn store_error_counters() {
    let mut db = MongoServer::start();
    let app = spawn_config(private_config(&db, |c| {
        c.server_timeout = Duration::from_secs(3);
        c.mongo_timeout = Duration::from_secs(1);
    }))
    .await;
    let mut m = new_match(34);
    app.store(&m.frame(0), "n1").await;
    let before = scrape(&app).await;

    db.kill();
    let resp = app.post_json(synth::to_json(&m.frame(1)), Some("n1")).await;
    let status = resp.status().as_u16();
    assert!(
        matches!(status, 503 | 504),
        "store down → 503/504, got {status}"
    );
    // The handler counts its refusal before it answers, but the writer counts a failed
    // attempt when the attempt ends, which may be after the answer: scrape until both moved
    // (bounded) rather than sleeping a guessed time.
    let after = scrape_until(&app, |e| {
        let moved = |name: &str| e.sum(name, &[]) - before.sum(name, &[]);
        moved(m::STORE_WRITE_ERRORS) >= 1.0 && moved(m::FRAMES_REJECTED) >= 1.0
    })
    .await;
    let d = Deltas {
        before: &before,
        after: &after,
    };
    let errors: BTreeMap<String, f64> = m::STORE_ERROR_KINDS
        .iter()
        .map(|k| (k.to_string(), d.of(m::STORE_WRITE_ERRORS, &[("kind", k)])))
        .filter(|(_, v)| *v > 0.0)
        .collect();
    assert!(
        !errors.is_empty(),
        "failed write attempts are counted by kind"
    );
    assert_eq!(
        errors.get("document"),
        None,
        "the batch failed, not a document: {errors:?}"
    );
    assert_eq!(
        after.label_values(m::STORE_WRITE_ERRORS, "kind"),
        m::STORE_ERROR_KINDS.iter().map(|k| k.to_string()).collect(),
        "only the declared kinds"
    );
    assert_eq!(d.of(m::FRAMES_WRITTEN, &[]), 0.0);
    let rejected: f64 = d.rejections().values().sum();
    assert_eq!(
        rejected,
        1.0,
        "one refused request is one rejection: {:?} (status {status}, write errors {errors:?})",
        d.rejections()
    );
    drop(app);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
pub(crate) async fn counters_move_by_exactly_what_happened() {
    let _serial = LOCK.lock().await;
    ingest_counters(Backend::Embedded).await;
    ingest_counters(Backend::Mongo).await;
    queue_full_counters().await;
    store_error_counters().await;
}
