//! The matches list: filters, paging and a link to each match.

use super::*;

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
    tab.assert_clean().await;
    browser.close().await;
}
