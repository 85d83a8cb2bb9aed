//! The database misbehaving under the service: paused, killed, restarted. Each test runs its
//! own FerretDB instance so the shared server stays healthy for every other test.

mod common;

use std::time::{Duration, Instant};

use common::{MongoServer, frame_indexes, new_match, spawn_config, test_config, unique_name};
use session_events::config::Config;
use session_events::synth;

fn config_for(db: &MongoServer, tweak: impl FnOnce(&mut Config)) -> Config {
    let mut config = test_config();
    config.mongo_uri = Some(db.uri());
    config.database_name = unique_name("se_fault");
    tweak(&mut config);
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_is_503_with_retry_after_and_loses_nothing() {
    let db = MongoServer::start();
    let app = spawn_config(config_for(&db, |c| {
        c.queue_capacity = 3;
        c.writers = Some(1);
        c.batch_max_docs = 1;
        c.server_timeout = Duration::from_secs(60);
        c.mongo_timeout = Duration::from_secs(60);
    }))
    .await;
    let mut m = new_match(20);
    let match_id = app.store(&m.frame(0), "n1").await;

    db.pause();
    let started = Instant::now();
    let tasks: Vec<_> = (1..=12)
        .map(|i| {
            let body = synth::to_json(&m.frame(i));
            let http = app.http.clone();
            let url = app.url("/session-events");
            tokio::spawn(async move {
                let resp = http
                    .post(url)
                    .header("content-type", "application/json")
                    .header("x-node-id", "n1")
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                let status = resp.status().as_u16();
                let retry_after = resp.headers().get("retry-after").cloned();
                let body: serde_json::Value = resp.json().await.unwrap();
                (i, status, retry_after, body, started.elapsed())
            })
        })
        .collect();

    // While the store is paused nothing can be written, so every answer that comes back is a
    // refusal: 1 frame in the writer's batch and 3 in the queue wait, the other 8 are refused.
    // Wait for those 8 (a liveness bound, not a speed), then let the store go.
    let waiting = 1 + 3;
    let until = Instant::now() + Duration::from_secs(30);
    while tasks.iter().filter(|t| t.is_finished()).count() < tasks.len() - waiting {
        assert!(
            Instant::now() < until,
            "only {} of {} requests answered within 30 s while the store was paused",
            tasks.iter().filter(|t| t.is_finished()).count(),
            tasks.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let refused = tasks.iter().filter(|t| t.is_finished()).count();
    let paused_for = started.elapsed();
    db.resume();

    let mut acknowledged = vec![0u64];
    let mut rejected = 0;
    for t in tasks {
        let (i, status, retry_after, body, elapsed) = t.await.unwrap();
        match status {
            200 => acknowledged.push(u64::from(i)),
            503 => {
                rejected += 1;
                assert!(retry_after.is_some(), "503 carries Retry-After");
                assert_eq!(body["success"], false);
                assert!(body["error"].as_str().unwrap().contains("queue"), "{body}");
                assert!(
                    elapsed <= paused_for,
                    "a full queue answers at once, while the store is still paused: took \
                     {elapsed:?}, the pause lasted {paused_for:?}"
                );
            }
            other => panic!("unexpected status {other}: {body}"),
        }
    }
    assert_eq!(
        (refused, rejected, acknowledged.len() - 1),
        (12 - waiting, 12 - waiting, waiting),
        "(answered during the pause, refused, acknowledged): 1 writing + 3 queued, the rest \
         refused while the store was paused"
    );
    acknowledged.sort_unstable();
    assert_eq!(
        frame_indexes(&app.events(&match_id).await),
        acknowledged,
        "every 200 is stored, once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_store_fails_requests_in_time_then_recovers_without_duplicates() {
    let mut db = MongoServer::start();
    let app = spawn_config(config_for(&db, |c| {
        c.server_timeout = Duration::from_secs(3);
        c.mongo_timeout = Duration::from_secs(1);
    }))
    .await;
    let mut m = new_match(21);
    let match_id = app.store(&m.frame(0), "n1").await;
    assert_eq!(app.get("/health").await.0, 200);

    db.kill();
    for i in 1..=3 {
        let started = Instant::now();
        let resp = app.post_json(synth::to_json(&m.frame(i)), Some("n1")).await;
        let status = resp.status().as_u16();
        let body: serde_json::Value = resp.json().await.unwrap();
        assert!(
            matches!(status, 503 | 504),
            "store down → 503/504, got {status}: {body}"
        );
        // Liveness: the service answers by its deadline (3 s) instead of hanging until the
        // client gives up (30 s); the margin is for scheduling on a busy machine.
        let took = started.elapsed();
        assert!(
            took < Duration::from_secs(3 + 5),
            "answered within the deadline (3 s + 5 s margin): took {took:?}, status {status}"
        );
    }
    let (status, body) = app.get("/health").await;
    assert_eq!(
        (status, &body["status"]),
        (503, &serde_json::json!("unhealthy"))
    );
    assert_eq!(app.get("/readyz").await.0, 503);

    db.restart();
    // Clients retry what failed (safe: writes are idempotent); some may have been written
    // after all once the store came back, and a retry of those must not duplicate them.
    let until = Instant::now() + Duration::from_secs(30);
    for i in 1..=5 {
        loop {
            let resp = app.post_json(synth::to_json(&m.frame(i)), Some("n1")).await;
            if resp.status() == 200 {
                break;
            }
            assert!(
                Instant::now() < until,
                "store never came back: {}",
                resp.status()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    assert_eq!(app.store(&m.frame(1), "n1").await, match_id);
    assert_eq!(
        frame_indexes(&app.events(&match_id).await),
        [0, 1, 2, 3, 4, 5]
    );
    assert_eq!(app.get("/health").await.0, 200);
}
