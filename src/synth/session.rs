//! The game's own API inside a frame: `/session` (players, teams, disc, scores) and
//! `/player_bones`.

use super::{ARENA, BONES_PER_PLAYER, MatchGenerator, PLAYERS_PER_TEAM, mix, r3, v3};
use crate::proto::engine::v1::{
    BodyPart, Disc, HandPart, LastScore, LastThrowInfo, PauseState, PlayerBonesResponse,
    PlayerRoot, PlayerStats, SessionResponse, Team, TeamMember, TeamStats, UserBones,
};

impl MatchGenerator {
    fn member(&self, i: usize, index: u32, t: f64, rng: &mut fastrand::Rng) -> TeamMember {
        let p = &self.players[i];
        let pos = self.position(p, t);
        let vel = self.velocity(p, t);
        let yaw = p.phase[0] + 0.7 * t.sin() + 0.05 * rng.f64();
        let at = |dx: f64, dy: f64, dz: f64| [pos[0] + dx, pos[1] + dy, pos[2] + dz];
        let head_pos = at(0.0, 0.15 + 0.02 * rng.f64(), 0.0);
        let body_pos = at(0.0, -0.25, 0.0);
        let lhand = at(-0.35 * yaw.cos(), -0.3 + 0.2 * rng.f64(), 0.35 * yaw.sin());
        let rhand = at(0.35 * yaw.cos(), -0.3 + 0.2 * rng.f64(), -0.35 * yaw.sin());
        let (stunned, blocking) = (rng.u8(0..40) == 0, rng.u8(0..25) == 0);
        let holding = |right: bool| {
            if i == self.possessor(index) && right {
                "ball".to_owned()
            } else {
                "none".to_owned()
            }
        };
        TeamMember {
            weapon: ["assault", "blaster", "scout", "rocket"][i % 4].to_owned(),
            ordnance: ["arcmine", "detonator", "stun_field", "phaseshift"][i % 4].to_owned(),
            tac_mod: [
                "repair_matrix",
                "threat_scanner",
                "energy_barrier",
                "phaseshift",
            ][i % 4]
                .to_owned(),
            head: Some(body_part(head_pos, yaw, rng)),
            body: Some(body_part(body_pos, yaw, rng)),
            account_number: p.account_number,
            display_name: p.name.clone(),
            slot_number: p.slot,
            jersey_number: p.jersey,
            level: p.level,
            ping: p.ping + rng.i32(-3..4),
            packet_loss_ratio: r3(rng.f64() * 0.01),
            is_stunned: stunned,
            is_invulnerable: stunned && rng.bool(),
            left_holding_onto: holding(false),
            right_holding_onto: holding(true),
            is_blocking: blocking,
            is_emote_playing: rng.u8(0..50) == 0,
            has_possession: i == self.possessor(index),
            left_hand: Some(hand_part(lhand, yaw, rng)),
            right_hand: Some(hand_part(rhand, yaw, rng)),
            velocity: v3(vel),
            stats: Some(self.player_stats(i, index)),
        }
    }

    /// Counters grow over the match, each at its own rate, offset per player.
    fn player_stats(&self, i: usize, index: u32) -> PlayerStats {
        let n = index + self.players[i].stat_offset;
        let every = |frames: u32| (n / frames) as i32;
        let goals = every(2400);
        PlayerStats {
            possession_time: r3(f64::from(n % 5000) * 0.021),
            points: goals * 2 + every(9000),
            saves: every(1900),
            goals,
            stuns: every(600),
            passes: every(800),
            catches: every(700),
            steals: every(2100),
            blocks: every(2600),
            interceptions: every(3100),
            assists: every(2800),
            shots_taken: every(1200),
        }
    }

    pub(super) fn session(&self, index: u32, t: f64, rng: &mut fastrand::Rng) -> SessionResponse {
        let teams: Vec<Team> = ["BLUE TEAM", "ORANGE TEAM"]
            .iter()
            .enumerate()
            .map(|(team, name)| {
                let range = team * PLAYERS_PER_TEAM..(team + 1) * PLAYERS_PER_TEAM;
                let players: Vec<TeamMember> =
                    range.map(|i| self.member(i, index, t, rng)).collect();
                let stats = team_stats(&players);
                Team {
                    has_possession: players.iter().any(|p| p.has_possession),
                    players,
                    team_name: (*name).to_owned(),
                    stats: Some(stats),
                }
            })
            .chain(std::iter::once(Team {
                team_name: "SPECTATORS".to_owned(),
                ..Team::default()
            }))
            .collect();
        let blue_points = team_points(&teams[0]);
        let orange_points = team_points(&teams[1]);
        let clock = 300.0 - (t % 300.0);
        let possessor = self.possessor(index);
        let disc_pos: [f64; 3] =
            std::array::from_fn(|k| ARENA[k] * 0.7 * (0.31 * t + k as f64 + 0.9).sin());
        let disc_vel: [f64; 3] =
            std::array::from_fn(|k| ARENA[k] * 0.7 * 0.31 * (0.31 * t + k as f64 + 0.9).cos());
        let round = (index / 3000) as i32;
        SessionResponse {
            orange_team_restart_request: i32::from(index % 600 == 599),
            session_id: self.session_id.clone(),
            game_clock_display: clock_display(clock),
            game_status: "playing".to_owned(),
            session_ip: self.session_ip.clone(),
            match_type: "Echo_Arena".to_owned(),
            map_name: "mpl_arena_a".to_owned(),
            disc: Some(Disc {
                position: v3(disc_pos),
                forward: v3([0.0, 0.0, 1.0]),
                left: v3([1.0, 0.0, 0.0]),
                up: v3([0.0, 1.0, 0.0]),
                velocity: v3(disc_vel),
                bounce_count: (index % 7) as i32,
            }),
            blue_round_score: round / 2,
            orange_points,
            private_match: false,
            blue_team_restart_request: 0,
            tournament_match: self.seed.is_multiple_of(5),
            orange_round_score: (round + 1) / 2,
            total_round_count: 3,
            blue_points,
            last_throw: Some(throw_info(rng)),
            player: Some(PlayerRoot {
                vr_left: v3([1.0, 0.0, 0.0]),
                vr_position: v3([0.0, 1.5, -38.0]),
                vr_forward: v3([0.0, 0.0, 1.0]),
                vr_up: v3([0.0, 1.0, 0.0]),
            }),
            pause: Some(PauseState {
                paused_state: "unpaused".to_owned(),
                unpaused_team: "none".to_owned(),
                paused_requested_team: "none".to_owned(),
                unpaused_timer: 0.0,
                paused_timer: 0.0,
            }),
            possession: vec![(possessor / PLAYERS_PER_TEAM) as i32, possessor as i32],
            left_shoulder_pressed: 0.0,
            right_shoulder_pressed: r3(rng.f64() * 0.2),
            left_shoulder_pressed2: r3(rng.f64() * 0.05),
            right_shoulder_pressed2: r3(rng.f64() * 0.1),
            rules_changed_by: "[INVALID]".to_owned(),
            rules_changed_at: 1_748_800_000 + self.seed % 10_000,
            client_name: self.players[0].name.clone(),
            last_score: Some(self.last_score(index)),
            teams,
            payload_multiplier: 0.0,
            payload_checkpoint: 0,
            payload_distance: 0.0,
            payload_defenders: 0,
            payload_speed: 0.0,
            game_clock: r3(clock),
            err_code: 0,
        }
    }

    fn last_score(&self, index: u32) -> LastScore {
        let goal = index / 900;
        let scorer = (mix(self.seed, u64::from(goal) << 8) % 10) as usize;
        // A teammate of the scorer.
        let assist = scorer / 5 * 5 + (scorer % 5 + 1 + goal as usize % 4) % 5;
        LastScore {
            disc_speed: r3(8.0 + f64::from(goal % 13)),
            team: if scorer < 5 { "blue" } else { "orange" }.to_owned(),
            goal_type: ["INSIDE SHOT", "LONG SHOT", "BOUNCE SHOT"][goal as usize % 3].to_owned(),
            point_amount: 2 + (goal % 2) as i32,
            distance_thrown: r3(4.0 + f64::from(goal % 17) * 1.3),
            person_scored: self.players[scorer].name.clone(),
            assist_scored: self.players[assist].name.clone(),
        }
    }

    pub(super) fn bones(&self, t: f64, rng: &mut fastrand::Rng) -> PlayerBonesResponse {
        let user_bones = self
            .players
            .iter()
            .map(|p| {
                let pos = self.position(p, t);
                let mut bone_t = Vec::with_capacity(3 * BONES_PER_PLAYER);
                let mut bone_o = Vec::with_capacity(4 * BONES_PER_PLAYER);
                for b in 0..BONES_PER_PLAYER {
                    // Bones hang around the player's root, up to ~0.9 m away.
                    let off = (b as f64 / BONES_PER_PLAYER as f64) * 1.8 - 0.9;
                    bone_t.push((pos[0] + 0.2 * rng.f64() - 0.1) as f32);
                    bone_t.push((pos[1] + off) as f32);
                    bone_t.push((pos[2] + 0.2 * rng.f64() - 0.1) as f32);
                    let q = [rng.f64() - 0.5, rng.f64() - 0.5, rng.f64() - 0.5, 1.0];
                    let n = q.iter().map(|c| c * c).sum::<f64>().sqrt();
                    bone_o.extend(q.iter().map(|c| (c / n) as f32));
                }
                UserBones {
                    bone_t,
                    player_index: p.slot,
                    bone_o,
                }
            })
            .collect();
        PlayerBonesResponse {
            user_bones,
            err_code: 0,
        }
    }
}

/// Orthonormal basis for a yaw (plus a little jitter, as tracked heads and hands have).
fn basis(yaw: f64, rng: &mut fastrand::Rng) -> [Vec<f64>; 3] {
    let j = 0.05 * (rng.f64() - 0.5);
    let (s, c) = (yaw + j).sin_cos();
    [v3([s, j, c]), v3([c, 0.0, -s]), v3([-j * s, 1.0, -j * c])]
}

fn body_part(position: [f64; 3], yaw: f64, rng: &mut fastrand::Rng) -> BodyPart {
    let [forward, left, up] = basis(yaw, rng);
    BodyPart {
        position: v3(position),
        forward,
        left,
        up,
    }
}

fn hand_part(position: [f64; 3], yaw: f64, rng: &mut fastrand::Rng) -> HandPart {
    let [forward, left, up] = basis(yaw + 0.4 * (rng.f64() - 0.5), rng);
    HandPart {
        pos: v3(position),
        forward,
        left,
        up,
    }
}

pub(super) fn throw_info(rng: &mut fastrand::Rng) -> LastThrowInfo {
    let mut f = |lo: f64, hi: f64| r3(lo + rng.f64() * (hi - lo));
    LastThrowInfo {
        arm_speed: f(2.0, 9.0),
        total_speed: f(5.0, 22.0),
        off_axis_spin_deg: f(0.0, 45.0),
        wrist_throw_penalty: f(0.0, 0.3),
        rot_per_sec: f(0.0, 6.0),
        pot_speed_from_rot: f(0.0, 4.0),
        speed_from_arm: f(2.0, 12.0),
        speed_from_movement: f(0.0, 8.0),
        speed_from_wrist: f(0.0, 3.0),
        wrist_align_to_throw_deg: f(0.0, 90.0),
        throw_align_to_movement_deg: f(0.0, 180.0),
        off_axis_penalty: f(0.0, 0.5),
        throw_move_penalty: f(0.0, 0.5),
    }
}

fn team_stats(players: &[TeamMember]) -> TeamStats {
    let mut t = TeamStats::default();
    for s in players.iter().filter_map(|p| p.stats.as_ref()) {
        t.possession_time += s.possession_time;
        t.points += s.points;
        t.saves += s.saves;
        t.goals += s.goals;
        t.stuns += s.stuns;
        t.passes += s.passes;
        t.catches += s.catches;
        t.steals += s.steals;
        t.blocks += s.blocks;
        t.interceptions += s.interceptions;
        t.assists += s.assists;
        t.shots_taken += s.shots_taken;
    }
    t.possession_time = r3(t.possession_time);
    t
}

fn team_points(team: &Team) -> i32 {
    team.stats.as_ref().map_or(0, |s| s.points)
}

/// `MM:SS.ss`, as the game shows the clock.
fn clock_display(clock: f64) -> String {
    let cs = (clock * 100.0).round() as u32;
    format!("{:02}:{:02}.{:02}", cs / 6000, cs / 100 % 60, cs % 100)
}
