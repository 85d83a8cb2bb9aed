//! One match's page: score, timeline, roster and the top view following the slider, on both
//! stores; unknown matches and store outages explained; the 5000-frame measurement.

use super::*;

backend_tests!(match_page_shows_score_timeline_roster_and_a_top_view_that_follows_the_slider);

async fn match_page_shows_score_timeline_roster_and_a_top_view_that_follows_the_slider(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let mut m = new_match(151);
    let (id, frames) = post_frames(&app, &mut m, 0..60, "node1", |_| {}).await;
    let browser = Chromium::launch().await;
    let tab = browser.open(&app.url(&format!("/ui/matches/{id}"))).await;
    wait_loaded(&tab, 60).await;

    // The first frame is selected: its score, clock and disc.
    let s0 = frames[0].session.as_ref().unwrap();
    assert_eq!(tab.text("#score-blue").await, s0.blue_points.to_string());
    assert_eq!(
        tab.text("#score-orange").await,
        s0.orange_points.to_string()
    );
    assert!(
        tab.text("#game-clock")
            .await
            .contains(&s0.game_clock_display),
        "clock {}",
        s0.game_clock_display
    );
    assert_eq!(
        tab.text("#frame-label").await.split(" \u{b7}").next(),
        Some("frame 1 of 60")
    );
    let (x0, z0) = disc_marker(&tab).await;
    println!(
        "disc marker at frame 0: x {x0} z {z0}, posted {:?}",
        disc(&frames[0])
    );
    assert!((x0 - disc(&frames[0])[0]).abs() < 0.01 && (z0 - disc(&frames[0])[2]).abs() < 0.01);

    // The timeline lists exactly the goals, saves, steals, stuns and joins that were posted.
    let entries: Vec<String> = tab
        .eval("[...document.querySelectorAll('#timeline li')].map(li => li.innerText)")
        .await;
    println!(
        "{} timeline entries, e.g. {:?}",
        entries.len(),
        &entries[..3.min(entries.len())]
    );
    assert_eq!(entries.len(), timeline_len(&frames));
    let goal = frames[10].session.as_ref().unwrap();
    let scorer = &goal.last_score.as_ref().unwrap().person_scored;
    assert!(
        entries.iter().any(|e| e.contains(&goal.game_clock_display)
            && e.contains("Goal")
            && e.contains(&format!("Goal by {scorer}"))),
        "the goal of frame 10 by {scorer} at {}",
        goal.game_clock_display
    );
    let Some(Event::PlayerJoined(joined)) = &frames[0].events[0].event else {
        panic!("frame 0 of a synthetic match starts with a join")
    };
    let joiner = &joined.player.as_ref().unwrap().display_name;
    assert!(
        entries
            .iter()
            .any(|e| e.contains(&format!("{joiner} joined")))
    );

    // The roster: every player of the frame, with that frame's stats.
    let rows: Vec<(String, String)> = tab
        .eval(
            "[...document.querySelectorAll('#roster tbody tr')].map(tr => \
             [tr.querySelector('td.name').innerText, tr.children[2].innerText])",
        )
        .await;
    let posted: Vec<(String, String)> = s0
        .teams
        .iter()
        .take(2)
        .flat_map(|t| &t.players)
        .map(|p| {
            (
                p.display_name.clone(),
                p.stats.as_ref().unwrap().points.to_string(),
            )
        })
        .collect();
    assert_eq!(rows, posted, "roster (name, points) at frame 0");

    // Scrubbing: the slider moves the top view, the score and the roster.
    press_on_slider(&tab, "End").await;
    tab.wait_for::<String>(
        "the slider at the last frame",
        "(t => t.startsWith('frame 60 of 60') && t)(document.getElementById('frame-label').innerText)",
    )
    .await;
    let (x1, z1) = disc_marker(&tab).await;
    let d59 = disc(&frames[59]);
    println!("disc marker at frame 59: x {x1} z {z1}, posted {d59:?}");
    assert!((x1 - d59[0]).abs() < 0.01 && (z1 - d59[2]).abs() < 0.01);
    assert!(
        (x1 - x0).abs() + (z1 - z0).abs() > 0.1,
        "the disc moved on screen"
    );
    drag_slider_to(&tab, 30).await;
    tab.wait_for::<String>(
        "the slider at frame 31",
        "(t => t.startsWith('frame 31 of 60') && t)(document.getElementById('frame-label').innerText)",
    )
    .await;
    let s30 = frames[30].session.as_ref().unwrap();
    assert_eq!(tab.text("#score-blue").await, s30.blue_points.to_string());
    let readout = tab.text("#disc-readout").await;
    assert!(
        readout.contains(&format!("z {:.2}", disc(&frames[30])[2])),
        "{readout}"
    );

    // The selected frame is part of the URL: a reload comes back to it.
    tab.wait_for::<bool>(
        "the URL to remember frame 30",
        "location.search.includes('frame=30')",
    )
    .await;
    tab.page.reload().await.unwrap();
    wait_loaded(&tab, 60).await;
    assert!(tab.text("#frame-label").await.starts_with("frame 31 of 60"));

    if backend == Backend::Embedded {
        maybe_save_screenshot("ui-match.png", &tab.screenshot().await);
    }
    tab.assert_clean().await;
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_matches_bad_ids_and_unknown_pages_are_explained() {
    let app = spawn_app(Backend::Embedded).await;
    let browser = Chromium::launch().await;
    let unknown = format!("{}.node1", uuid::Uuid::new_v4());
    let tab = browser
        .open(&app.url(&format!("/ui/matches/{unknown}")))
        .await;
    let msg: String = tab
        .wait_for(
            "the unknown-match message",
            "(t => t.includes('No match') && t)(document.getElementById('match-status').innerText)",
        )
        .await;
    println!("unknown match: {msg}");
    assert!(msg.contains(&unknown));

    tab.goto(&app.url("/ui/matches/not-a-match-id")).await;
    let msg: String = tab
        .wait_for(
            "the bad-id message",
            "(t => t.includes('not a valid match id') && t)(document.getElementById('match-status').innerText)",
        )
        .await;
    println!("bad id: {msg}");

    tab.goto(&app.url("/ui/nothing/here")).await;
    let msg: String = tab
        .wait_for(
            "the no-such-page message",
            "(e => e && e.innerText)(document.querySelector('main .error'))",
        )
        .await;
    println!("unknown page: {msg}");
    assert!(msg.contains("/ui/nothing/here"));
    tab.assert_clean().await;
    browser.close().await;
}

/// A store that is down is explained, and "Try again" recovers once it is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_outage_is_explained_and_try_again_recovers() {
    common::browser::quiet_browser_logs();
    let mut db = MongoServer::start();
    let mut config = common::test_config();
    config.mongo_uri = Some(db.uri());
    config.database_name = common::unique_name("se_ui");
    config.mongo_timeout = Duration::from_secs(1);
    config.server_timeout = Duration::from_secs(3);
    let app = common::spawn_config(config).await;
    let mut m = new_match(155);
    let (id, _) = post_frames(&app, &mut m, 0..3, "node1", |_| {}).await;

    db.kill();
    let browser = Chromium::launch().await;
    let tab = browser.open(&app.url(&format!("/ui/matches/{id}"))).await;
    let msg: String = tab
        .wait_for(
            "the store-outage message",
            "document.getElementById('retry') && document.getElementById('match-status').innerText",
        )
        .await;
    println!("store down: {msg}");
    assert!(
        msg.contains("store is unavailable") || msg.contains("took too long"),
        "{msg}"
    );

    db.restart();
    // The driver reconnects in its own time: a person would click again until it works.
    let until = Instant::now() + common::browser::PATIENCE;
    loop {
        tab.page
            .find_element("#retry")
            .await
            .expect("the Try again button")
            .click()
            .await
            .unwrap();
        let state: String = tab
            .wait_for(
                "the page to load or fail again",
                "(t => !t.startsWith('Loading the match') && (document.getElementById('retry') ? 'failed' : t))\
                 (document.getElementById('match-status').innerText)",
            )
            .await;
        if state != "failed" {
            println!("after the store came back: {state}");
            break;
        }
        assert!(Instant::now() < until, "the store never came back");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    wait_loaded(&tab, 3).await;
    tab.assert_clean().await;
    browser.close().await;
}

/// Page weight, time to first render and memory after scrubbing, for a 5000-frame match (about
/// 60 MB of JSON). A measurement, not a test: it prints figures and asserts only that the page
/// got there. `cargo test --test ui -- --ignored --nocapture measure`
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement; run it explicitly"]
async fn measure_a_5000_frame_match_page() {
    const FRAMES: u32 = 5000;
    let app = spawn_app(Backend::Embedded).await;
    let mut m = new_match(154);
    let started = Instant::now();
    let (id, _) = post_frames(&app, &mut m, 0..FRAMES, "node1", |_| {}).await;
    println!("posted {FRAMES} frames in {:?}", started.elapsed());
    let browser = Chromium::launch().await;
    let tab = browser.open(&app.url(&format!("/ui/matches/{id}"))).await;
    let first: f64 = tab
        .wait_for(
            "the first render",
            "(e => e && e.startTime)(performance.getEntriesByName('first-render')[0])",
        )
        .await;
    let all: f64 = tab
        .wait_for(
            "all frames loaded",
            "(e => e && e.startTime)(performance.getEntriesByName('all-loaded')[0])",
        )
        .await;
    wait_loaded(&tab, FRAMES as usize).await;
    let weight: (f64, f64, f64) = tab
        .eval(
            "(() => { const n = performance.getEntriesByType('navigation')[0]; \
             const r = performance.getEntriesByType('resource'); \
             const shell = n.transferSize + r.filter(e => e.name.includes('/ui/assets/')) \
               .reduce((a, e) => a + e.transferSize, 0); \
             const data = r.filter(e => !e.name.includes('/ui/assets/')) \
               .reduce((a, e) => a + e.transferSize, 0); \
             return [shell, data, r.length]; })()",
        )
        .await;
    let heap_loaded = heap_after_gc(&tab).await;
    // Scrub through the whole match, one rendered frame per step of 25.
    let scrub = Instant::now();
    let steps: u32 = tab
        .eval(
            "(async () => { const s = document.getElementById('scrub'); let n = 0; \
             for (let i = 0; i <= Number(s.max); i += 25) { s.value = String(i); \
               s.dispatchEvent(new Event('input', {bubbles: true})); \
               await new Promise(r => requestAnimationFrame(r)); n++; } return n; })()",
        )
        .await;
    let scrub_time = scrub.elapsed();
    let heap_scrubbed = heap_after_gc(&tab).await;
    println!(
        "page weight (first load): shell+assets {:.1} KB; data {:.1} MB in {} requests",
        weight.0 / 1024.0,
        weight.1 / 1024.0 / 1024.0,
        weight.2
    );
    println!(
        "time to first render: {first:.0} ms after navigation start; all {FRAMES} frames: {all:.0} ms"
    );
    println!(
        "JS heap after load: {:.1} MB; after scrubbing {steps} positions in {scrub_time:?}: {:.1} MB",
        heap_loaded / 1e6,
        heap_scrubbed / 1e6
    );
    tab.assert_clean().await;
    browser.close().await;
}

/// Used JS heap in bytes after a full garbage collection.
async fn heap_after_gc(tab: &Tab) -> f64 {
    use chromiumoxide::cdp::js_protocol::heap_profiler::CollectGarbageParams;
    tab.page
        .execute(CollectGarbageParams::default())
        .await
        .expect("HeapProfiler.collectGarbage");
    tokio::time::sleep(Duration::from_millis(200)).await;
    tab.eval("performance.memory.usedJSHeapSize").await
}
