//! Following a live match: a new frame appears without a reload.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_frame_appears_without_reload() {
    let app = spawn_app(Backend::Embedded).await;
    let mut m = new_match(163);
    let (id, _) = post_frames(&app, &mut m, 0..5, "node1", |_| {}).await;
    let browser = Chromium::launch().await;
    let tab = browser
        .open(&app.url(&format!("/ui/matches/{id}?live=1")))
        .await;
    wait_loaded(&tab, 5).await;
    tab.wait_for::<bool>(
        "the live tail connected",
        "document.getElementById('live-status').dataset.state === 'live'",
    )
    .await;
    let _: bool = tab.eval("(window.__same_document = true)").await;

    // One after another, as a node posts them: the page shows live frames in arrival order.
    let mut more = Vec::new();
    for i in 5..8 {
        let f = m.frame(i);
        app.store(&f, "node1").await;
        more.push(f);
    }
    let label: String = tab
        .wait_for(
            "the live frames on the page",
            "(t => t.startsWith('frame 8 of 8') && t)(document.getElementById('frame-label').innerText)",
        )
        .await;
    println!(
        "after 3 live frames: {label}; {}",
        tab.text("#live-status").await
    );
    let s = more[2].session.as_ref().unwrap();
    assert_eq!(tab.text("#score-blue").await, s.blue_points.to_string());
    assert!(
        tab.text("#game-clock")
            .await
            .contains(&s.game_clock_display)
    );
    let (x, z) = disc_marker(&tab).await;
    assert!((x - disc(&more[2])[0]).abs() < 0.01 && (z - disc(&more[2])[2]).abs() < 0.01);
    assert!(
        tab.eval::<bool>("window.__same_document === true").await,
        "no reload"
    );

    // Stopping closes the tail; a frame posted meanwhile shows once following resumes.
    tab.page
        .find_element("#live-toggle")
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    tab.wait_for::<bool>(
        "the tail closed",
        "!('state' in document.getElementById('live-status').dataset) && !location.search.includes('live=1')",
    )
    .await;
    post_frames(&app, &mut m, 8..9, "node1", |_| {}).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let label = tab.text("#frame-label").await;
    println!("1 s after a frame posted while not following: {label}");
    assert!(label.starts_with("frame 8 of 8"), "{label}");
    tab.page
        .find_element("#live-toggle")
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let label: String = tab
        .wait_for(
            "the frame posted while not following",
            "(t => t.startsWith('frame 9 of 9') && t)(document.getElementById('frame-label').innerText)",
        )
        .await;
    println!("after following again: {label}");
    tab.assert_clean().await;
    browser.close().await;
}
