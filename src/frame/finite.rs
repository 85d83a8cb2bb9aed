//! Rejects NaN and infinities. protojson would accept them as strings, but the stored document
//! and the JSON served back cannot carry them faithfully (JSON writers turn them into `null`),
//! so a frame holding one would not round-trip: refuse it at the edge with the field's name.

use super::FrameError;
use crate::proto::LobbySessionStateFrame;
use crate::proto::engine::v1::{
    BodyPart, Disc, HandPart, LastScore, LastThrowInfo, PauseState, PlayerRoot, SessionResponse,
    TeamMember,
};
use crate::proto::telemetry::v1::lobby_session_event::Event;

type Check = Result<(), FrameError>;

fn num(field: &'static str, v: f64) -> Check {
    if v.is_finite() {
        Ok(())
    } else {
        Err(FrameError::NonFinite(field))
    }
}

fn all(field: &'static str, vs: &[f64]) -> Check {
    vs.iter().try_for_each(|v| num(field, *v))
}

fn all32(field: &'static str, vs: &[f32]) -> Check {
    vs.iter().try_for_each(|v| num(field, f64::from(*v)))
}

fn opt<T>(v: &Option<T>, f: impl FnOnce(&T) -> Check) -> Check {
    v.as_ref().map_or(Ok(()), f)
}

pub(super) fn check(frame: &LobbySessionStateFrame) -> Check {
    opt(&frame.session, session)?;
    opt(&frame.player_bones, |b| {
        b.user_bones.iter().try_for_each(|u| {
            all32("player_bones.user_bones.bone_t", &u.bone_t)?;
            all32("player_bones.user_bones.bone_o", &u.bone_o)
        })
    })?;
    frame.events.iter().try_for_each(|e| match &e.event {
        Some(Event::RoundPaused(p)) => opt(&p.pause_state, pause),
        Some(Event::RoundUnpaused(p)) => opt(&p.pause_state, pause),
        Some(Event::DiscThrown(t)) => opt(&t.throw_details, throw),
        Some(Event::GoalScored(g)) => opt(&g.score_details, score),
        Some(Event::PlayerJoined(j)) => opt(&j.player, member),
        _ => Ok(()),
    })
}

fn session(s: &SessionResponse) -> Check {
    opt(&s.disc, disc)?;
    opt(&s.last_throw, throw)?;
    opt(&s.player, player_root)?;
    opt(&s.pause, pause)?;
    opt(&s.last_score, score)?;
    num("session.left_shoulder_pressed", s.left_shoulder_pressed)?;
    num("session.right_shoulder_pressed", s.right_shoulder_pressed)?;
    num("session.left_shoulder_pressed2", s.left_shoulder_pressed2)?;
    num("session.right_shoulder_pressed2", s.right_shoulder_pressed2)?;
    num("session.payload_multiplier", s.payload_multiplier)?;
    num("session.payload_distance", s.payload_distance)?;
    num("session.payload_speed", s.payload_speed)?;
    num("session.game_clock", s.game_clock)?;
    s.teams.iter().try_for_each(|t| {
        opt(&t.stats, |st| {
            num("teams.stats.possession_time", st.possession_time)
        })?;
        t.players.iter().try_for_each(member)
    })
}

fn disc(d: &Disc) -> Check {
    all("disc.position", &d.position)?;
    all("disc.forward", &d.forward)?;
    all("disc.left", &d.left)?;
    all("disc.up", &d.up)?;
    all("disc.velocity", &d.velocity)
}

fn player_root(p: &PlayerRoot) -> Check {
    all("player.vr_left", &p.vr_left)?;
    all("player.vr_position", &p.vr_position)?;
    all("player.vr_forward", &p.vr_forward)?;
    all("player.vr_up", &p.vr_up)
}

fn pause(p: &PauseState) -> Check {
    num("pause.unpaused_timer", p.unpaused_timer)?;
    num("pause.paused_timer", p.paused_timer)
}

fn score(s: &LastScore) -> Check {
    num("last_score.disc_speed", s.disc_speed)?;
    num("last_score.distance_thrown", s.distance_thrown)
}

fn throw(t: &LastThrowInfo) -> Check {
    all(
        "last_throw",
        &[
            t.arm_speed,
            t.total_speed,
            t.off_axis_spin_deg,
            t.wrist_throw_penalty,
            t.rot_per_sec,
            t.pot_speed_from_rot,
            t.speed_from_arm,
            t.speed_from_movement,
            t.speed_from_wrist,
            t.wrist_align_to_throw_deg,
            t.throw_align_to_movement_deg,
            t.off_axis_penalty,
            t.throw_move_penalty,
        ],
    )
}

fn body(field: &'static str, b: &BodyPart) -> Check {
    [&b.position, &b.forward, &b.left, &b.up]
        .into_iter()
        .try_for_each(|v| all(field, v))
}

fn hand(field: &'static str, h: &HandPart) -> Check {
    [&h.pos, &h.forward, &h.left, &h.up]
        .into_iter()
        .try_for_each(|v| all(field, v))
}

fn member(m: &TeamMember) -> Check {
    opt(&m.head, |b| body("player.head", b))?;
    opt(&m.body, |b| body("player.body", b))?;
    opt(&m.left_hand, |h| hand("player.lhand", h))?;
    opt(&m.right_hand, |h| hand("player.rhand", h))?;
    num("player.packetlossratio", m.packet_loss_ratio)?;
    all("player.velocity", &m.velocity)?;
    opt(&m.stats, |s| {
        num("player.stats.possession_time", s.possession_time)
    })
}
