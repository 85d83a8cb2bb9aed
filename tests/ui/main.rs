//! The match explorer page (`/`, `/ui/…`) in a real headless Chromium, driven over the DevTools
//! protocol: the tests post matches through the API, open the page and check what a person
//! would see. The page only uses the public read API, which `tests/api.rs` runs on both stores;
//! here the page is the subject, so the store is the embedded one except where noted.
//!
//! `UPDATE_SCREENSHOTS=1 cargo test --test ui` also writes `docs/ui-*.png` (the README shows
//! them); `cargo test --test ui -- --ignored --nocapture measure` prints page weight, time to
//! first render and memory for a 5000-frame match.

#[path = "../common/mod.rs"]
mod common;

mod export;
mod list;
mod live;
mod match_page;
mod read_token;
mod shell;
mod spellings;

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
