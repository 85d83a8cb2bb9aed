//! The read token: the page asks for it when the API wants one, and sends it.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_asks_for_the_read_token_and_sends_it() {
    let app = spawn_app_with(Backend::Embedded, |c| {
        c.auth_tokens = [format!("read:{READER}"), format!("write:{WRITER}")]
            .iter()
            .map(|t| t.parse().unwrap())
            .collect();
    })
    .await;
    let mut m = new_match(153);
    let frame = m.frame(0);
    let resp = app
        .http
        .post(app.url("/session-events"))
        .bearer_auth(WRITER)
        .header("content-type", "application/json")
        .header("x-node-id", "node1")
        .body(synth::to_json(&frame))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let id = resp.json::<serde_json::Value>().await.unwrap()["match_id"]
        .as_str()
        .unwrap()
        .to_owned();

    let browser = Chromium::launch().await;
    let tab = browser.open(&app.url(&format!("/ui/matches/{id}"))).await;
    let reason: String = tab
        .wait_for(
            "the token prompt",
            "document.getElementById('auth-form') && document.getElementById('auth-reason').innerText",
        )
        .await;
    println!("prompt says: {reason}");
    assert_eq!(reason, "This service needs a read token.");

    submit_token(&tab, "not-the-read-token-at-all").await;
    let reason: String = tab
        .wait_for(
            "the prompt again after a wrong token",
            "(r => r && r.innerText.includes('not accepted') && r.innerText)(document.getElementById('auth-reason'))",
        )
        .await;
    println!("after a wrong token: {reason}");

    submit_token(&tab, READER).await;
    wait_loaded(&tab, 1).await;
    let s = frame.session.as_ref().unwrap();
    assert_eq!(tab.text("#score-blue").await, s.blue_points.to_string());
    let kept: String = tab
        .eval("sessionStorage.getItem('session-events.read-token')")
        .await;
    assert_eq!(kept, READER, "kept for this tab");

    // The live tail carries the token too (fetch streaming, not EventSource).
    tab.page
        .find_element("#live-toggle")
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    tab.wait_for::<bool>(
        "the live tail connected with the token",
        "document.getElementById('live-status').dataset.state === 'live'",
    )
    .await;
    let resp = app
        .http
        .post(app.url("/session-events"))
        .bearer_auth(WRITER)
        .header("content-type", "application/json")
        .header("x-node-id", "node1")
        .body(synth::to_json(&m.frame(1)))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    tab.wait_for::<String>(
        "the live frame behind auth",
        "(t => t.startsWith('frame 2 of 2') && t)(document.getElementById('frame-label').innerText)",
    )
    .await;

    // A reload keeps the token (same tab); forgetting it brings the prompt back.
    tab.page.reload().await.unwrap();
    wait_loaded(&tab, 2).await;
    tab.page
        .find_element("#forget-token")
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    tab.wait_for::<bool>(
        "the prompt after forgetting the token",
        "!!document.getElementById('auth-form')",
    )
    .await;
    tab.assert_clean().await;
    browser.close().await;
}
