//! The match explorer page (`/`, `/ui/…`) in a real headless Chromium, driven over the DevTools
//! protocol: the tests post matches through the API, open the page and check what a person
//! would see. The page only uses the public read API, which `tests/api.rs` runs on both stores;
//! here the page is the subject, so the store is the embedded one except where noted.
//!
//! `UPDATE_SCREENSHOTS=1 cargo test --test ui` also writes `docs/ui-*.png` (the README shows
//! them); `cargo test --test ui -- --ignored --nocapture measure` prints page weight, time to
//! first render and memory for a 5000-frame match.

mod common;

use std::time::{Duration, Instant};

use common::browser::{Chromium, Tab};
use common::{Backend, MongoServer, TestApp, new_match};
use futures::StreamExt;
use session_events::config::Config;
use session_events::proto::LobbySessionStateFrame;
use session_events::proto::telemetry::v1::lobby_session_event::Event;
use session_events::synth::{self, MatchGenerator};

const READER: &str = "read-token-0123456789ab";
const WRITER: &str = "write-token-0123456789";

async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

async fn spawn_app_with(backend: Backend, tweak: impl FnOnce(&mut Config)) -> TestApp {
    common::browser::quiet_browser_logs();
    common::spawn_app_with(backend, tweak).await
}

/// Posts frames `range` of `m` as node `node` (a few at a time) and returns the match id.
async fn post_frames(
    app: &TestApp,
    m: &mut MatchGenerator,
    range: std::ops::Range<u32>,
    node: &str,
    tweak: impl Fn(&mut LobbySessionStateFrame),
) -> (String, Vec<LobbySessionStateFrame>) {
    let frames: Vec<LobbySessionStateFrame> = range
        .map(|i| {
            let mut f = m.frame(i);
            tweak(&mut f);
            f
        })
        .collect();
    let ids: Vec<String> = futures::stream::iter(frames.iter())
        .map(|f| app.store(f, node))
        .buffered(8)
        .collect()
        .await;
    (ids[0].clone(), frames)
}

/// How many timeline entries the page should list for `frames` (the kinds it shows).
fn timeline_len(frames: &[LobbySessionStateFrame]) -> usize {
    frames
        .iter()
        .flat_map(|f| &f.events)
        .filter(|e| {
            matches!(
                e.event,
                Some(
                    Event::GoalScored(_)
                        | Event::PlayerGoal(_)
                        | Event::PlayerSave(_)
                        | Event::PlayerSteal(_)
                        | Event::PlayerStun(_)
                        | Event::PlayerJoined(_)
                        | Event::PlayerLeft(_)
                        | Event::PlayerSwitchedTeam(_)
                        | Event::RoundStarted(_)
                        | Event::RoundEnded(_)
                        | Event::MatchEnded(_)
                )
            )
        })
        .count()
}

fn disc(f: &LobbySessionStateFrame) -> [f64; 3] {
    let p = &f.session.as_ref().unwrap().disc.as_ref().unwrap().position;
    [p[0], p[1], p[2]]
}

/// Types `token` into the prompt and presses Enter, as a person would.
async fn submit_token(tab: &Tab, token: &str) {
    let input = tab.page.find_element("#token-input").await.unwrap();
    input.click().await.unwrap();
    input.type_str(token).await.unwrap();
    input.press_key("Enter").await.unwrap();
}

/// Moves the slider the way a keyboard user does: focus it and press `key`.
async fn press_on_slider(tab: &Tab, key: &str) {
    tab.page
        .find_element("#scrub")
        .await
        .expect("slider")
        .focus()
        .await
        .expect("focus")
        .press_key(key)
        .await
        .expect("key press");
}

/// Puts the slider at `frame` (0-based) and fires the `input` event a drag would.
async fn drag_slider_to(tab: &Tab, frame: usize) {
    let _: bool = tab
        .eval(&format!(
            "(() => {{ const s = document.getElementById('scrub'); s.value = '{frame}'; \
             s.dispatchEvent(new Event('input', {{bubbles: true}})); return true; }})()"
        ))
        .await;
}

async fn wait_loaded(tab: &Tab, frames: usize) {
    let want = format!("{frames} frames");
    let status: String = tab
        .wait_for(
            &format!("the status line saying {want}"),
            &format!(
                "(t => t.startsWith({}) && t)(document.getElementById('match-status').innerText)",
                serde_json::to_string(&want).unwrap()
            ),
        )
        .await;
    println!("status line: {status}");
}

/// The disc marker's position in the top view, as arena coordinates (x, z).
async fn disc_marker(tab: &Tab) -> (f64, f64) {
    let (cx, cy): (String, String) = tab
        .eval(
            "(() => { const d = document.getElementById('disc-marker'); \
             return [d.getAttribute('cx'), d.getAttribute('cy')]; })()",
        )
        .await;
    let z: f64 = cx.parse().unwrap();
    let x: f64 = -cy.parse::<f64>().unwrap();
    (x, z)
}

fn maybe_save_screenshot(name: &str, png: &[u8]) {
    assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
    println!("screenshot {name}: {} bytes", png.len());
    if std::env::var_os("UPDATE_SCREENSHOTS").is_some() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, png).unwrap();
        println!("wrote {}", path.display());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shell_and_assets_are_served_with_a_strict_policy() {
    let app = spawn_app_with(Backend::Embedded, |c| {
        c.auth_tokens = vec![format!("read:{READER}").parse().unwrap()];
    })
    .await;
    for (path, content_type) in [
        ("/", "text/html"),
        ("/ui", "text/html"),
        ("/ui/matches", "text/html"),
        ("/ui/matches/some-match.node1?frame=3", "text/html"),
        ("/ui/assets/app.js", "text/javascript"),
        ("/ui/assets/style.css", "text/css"),
    ] {
        let resp = app.http.get(app.url(path)).send().await.unwrap();
        let h = resp.headers().clone();
        println!("{path}: {} {:?}", resp.status(), h.get("content-type"));
        assert_eq!(resp.status(), 200, "{path}: the shell is public");
        assert!(
            h["content-type"]
                .to_str()
                .unwrap()
                .starts_with(content_type),
            "{path}"
        );
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.starts_with("default-src 'self'"), "{path}: {csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(!csp.contains("unsafe"), "{path}: {csp}");
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        let etag = h["etag"].clone();
        let again = app
            .http
            .get(app.url(path))
            .header("if-none-match", etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 304, "{path}: revalidation is cheap");
    }
    // Compressed for browsers that accept it (every one does), identical once decompressed.
    // (A client that leaves the body as it came.)
    let raw = reqwest::Client::builder()
        .no_gzip()
        .no_zstd()
        .build()
        .unwrap();
    let get = |encoding: &'static str| {
        raw.get(app.url("/ui/assets/match.js"))
            .header("accept-encoding", encoding)
            .send()
    };
    let plain = get("identity").await.unwrap();
    assert!(plain.headers().get("content-encoding").is_none());
    let plain = plain.bytes().await.unwrap();
    let gz = get("gzip").await.unwrap();
    assert_eq!(gz.headers()["content-encoding"], "gzip");
    assert_eq!(gz.headers()["vary"], "accept-encoding");
    let gz = gz.bytes().await.unwrap();
    let mut back = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut back).unwrap();
    println!("match.js: {} bytes, {} gzipped", plain.len(), gz.len());
    assert_eq!(back, plain);
    assert!(gz.len() < plain.len());

    let missing = app
        .http
        .get(app.url("/ui/assets/nope.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    assert_eq!(missing.headers()["content-type"], "application/json");
    // The data behind the page stays guarded.
    let data = app
        .http
        .get(app.url("/session-events/892e23e2-8272-4b07-85e8-5e291ac85f93.node1"))
        .send()
        .await
        .unwrap();
    assert_eq!(data.status(), 401, "data needs the read token");
}

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
    tab.assert_clean();
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_display_name_is_shown_as_text() {
    const HOSTILE: &str = "<img src=x onerror=\"window.__pwned=1\">";
    const HOSTILE2: &str = "</text><script>window.__pwned=2</script>";
    let app = spawn_app(Backend::Embedded).await;
    let mut m = new_match(152);
    let (id, _) = post_frames(&app, &mut m, 0..3, "node1", |f| {
        let s = f.session.as_mut().unwrap();
        let original = s.teams[0].players[0].display_name.clone();
        s.teams[0].players[0].display_name = HOSTILE.to_owned();
        s.teams[1].players[0].display_name = HOSTILE2.to_owned();
        for e in &mut f.events {
            if let Some(Event::PlayerJoined(j)) = &mut e.event
                && let Some(p) = j.player.as_mut()
                && p.display_name == original
            {
                p.display_name = HOSTILE.to_owned();
            }
        }
    })
    .await;
    let browser = Chromium::launch().await;
    let tab = browser.open(&app.url(&format!("/ui/matches/{id}"))).await;
    wait_loaded(&tab, 3).await;
    let names: Vec<String> = tab
        .eval("[...document.querySelectorAll('#roster td.name')].map(td => td.textContent)")
        .await;
    println!("roster names: {names:?}");
    assert!(names.contains(&HOSTILE.to_owned()), "shown verbatim");
    assert!(names.contains(&HOSTILE2.to_owned()), "shown verbatim");
    let labels: Vec<String> = tab
        .eval("[...document.querySelectorAll('#topview text.label')].map(t => t.textContent)")
        .await;
    assert!(
        labels.contains(&HOSTILE.to_owned()),
        "top view label {labels:?}"
    );
    let timeline = tab.text("#timeline").await;
    assert!(
        timeline.contains(&format!("{HOSTILE} joined")),
        "{timeline}"
    );
    let (images, scripts, pwned): (u32, u32, bool) = tab
        .eval(
            "[document.querySelectorAll('img').length, \
             document.querySelectorAll('script').length, 'pwned' in window || '__pwned' in window]",
        )
        .await;
    println!("img elements {images}, script elements {scripts}, handler ran {pwned}");
    assert_eq!(images, 0, "no image element was made from a name");
    assert_eq!(scripts, 1, "only the app's own module script");
    assert!(!pwned, "no script from a name ran");
    tab.assert_clean();
    browser.close().await;
}

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

    // A reload keeps the token (same tab); forgetting it brings the prompt back.
    tab.page.reload().await.unwrap();
    wait_loaded(&tab, 1).await;
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
    tab.assert_clean();
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
    tab.assert_clean();
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
    tab.assert_clean();
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
    tab.assert_clean();
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_matches_list_filters_pages_and_links_to_each_match() {
    let app = spawn_app(Backend::Embedded).await;
    // Older matches on other nodes, so the list looks like a real one.
    for (seed, node, n) in [
        (165, "eu-west-1", 4),
        (166, "eu-west-2", 2),
        (167, "us-east-1", 5),
    ] {
        post_frames(&app, &mut new_match(seed), 0..n, node, |_| {}).await;
    }
    let (a, _) = post_frames(&app, &mut new_match(161), 0..3, "alpha", |_| {}).await;
    // Apart in time, so "most recently active first" has one answer.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let between = chrono::Utc::now();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let (b, _) = post_frames(&app, &mut new_match(162), 0..2, "beta", |_| {}).await;
    let browser = Chromium::launch().await;
    let tab = browser.open(&app.url("/")).await;
    let rows: Vec<Vec<String>> = tab
        .wait_for(
            "both matches in the list",
            "(rows => rows.length >= 5 && rows)([...document.querySelectorAll('tr.match-row')]\
             .map(tr => [...tr.children].map(td => td.innerText)))",
        )
        .await;
    println!("rows: {rows:?}");
    // Most recently active first: b was posted last.
    assert_eq!(rows[0][0], b);
    assert_eq!(rows[1][0], a);
    assert_eq!((rows[1][1].as_str(), rows[1][5].as_str()), ("alpha", "3"));
    assert_eq!((rows[0][1].as_str(), rows[0][5].as_str()), ("beta", "2"));
    maybe_save_screenshot("ui-matches.png", &tab.screenshot().await);

    // The node filter, as a person uses it: type, submit; the URL keeps it.
    let node = tab.page.find_element("#filter-node").await.unwrap();
    node.click().await.unwrap();
    node.type_str("alpha").await.unwrap();
    node.press_key("Enter").await.unwrap();
    let only: Vec<String> = tab
        .wait_for(
            "only alpha's match",
            "(ids => ids.length === 1 && location.search.includes('node=alpha') && ids)\
             ([...document.querySelectorAll('a.match-link')].map(a => a.innerText))",
        )
        .await;
    assert_eq!(only.as_slice(), std::slice::from_ref(&a));

    // The time range: only b was active after `between`.
    let since = between.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    tab.goto(&app.url(&format!("/ui/matches?since={since}")))
        .await;
    let recent: Vec<String> = tab
        .wait_for(
            "only the match active since then",
            "(ids => ids.length > 0 && ids)([...document.querySelectorAll('a.match-link')].map(a => a.innerText))",
        )
        .await;
    println!("active since {since}: {recent:?}");
    assert_eq!(recent.as_slice(), std::slice::from_ref(&b));
    let shown: String = tab
        .eval("document.getElementById('filter-since').value")
        .await;
    assert!(!shown.is_empty(), "the form shows the range in use");

    // Paging, one match per page.
    tab.goto(&app.url("/ui/matches?limit=1")).await;
    let first: String = tab
        .wait_for(
            "page 1",
            "(a => a && a.innerText)(document.querySelector('a.match-link'))",
        )
        .await;
    tab.page
        .find_element("#next-page")
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let second: String = tab
        .wait_for(
            "page 2",
            "location.search.includes('after=') && (a => a && a.innerText)(document.querySelector('a.match-link'))",
        )
        .await;
    println!("page 1: {first}, page 2: {second}");
    assert_eq!((first.as_str(), second.as_str()), (b.as_str(), a.as_str()));

    // Each row links to its match page, inside the app (no reload).
    let _: bool = tab.eval("(window.__same_document = true)").await;
    tab.page
        .find_element("a.match-link")
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_loaded(&tab, 3).await;
    let (path, same): (String, bool) = tab
        .eval("[location.pathname, window.__same_document === true]")
        .await;
    assert_eq!(path, format!("/ui/matches/{a}"));
    assert!(same, "followed without reloading the page");
    tab.assert_clean();
    browser.close().await;
}

/// The page's own modules, run in Chromium: frames in every spelling producers and service
/// versions use (the engine.v1 schema names, the lowerCamelCase an older service emitted, proto
/// names) read the same; the live-tail parser survives chunks split anywhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_reads_every_field_spelling_and_sse_split_anywhere() {
    let app = spawn_app(Backend::Embedded).await;
    let browser = Chromium::launch().await;
    let tab = browser.open(&app.url("/ui/matches")).await;
    let fixtures: Vec<serde_json::Value> = [
        "frame_json_names.json",
        "frame_legacy_camel.json",
        "frame_proto_names.json",
    ]
    .iter()
    .map(|f| {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(f);
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
    })
    .collect();
    let read: Vec<serde_json::Value> = tab
        .eval(&format!(
            "(async () => {{ const f = await import('/ui/assets/frame.js'); \
             return {}.map(fr => {{ const rec = f.compactFrame({{data: fr}}, new f.Interner()); \
               return {{rec, timeline: f.timelineEntries({{data: fr}}, rec), info: f.matchInfo({{data: fr}})}}; }}); }})()",
            serde_json::to_string(&fixtures).unwrap()
        ))
        .await;
    println!("read as: {}", read[0]);
    assert_eq!(read[1], read[0], "old lowerCamelCase keys read the same");
    assert_eq!(read[2], read[0], "proto names read the same");
    // And what was read is the frame's content, not defaults.
    let s = &fixtures[0]["session"];
    let rec = &read[0]["rec"];
    assert_eq!(rec["clock"], s["game_clock_display"]);
    assert_eq!(rec["blue"], s["blue_points"].as_i64().unwrap_or(0));
    assert_eq!(rec["orange"], s["orange_points"].as_i64().unwrap_or(0));
    assert_eq!(rec["disc"], s["disc"]["position"]);
    let players: Vec<serde_json::Value> = s["teams"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|t| t["players"].as_array().cloned().unwrap_or_default())
        .collect();
    let names: Vec<&serde_json::Value> = rec["players"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| &p["name"])
        .collect();
    assert_eq!(
        names,
        players.iter().map(|p| &p["name"]).collect::<Vec<_>>()
    );
    assert_eq!(
        rec["players"][0]["slot"],
        players[0]["playerid"].as_i64().unwrap_or(0)
    );
    assert_eq!(rec["players"][0]["pos"], players[0]["head"]["position"]);
    assert_eq!(
        rec["players"][0]["stats"][0],
        players[0]["stats"]["points"].as_i64().unwrap_or(0)
    );
    assert_eq!(read[0]["info"]["sessionId"], s["sessionid"]);

    let messages: Vec<serde_json::Value> = tab
        .eval(
            r#"(async () => { const { SseParser } = await import('/ui/assets/live.js');
               const got = []; const p = new SseParser(m => got.push(m));
               const text = ': keep-alive\n\nevent: frame\nid: c1\ndata: {"a":1}\n\n' +
                 'event: lagged\r\ndata: {"skipped":3}\r\n\r\ndata: x\ndata: y\n\n';
               for (const ch of text) p.push(ch);
               return got; })()"#,
        )
        .await;
    println!("SSE messages: {messages:?}");
    assert_eq!(
        messages,
        [
            serde_json::json!({"event": "frame", "id": "c1", "data": "{\"a\":1}"}),
            serde_json::json!({"event": "lagged", "id": null, "data": "{\"skipped\":3}"}),
            serde_json::json!({"event": "message", "id": null, "data": "x\ny"}),
        ]
    );
    tab.assert_clean();
    browser.close().await;
}
