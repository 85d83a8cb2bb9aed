//! The export buttons: downloads in the replay formats, with the read token.

use super::*;

/// Waits until `dir` holds `name`, fully downloaded; returns its bytes.
async fn downloaded(dir: &std::path::Path, name: &str) -> Vec<u8> {
    let started = Instant::now();
    loop {
        let path = dir.join(name);
        let partial = std::fs::read_dir(dir).unwrap().any(|e| {
            e.unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".crdownload")
        });
        if path.exists() && !partial {
            return std::fs::read(path).unwrap();
        }
        assert!(
            started.elapsed() < common::browser::PATIENCE,
            "{name} never arrived in {}",
            dir.display()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_export_buttons_download_the_match() {
    let app = spawn_app(Backend::Embedded).await;
    let (id, frames) = post_frames(&app, &mut new_match(164), 0..4, "node1", |_| {}).await;
    let browser = Chromium::launch().await;
    let downloads = tempfile::tempdir().unwrap();
    browser.allow_downloads(downloads.path()).await;
    let tab = browser.open(&app.url(&format!("/ui/matches/{id}"))).await;
    wait_loaded(&tab, 4).await;

    tab.page
        .find_element("#export-ndjson")
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let ndjson = downloaded(downloads.path(), &format!("{id}.ndjson")).await;
    let lines = ndjson
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .count();
    println!("NDJSON download: {} bytes, {lines} lines", ndjson.len());
    assert_eq!(lines, frames.len());

    tab.page
        .find_element("#export-echoreplay")
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let replay = downloaded(downloads.path(), &format!("{id}.echoreplay")).await;
    println!("echoreplay download: {} bytes", replay.len());
    assert!(replay.starts_with(b"PK"), "a zip archive");
    tab.assert_clean().await;
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_export_buttons_send_the_read_token() {
    let app = spawn_app_with(Backend::Embedded, |c| {
        c.auth_tokens = [format!("read:{READER}"), format!("write:{WRITER}")]
            .iter()
            .map(|t| t.parse().unwrap())
            .collect();
    })
    .await;
    let mut m = new_match(168);
    let mut id = String::new();
    for i in 0..3 {
        let resp = app
            .http
            .post(app.url("/session-events"))
            .bearer_auth(WRITER)
            .header("content-type", "application/json")
            .header("x-node-id", "node1")
            .body(synth::to_json(&m.frame(i)))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        id = resp.json::<serde_json::Value>().await.unwrap()["match_id"]
            .as_str()
            .unwrap()
            .to_owned();
    }
    let browser = Chromium::launch().await;
    let downloads = tempfile::tempdir().unwrap();
    browser.allow_downloads(downloads.path()).await;
    let tab = browser.open(&app.url(&format!("/ui/matches/{id}"))).await;
    tab.wait_for::<bool>("the token prompt", "!!document.getElementById('auth-form')")
        .await;
    submit_token(&tab, READER).await;
    wait_loaded(&tab, 3).await;
    tab.page
        .find_element("#export-ndjson")
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let ndjson = downloaded(downloads.path(), &format!("{id}.ndjson")).await;
    let lines = ndjson
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .count();
    println!(
        "NDJSON download behind auth: {} bytes, {lines} lines",
        ndjson.len()
    );
    assert_eq!(lines, 3);
    tab.assert_clean().await;
    browser.close().await;
}
