//! Arbitrary UTF-8 through every id parser and the paging cursor. No panic; a parsed match id
//! is canonical (lower-case uuid part), re-parses from its own string to an equal value, and
//! splits back into the node it was built from; a cursor has exactly one accepted spelling.
#![no_main]

use libfuzzer_sys::fuzz_target;
use session_events::ids::{MatchId, NodeId, SessionId, UserId};
use session_events::store::Cursor;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };

    if let Ok(id) = MatchId::parse(s) {
        let text = id.as_str();
        let (uuid, node) = text.split_at(36);
        assert!(
            !uuid.bytes().any(|b| b.is_ascii_uppercase()),
            "uuid part not lower-case: {text:?}"
        );
        assert_eq!(node.as_bytes()[0], b'.', "{text:?}");
        assert_eq!(id.node(), &node[1..]);
        // The node part is what followed the uuid, verbatim.
        assert_eq!(id.node(), &s[37..]);
        assert_eq!(
            MatchId::parse(text).as_ref(),
            Ok(&id),
            "{text:?} does not re-parse"
        );
        assert_eq!(id.to_string(), text);
        let session = SessionId::parse(uuid).expect("uuid part of a match id is a session id");
        let node = NodeId::parse(id.node()).expect("node part of a match id is a node id");
        assert_eq!(MatchId::new(session, &node), id);
    }

    if let Ok(node) = NodeId::parse(s) {
        assert_eq!(node.as_str(), s);
    }
    if let Ok(user) = UserId::parse(s) {
        assert_eq!(user.as_str(), s);
    }
    if let Ok(session) = SessionId::parse(s) {
        assert!(!session.uuid().is_nil());
        let canonical = session.uuid().hyphenated().to_string();
        assert_eq!(SessionId::parse(&canonical), Ok(session));
    }
    if let Some(cursor) = Cursor::decode(s) {
        // One spelling per cursor (base64 without padding, no stray trailing bits).
        assert_eq!(cursor.encode(), s);
    }
});
