//! Traffic the tests make.

use super::*;

pub(crate) fn frames(
    m: &mut MatchGenerator,
    range: std::ops::Range<u32>,
) -> Vec<LobbySessionStateFrame> {
    range.map(|i| m.frame(i)).collect()
}

pub(crate) fn with_json(
    frame: &LobbySessionStateFrame,
    edit: impl FnOnce(&mut serde_json::Value),
) -> Vec<u8> {
    let mut v: serde_json::Value = serde_json::from_slice(&synth::to_json(frame)).unwrap();
    edit(&mut v);
    serde_json::to_vec(&v).unwrap()
}

pub(crate) fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// Some of everything: accepted frames, a duplicate, refusals, a read, probes, an unknown route.
pub(crate) async fn mixed_traffic(app: &TestApp, frames: &[LobbySessionStateFrame]) {
    let mut match_id = String::new();
    for frame in frames {
        match_id = app.store(frame, "n1").await;
    }
    app.store(&frames[0], "n1").await;
    let unknown = with_json(&frames[0], |v| v["notAField"] = 1.into());
    assert_eq!(app.post_json(unknown, Some("n1")).await.status(), 200);
    assert_eq!(
        app.post_json(b"{\"frameIndex\": ".to_vec(), Some("n1"))
            .await
            .status(),
        400
    );
    let bad_id = with_json(&frames[0], |v| {
        v["session"]["sessionid"] = "not-a-uuid".into()
    });
    assert_eq!(app.post_json(bad_id, Some("n1")).await.status(), 400);
    assert!(app.events(&match_id).await.len() >= frames.len());
    assert_eq!(app.get("/health").await.0, 200);
    assert_eq!(app.get("/readyz").await.0, 200);
    assert_eq!(app.get("/no/such/route").await.0, 404);
}
