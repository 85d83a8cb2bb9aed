//! Values binary protobuf can carry but the stored protojson cannot: enum numbers outside the
//! schema and timestamps outside RFC 3339's years 0001-9999. JSON input cannot produce them
//! (names are checked while parsing), but protobuf input can, and they would fail only when the
//! document is built (a 500) or be served back in a form POST refuses. Refuse them as input.

use super::FrameError;
use crate::proto::LobbySessionStateFrame;
use crate::proto::telemetry::v1::Role;
use crate::proto::telemetry::v1::emote_played::EmoteType;
use crate::proto::telemetry::v1::lobby_session_event::Event;

/// 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z.
const MIN_SECONDS: i64 = -62_135_596_800;
const MAX_SECONDS: i64 = 253_402_300_799;

fn role(field: &'static str, v: i32) -> Result<(), FrameError> {
    Role::try_from(v)
        .map(drop)
        .map_err(|_| FrameError::OutOfRange(field))
}

/// A `GenericEvent.data` key both stores can keep as it was sent. BSON keys cannot hold NUL,
/// and MongoDB (and FerretDB) refuse a field name that starts with `$` or holds a `.` (the
/// embedded store would keep them, so the same frame would be 200 on one store and 500 on the
/// other). They are refused as input on both stores (400) rather than stored in an escaped
/// form: an escape would have to be reversed by every read path and export, and a key that
/// merely looked escaped would come back changed. A `$` later in a key is fine.
pub(super) fn data_key(k: &str) -> Result<(), FrameError> {
    data_key_problem(k.as_bytes()).map_or(Ok(()), |why| Err(FrameError::DataKey(why)))
}

/// What [`data_key`] refuses in a key, if anything; on bytes, for the transcoder too, so both
/// decoders refuse the same keys with the same words.
pub(super) fn data_key_problem(k: &[u8]) -> Option<&'static str> {
    if k.contains(&0) {
        Some("holds a NUL byte")
    } else if k.starts_with(b"$") {
        Some("starts with `$`, which MongoDB refuses in a field name")
    } else if k.contains(&b'.') {
        Some("holds a `.`, which MongoDB refuses in a field name")
    } else {
        None
    }
}

/// Also folds a leap second (`…23:59:60.5Z`, which the RFC 3339 parser keeps as nanos past one
/// second) into the next second, as protobuf's smeared time does.
pub(super) fn check(frame: &mut LobbySessionStateFrame) -> Result<(), FrameError> {
    if let Some(t) = &mut frame.timestamp {
        if (1_000_000_000..2_000_000_000).contains(&t.nanos) {
            t.seconds = t.seconds.saturating_add(1);
            t.nanos -= 1_000_000_000;
        }
        if !(MIN_SECONDS..=MAX_SECONDS).contains(&t.seconds)
            || !(0..1_000_000_000).contains(&t.nanos)
        {
            return Err(FrameError::OutOfRange("timestamp"));
        }
    }
    frame.events.iter().try_for_each(|e| match &e.event {
        Some(Event::RoundEnded(x)) => role("round_ended.winning_team", x.winning_team),
        Some(Event::MatchEnded(x)) => role("match_ended.winning_team", x.winning_team),
        Some(Event::PlayerJoined(x)) => role("player_joined.role", x.role),
        Some(Event::PlayerSwitchedTeam(x)) => {
            role("player_switched_team.new_role", x.new_role)?;
            role("player_switched_team.prev_role", x.prev_role)
        }
        Some(Event::GenericEvent(x)) => x.data.keys().try_for_each(|k| data_key(k)),
        Some(Event::EmotePlayed(x)) => EmoteType::try_from(x.emote)
            .map(drop)
            .map_err(|_| FrameError::OutOfRange("emote_played.emote")),
        _ => Ok(()),
    })
}
