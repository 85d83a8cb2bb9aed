//! The shell and its content policy: the strict headers on every asset, the policy enforced in
//! the browser, and frame strings shown as text, never markup.

use super::*;

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
    tab.assert_clean().await;
    browser.close().await;
}

/// The policy is in force in the browser, not only in a header: markup strings, inline
/// handlers, inline scripts and string timers are refused, and the harness sees the violation
/// reports (so `assert_clean` can fail). DevTools' own evaluation bypasses CSP, so each attempt
/// is one that page code would make, checked by its effect.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_browser_enforces_the_policy() {
    let app = spawn_app(Backend::Embedded).await;
    let browser = Chromium::launch().await;
    let tab = browser.open(&app.url("/ui/matches")).await;
    tab.wait_for::<String>(
        "the list view",
        "document.getElementById('matches-status').innerText",
    )
    .await;
    let attempts: serde_json::Value = tab
        .eval(
            "(async () => { const r = {}; const t = (k, f) => { try { f(); r[k] = 'allowed'; } \
               catch (e) { r[k] = e.name; } }; \
             t('innerHTML', () => { document.createElement('div').innerHTML = '<b>x</b>'; }); \
             t('handler', () => { const b = document.createElement('button'); \
               b.setAttribute('onclick', 'window.__ran_handler = 1'); document.body.append(b); b.click(); }); \
             t('script', () => { const sc = document.createElement('script'); \
               sc.textContent = 'window.__ran_script = 1'; document.body.append(sc); }); \
             t('timer', () => { setTimeout('window.__ran_timer = 1', 0); }); \
             await new Promise(res => setTimeout(res, 200)); \
             r.ran = ['__ran_handler', '__ran_script', '__ran_timer'].filter(k => k in window); \
             return r; })()",
        )
        .await;
    println!("attempts: {attempts}");
    assert_eq!(
        attempts["innerHTML"], "TypeError",
        "Trusted Types refuse markup strings"
    );
    assert_eq!(
        attempts["ran"],
        serde_json::json!([]),
        "no injected code ran"
    );
    // The page's own reports, which `assert_clean` fails on; an uncaught error counts too.
    let _: bool = tab
        .eval("(setTimeout(() => { throw new Error('boom'); }, 0), true)")
        .await;
    let problems: Vec<String> = tab
        .wait_for(
            "the uncaught error reported",
            "(p => p.some(x => x.includes('boom')) && p)(window.__problems)",
        )
        .await;
    println!("reported: {problems:#?}");
    assert!(
        problems
            .iter()
            .filter(|p| p.starts_with("violation: require-trusted-types-for"))
            .count()
            >= 3
    );
    browser.close().await;
}
