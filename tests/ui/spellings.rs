//! The page's own modules in Chromium: every field spelling reads the same, and the live-tail
//! parser survives chunks split anywhere.

use super::*;

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
    tab.assert_clean().await;
    browser.close().await;
}
