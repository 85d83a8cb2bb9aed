//! Validated identifiers, parsed once at the HTTP edge so the rest of the service can trust them.

use std::fmt;

use uuid::Uuid;

/// Node id used when a request carries no (or an empty) `X-Node-ID` header.
pub const DEFAULT_NODE_ID: &str = "default-node";
/// Longest accepted node id, in bytes.
pub const MAX_NODE_ID_LEN: usize = 128;
/// Longest accepted user id, in bytes.
pub const MAX_USER_ID_LEN: usize = 256;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error(
        "node id must be 1-{MAX_NODE_ID_LEN} bytes of visible ASCII without '/', '?', '#', '%' or spaces"
    )]
    BadNodeId,
    #[error(
        "user id must be at most {MAX_USER_ID_LEN} bytes of visible ASCII or UTF-8 without control characters"
    )]
    BadUserId,
    #[error("session id is not a UUID")]
    BadSessionId,
    #[error("session id is the nil UUID")]
    NilSessionId,
    #[error("match id must look like '<session uuid>.<node id>'")]
    BadMatchId,
}

/// The game server node that produced a frame (the `X-Node-ID` header).
///
/// Node ids end up in URLs and logs, so they are restricted to visible ASCII without URL
/// delimiters; dots are allowed (the match id splits at the first dot after the uuid).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NodeId(String);

impl NodeId {
    pub fn parse(raw: &str) -> Result<Self, IdError> {
        let valid = !raw.is_empty()
            && raw.len() <= MAX_NODE_ID_LEN
            && raw
                .bytes()
                .all(|b| b.is_ascii_graphic() && !matches!(b, b'/' | b'?' | b'#' | b'%'));
        valid
            .then(|| Self(raw.to_owned()))
            .ok_or(IdError::BadNodeId)
    }

    /// The header value, or [`DEFAULT_NODE_ID`] when it is absent or empty.
    pub fn from_header(raw: Option<&str>) -> Result<Self, IdError> {
        match raw {
            None | Some("") => Ok(Self(DEFAULT_NODE_ID.to_owned())),
            Some(raw) => Self::parse(raw),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The optional `X-User-ID` header, stored as given.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UserId(String);

impl UserId {
    pub fn parse(raw: &str) -> Result<Self, IdError> {
        let valid = raw.len() <= MAX_USER_ID_LEN && !raw.chars().any(char::is_control);
        valid
            .then(|| Self(raw.to_owned()))
            .ok_or(IdError::BadUserId)
    }

    /// `None` when the header is absent or empty.
    pub fn from_header(raw: Option<&str>) -> Result<Option<Self>, IdError> {
        match raw {
            None | Some("") => Ok(None),
            Some(raw) => Self::parse(raw).map(Some),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A game session id: any UUID spelling the game or producers use, never nil.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionId(Uuid);

impl SessionId {
    /// Accepts canonical, 32-hex, braced and `urn:uuid:` forms in any case.
    pub fn parse(raw: &str) -> Result<Self, IdError> {
        let uuid = Uuid::try_parse(raw.trim()).map_err(|_| IdError::BadSessionId)?;
        if uuid.is_nil() {
            return Err(IdError::NilSessionId);
        }
        Ok(Self(uuid))
    }

    pub fn uuid(&self) -> Uuid {
        self.0
    }
}

/// `<session uuid>.<node id>`: the key every stored event is filed and read under.
///
/// Always held in canonical form (lower-case hyphenated uuid), so equal matches compare equal
/// as strings in the store.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MatchId(String);

const UUID_LEN: usize = 36;

impl MatchId {
    pub fn new(session: SessionId, node: &NodeId) -> Self {
        let mut s = String::with_capacity(UUID_LEN + 1 + node.as_str().len());
        s.push_str(
            session
                .0
                .hyphenated()
                .encode_lower(&mut Uuid::encode_buffer()),
        );
        s.push('.');
        s.push_str(node.as_str());
        Self(s)
    }

    /// Parses a match id from a URL; the uuid part is matched case-insensitively.
    pub fn parse(raw: &str) -> Result<Self, IdError> {
        let (uuid, node) = match (raw.get(..UUID_LEN), raw.get(UUID_LEN..)) {
            (Some(uuid), Some(rest)) if rest.starts_with('.') => (uuid, &rest[1..]),
            _ => return Err(IdError::BadMatchId),
        };
        let session = Uuid::try_parse(uuid)
            .ok()
            .filter(|u| !u.is_nil())
            .ok_or(IdError::BadMatchId)?;
        let node = NodeId::parse(node).map_err(|_| IdError::BadMatchId)?;
        Ok(Self::new(SessionId(session), &node))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The node part (everything after the first dot following the uuid).
    pub fn node(&self) -> &str {
        &self.0[UUID_LEN + 1..]
    }
}

impl fmt::Display for MatchId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UPPER: &str = "892E23E2-8272-4B07-85E8-5E291AC85F93";
    const LOWER: &str = "892e23e2-8272-4b07-85e8-5e291ac85f93";

    #[test]
    fn session_id_accepts_every_uuid_spelling() {
        for raw in [
            UPPER,
            LOWER,
            "892e23e282724b0785e85e291ac85f93",
            "{892E23E2-8272-4B07-85E8-5E291AC85F93}",
            "urn:uuid:892e23e2-8272-4b07-85e8-5e291ac85f93",
        ] {
            let id = SessionId::parse(raw).unwrap_or_else(|e| panic!("{raw}: {e}"));
            assert_eq!(id.uuid().hyphenated().to_string(), LOWER);
        }
    }

    #[test]
    fn session_id_rejects_nil_and_garbage() {
        assert_eq!(
            SessionId::parse("00000000-0000-0000-0000-000000000000"),
            Err(IdError::NilSessionId)
        );
        assert_eq!(SessionId::parse("not-a-uuid"), Err(IdError::BadSessionId));
        assert_eq!(SessionId::parse(""), Err(IdError::BadSessionId));
    }

    #[test]
    fn match_id_is_lower_case_and_splits_after_the_uuid() {
        let node = NodeId::parse("eu.west.1").unwrap();
        let id = MatchId::new(SessionId::parse(UPPER).unwrap(), &node);
        assert_eq!(id.as_str(), format!("{LOWER}.eu.west.1"));
        assert_eq!(id.node(), "eu.west.1");
        assert_eq!(MatchId::parse(&format!("{UPPER}.eu.west.1")).unwrap(), id);
    }

    #[test]
    fn match_id_rejects_malformed_input() {
        for raw in [
            "",
            LOWER,
            &format!("{LOWER}."),
            &format!("{LOWER}x node"),
            "nope.node1",
            &format!("{LOWER}.a/b"),
            "00000000-0000-0000-0000-000000000000.n",
            &format!("{LOWER}.{}", "x".repeat(MAX_NODE_ID_LEN + 1)),
        ] {
            assert_eq!(MatchId::parse(raw), Err(IdError::BadMatchId), "{raw:?}");
        }
    }

    #[test]
    fn node_id_rules() {
        assert_eq!(NodeId::from_header(None).unwrap().as_str(), DEFAULT_NODE_ID);
        assert_eq!(
            NodeId::from_header(Some("")).unwrap().as_str(),
            DEFAULT_NODE_ID
        );
        assert!(NodeId::parse(&"n".repeat(MAX_NODE_ID_LEN)).is_ok());
        for bad in ["a b", "a/b", "a?b", "a#b", "a%b", "é", "\u{7f}", "tab\t"] {
            assert_eq!(NodeId::parse(bad), Err(IdError::BadNodeId), "{bad:?}");
        }
        assert!(NodeId::parse(&"n".repeat(MAX_NODE_ID_LEN + 1)).is_err());
    }

    #[test]
    fn user_id_rules() {
        assert_eq!(UserId::from_header(Some("")).unwrap(), None);
        assert!(UserId::parse(&"u".repeat(MAX_USER_ID_LEN)).is_ok());
        assert!(UserId::parse(&"u".repeat(MAX_USER_ID_LEN + 1)).is_err());
        assert!(UserId::parse("a\nb").is_err());
    }
}
