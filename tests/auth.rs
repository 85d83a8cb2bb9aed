//! Bearer-token auth per scope. Auth sits in front of the store, so one backend suffices.

mod common;

use common::{Backend, new_match, spawn_app_with};
use session_events::synth;

const WRITER: &str = "write-token-0123456789";
const WRITER_NEXT: &str = "write-token-rotated-9876";
const READER: &str = "read-token-0123456789ab";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_guard_their_scope_only() {
    let app = spawn_app_with(Backend::Embedded, |c| {
        c.auth_tokens = [
            format!("write:{WRITER}"),
            format!("write:{WRITER_NEXT}"),
            format!("read:{READER}"),
        ]
        .iter()
        .map(|t| t.parse().unwrap())
        .collect();
    })
    .await;
    let mut m = new_match(40);
    let post = |token: Option<&str>, body: Vec<u8>| {
        let mut req = app
            .http
            .post(app.url("/session-events"))
            .header("content-type", "application/json")
            .header("x-node-id", "n1")
            .body(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send()
    };

    for token in [
        None,
        Some(READER),
        Some("write-token-012345678"),
        Some("nonsense-but-long-enough"),
    ] {
        let resp = post(token, synth::to_json(&m.frame(0))).await.unwrap();
        assert_eq!(resp.status(), 401, "{token:?}");
        assert_eq!(resp.headers()["www-authenticate"], "Bearer");
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(body["success"], false);
    }
    assert_eq!(
        app.stats.frames_stored(),
        0,
        "nothing unauthorized was written"
    );

    // Both write tokens work (rotation).
    assert_eq!(
        post(Some(WRITER), synth::to_json(&m.frame(1)))
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        post(Some(WRITER_NEXT), synth::to_json(&m.frame(2)))
            .await
            .unwrap()
            .status(),
        200
    );

    let path = app.url(&format!("/session-events/{}.n1", m.session_id()));
    assert_eq!(app.http.get(&path).send().await.unwrap().status(), 401);
    assert_eq!(
        app.http
            .get(&path)
            .bearer_auth(WRITER)
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    let resp = app
        .http
        .get(&path)
        .bearer_auth(READER)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["count"], 2);

    // Probes and (with no metrics token configured) metrics stay open.
    for open in ["/health", "/livez", "/readyz", "/metrics"] {
        assert_eq!(
            app.http.get(app.url(open)).send().await.unwrap().status(),
            200,
            "{open}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_metrics_token_closes_metrics_only() {
    let token = "metrics-token-0123456789";
    let app = spawn_app_with(Backend::Embedded, |c| {
        c.auth_tokens = vec![format!("metrics:{token}").parse().unwrap()];
    })
    .await;
    assert_eq!(
        app.http
            .get(app.url("/metrics"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    let resp = app
        .http
        .get(app.url("/metrics"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.text().await.unwrap().contains("session_events_"));
    let mut m = new_match(41);
    app.store(&m.frame(0), "n1").await;
}
