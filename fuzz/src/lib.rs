//! Properties shared by the fuzz targets.

use std::time::{Duration, UNIX_EPOCH};

use session_events::frame::{self, DecodedFrame, Encoding, EventDocument, StoredEvent};
use session_events::ids::NodeId;

/// Decodes `body`; when the service would accept it, checks that what it would store is served
/// back (GET) as JSON that POST accepts again and that decodes to the same frame.
pub fn decode_and_round_trip(body: &[u8], encoding: Encoding) {
    if let Ok(decoded) = frame::decode(body, encoding) {
        round_trip(&decoded);
    }
}

/// The transcoder (`frame::decode_document`, what ingest runs) and the oracle (`frame::decode`
/// + `EventDocument::build`) agree: both refuse (for the same reason) or both store the same
/// bytes.
pub fn transcoder_agrees_with_oracle(body: &[u8], encoding: Encoding) {
    let node = NodeId::parse("fuzz-node").unwrap();
    let received_at = UNIX_EPOCH + Duration::from_millis(1_750_000_000_000);
    let new = frame::decode_document(body, encoding, &node, None, received_at);
    let old = frame::decode(body, encoding)
        .map(|d| EventDocument::build(&d, &node, None, received_at));
    match (new, old) {
        (Ok(new), Ok(Ok(old))) => assert!(
            new.doc.bson.as_bytes() == old.bson.as_bytes(),
            "stored documents differ:\n  transcoder: {:?}\n  oracle:     {:?}",
            new.doc.bson,
            old.bson
        ),
        (Err(new), Err(old)) => assert_eq!(
            new.reason(),
            old.reason(),
            "refused for different reasons: transcoder {new}, oracle {old}"
        ),
        (new, old) => panic!(
            "verdicts differ: transcoder {:?}, oracle {:?}",
            new.map(|i| i.doc.id),
            old.map(|d| d.map(|d| d.id))
        ),
    }
}

/// Accepted frame → stored document → served JSON → decoded again: the same frame.
pub fn round_trip(decoded: &DecodedFrame) {
    let node = NodeId::parse("fuzz-node").unwrap();
    // A fixed receive time keeps every run of an input the same.
    let received_at = UNIX_EPOCH + Duration::from_millis(1_750_000_000_000);
    let doc = EventDocument::build(decoded, &node, None, received_at)
        .unwrap_or_else(|e| panic!("accepted frame cannot be stored: {e}"));
    let mut out = Vec::new();
    frame::render_event_json(&StoredEvent(doc.bson.clone()), &mut out)
        .unwrap_or_else(|e| panic!("stored frame cannot be served: {e}"));
    serde_json::from_slice::<serde_json::Value>(&out)
        .unwrap_or_else(|e| panic!("served JSON is invalid: {e}"));
    // `data` exactly as served (re-serializing a parsed tree could change the numbers).
    let prefix = format!(r#"{{"match_id":"{}","data":"#, doc.match_id.as_str());
    let data = out
        .strip_prefix(prefix.as_bytes())
        .and_then(|rest| rest.strip_suffix(b"}"))
        .unwrap_or_else(|| panic!("unexpected served shape: {}", String::from_utf8_lossy(&out)));
    let again = frame::decode(data, Encoding::Json).unwrap_or_else(|e| {
        panic!(
            "served data is refused by POST: {e}\n{}",
            String::from_utf8_lossy(data)
        )
    });
    assert_eq!(
        again.session, decoded.session,
        "session changed on round trip"
    );
    if again.frame != decoded.frame {
        panic!(
            "frame changed on round trip: {}",
            first_difference(
                &format!("{:?}", decoded.frame),
                &format!("{:?}", again.frame)
            )
        );
    }
}

/// Where two (long) debug renderings first differ, with some context: whole frames are too big
/// for a useful panic message.
pub fn first_difference(before: &str, after: &str) -> String {
    let at = before
        .char_indices()
        .zip(after.chars())
        .find(|((_, a), b)| a != b)
        .map_or(before.len().min(after.len()), |((i, _), _)| i);
    let window = |s: &str| {
        let start = s.floor_char_boundary(at.saturating_sub(120));
        let end = s.ceil_char_boundary((at + 60).min(s.len()));
        s[start..end].to_owned()
    };
    format!(
        "at byte {at}\n  before: ...{}...\n  after:  ...{}...",
        window(before),
        window(after)
    )
}
