//! Synthetic telemetry frames for integration tests, criterion benches and the load generator.
//!
//! Real captures cannot be shipped with the repository, so this module builds frames that look
//! like what a 5v5 EchoVR arena match produces: the same fields filled, realistic magnitudes, and
//! about the same encoded sizes (see [`Profile`]). Everything is derived from the generator's
//! seed and the frame index, so benches and tests are reproducible and any frame of a match can
//! be built without building the ones before it. Only dependencies the service already has are
//! used, so the generator can run inside the load generator binary.

use std::collections::BTreeMap;

use pbjson_types::Timestamp;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::proto::LobbySessionStateFrame;
use crate::proto::engine::v1::{
    BodyPart, Disc, HandPart, LastScore, LastThrowInfo, PauseState, PlayerBonesResponse,
    PlayerRoot, PlayerStats, SessionResponse, Team, TeamMember, TeamStats, UserBones,
};
use crate::proto::telemetry::v1::{
    DiscCaught, DiscPossessionChanged, DiscThrown, EmotePlayed, GenericEvent, GoalScored,
    LobbySessionEvent, MatchEnded, PlayerAssist, PlayerBlock, PlayerGoal, PlayerInterception,
    PlayerJoined, PlayerLeft, PlayerPass, PlayerSave, PlayerShotTaken, PlayerSteal, PlayerStun,
    PlayerSwitchedTeam, Role, RoundEnded, RoundPaused, RoundStarted, RoundUnpaused,
    ScoreboardUpdated, emote_played::EmoteType, lobby_session_event::Event,
};

/// How much of a frame to fill: the two shapes producers post.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Profile {
    /// `session` only: about 11-12 KB of protojson, 6.5 KB of protobuf (the common frame).
    Session,
    /// `session` plus `player_bones` (23 bones per player): about 30 KB of protojson, 13 KB of
    /// protobuf; the largest frame producers send, for body-limit and throughput worst cases.
    SessionWithBones,
}

/// Players per team (a full 5v5 arena match).
pub const PLAYERS_PER_TEAM: usize = 5;
/// Bones per player in `player_bones` (translation: 3 floats, orientation: 4 floats each).
pub const BONES_PER_PLAYER: usize = 23;
/// Time between two frames: producers poll the game at 10 Hz.
pub const FRAME_INTERVAL_MS: i64 = 100;
/// Start of frame 0 unless [`MatchGenerator::with_start_unix_ms`] says otherwise
/// (2025-06-01T18:00:00Z): fixed so that the same seed gives byte-identical frames.
pub const DEFAULT_START_UNIX_MS: i64 = 1_748_800_800_000;

const NAMES: &[&str] = &[
    "NovaStrike",
    "sh4dowfax",
    "Quasar_VR",
    "DiscJockey",
    "ZeroGravKid",
    "orbitalmaddie",
    "Pulsefire",
    "kestrel-77",
    "BoostBandit",
    "LunaLoop",
    "StunLocked",
    "echo_ghost",
    "VectorVee",
    "CaptainFlux",
    "tiltedjuno",
    "Rook.Reflex",
];

/// Vector magnitudes for arena coordinates (metres): the arena is ~80 m long along z.
const ARENA: [f64; 3] = [14.0, 4.0, 36.0];

/// One player of the generated match, fixed for the whole match.
#[derive(Debug, Clone)]
struct Player {
    name: String,
    account_number: u64,
    slot: i32,
    jersey: i32,
    level: i32,
    ping: i32,
    /// Per-player phase and speed of the smooth motion (so motion is continuous in time).
    phase: [f64; 3],
    speed: [f64; 3],
    /// Offset added to stat counters, so players do not score in lockstep.
    stat_offset: u32,
}

/// Builds the frames of one synthetic match.
///
/// [`MatchGenerator::frame`] depends only on `(session_id, seed, profile, start time, index)`:
/// frames may be built in any order, repeatedly, on any thread with its own generator.
#[derive(Debug, Clone)]
pub struct MatchGenerator {
    /// Upper case, as the game prints it.
    session_id: String,
    seed: u64,
    profile: Profile,
    start_unix_ms: i64,
    session_ip: String,
    players: Vec<Player>,
}

impl MatchGenerator {
    /// A match whose ten players (names, account numbers, motion) are fixed by `seed`.
    pub fn new(session_id: Uuid, seed: u64, profile: Profile) -> Self {
        let mut rng = fastrand::Rng::with_seed(mix(seed, u64::MAX));
        let mut names: Vec<&str> = NAMES.to_vec();
        rng.shuffle(&mut names);
        let players = (0..2 * PLAYERS_PER_TEAM)
            .map(|i| Player {
                name: names[i % names.len()].to_owned(),
                // Oculus/Meta account ids: 16-17 digits, some above 2^53 so that JSON
                // consumers that parse numbers as doubles would lose precision.
                account_number: rng.u64(1_000_000_000_000_000..20_000_000_000_000_000),
                slot: i as i32,
                jersey: rng.i32(0..100),
                level: rng.i32(1..51),
                ping: rng.i32(18..140),
                phase: [
                    rng.f64() * std::f64::consts::TAU,
                    rng.f64() * std::f64::consts::TAU,
                    rng.f64() * std::f64::consts::TAU,
                ],
                speed: [
                    0.2 + rng.f64() * 0.5,
                    0.3 + rng.f64() * 0.6,
                    0.05 + rng.f64() * 0.2,
                ],
                stat_offset: rng.u32(0..3000),
            })
            .collect();
        let session_ip = format!(
            "10.{}.{}.{}",
            rng.u8(0..=255),
            rng.u8(0..=255),
            rng.u8(1..=254)
        );
        Self {
            session_id: session_id.hyphenated().to_string().to_uppercase(),
            seed,
            profile,
            start_unix_ms: DEFAULT_START_UNIX_MS,
            session_ip,
            players,
        }
    }

    /// Moves frame 0 to `unix_ms` (the load generator uses the current time).
    pub fn with_start_unix_ms(mut self, unix_ms: i64) -> Self {
        self.start_unix_ms = unix_ms;
        self
    }

    /// The session id as it appears in the frames (upper case).
    pub fn session_id(&self) -> &str {
        &self.session_id
    }

    pub fn profile(&self) -> Profile {
        self.profile
    }

    /// Frame number `index` of the match: `frame_index = index`, timestamp = start +
    /// `index * 100 ms`, and one or two events (the kind cycles with the index). Takes
    /// `&mut self` so that per-match caches can be added without changing callers.
    pub fn frame(&mut self, index: u32) -> LobbySessionStateFrame {
        let mut rng = fastrand::Rng::with_seed(mix(self.seed, u64::from(index)));
        let t = f64::from(index) * FRAME_INTERVAL_MS as f64 / 1000.0;
        let session = self.session(index, t, &mut rng);
        let events = self.events(index, &session, &mut rng);
        let player_bones = match self.profile {
            Profile::Session => None,
            Profile::SessionWithBones => Some(self.bones(t, &mut rng)),
        };
        let ms = self.start_unix_ms + i64::from(index) * FRAME_INTERVAL_MS;
        LobbySessionStateFrame {
            frame_index: index,
            timestamp: Some(Timestamp {
                seconds: ms.div_euclid(1000),
                nanos: (ms.rem_euclid(1000) * 1_000_000) as i32,
            }),
            events,
            session: Some(session),
            player_bones,
        }
    }

    fn position(&self, p: &Player, t: f64) -> [f64; 3] {
        std::array::from_fn(|k| ARENA[k] * 0.8 * (p.speed[k] * t + p.phase[k]).sin())
    }

    fn velocity(&self, p: &Player, t: f64) -> [f64; 3] {
        std::array::from_fn(|k| ARENA[k] * 0.8 * p.speed[k] * (p.speed[k] * t + p.phase[k]).cos())
    }

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

    /// Slot of the player holding the disc (changes every 4 s).
    fn possessor(&self, index: u32) -> usize {
        (mix(self.seed, u64::from(index / 40)) % (2 * PLAYERS_PER_TEAM as u64)) as usize
    }

    fn session(&self, index: u32, t: f64, rng: &mut fastrand::Rng) -> SessionResponse {
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

    fn events(
        &self,
        index: u32,
        session: &SessionResponse,
        rng: &mut fastrand::Rng,
    ) -> Vec<LobbySessionEvent> {
        const KINDS: u32 = 20;
        let slot = self.possessor(index) as i32;
        let prev = self.possessor(index.wrapping_sub(40)) as i32;
        let player = |k: u32| self.players[((index / KINDS + k) % 10) as usize].slot;
        let role = |s: i32| if s < 5 { Role::BlueTeam } else { Role::OrangeTeam } as i32;
        let mut pause = |state: &str| PauseState {
            paused_state: state.to_owned(),
            unpaused_team: "blue".to_owned(),
            paused_requested_team: "orange".to_owned(),
            unpaused_timer: r3(rng.f64() * 3.0),
            paused_timer: r3(10.0 + rng.f64() * 50.0),
        };
        let main = match index % KINDS {
            0 => {
                let i = (index / KINDS % 10) as usize;
                Event::PlayerJoined(PlayerJoined {
                    player: session
                        .teams
                        .get(i / PLAYERS_PER_TEAM)
                        .and_then(|t| t.players.get(i % PLAYERS_PER_TEAM))
                        .cloned(),
                    role: role(i as i32),
                })
            }
            1 => Event::DiscPossessionChanged(DiscPossessionChanged {
                player_slot: slot,
                // -1: nobody had the disc (the first frame of the match).
                previous_player_slot: if index < 40 { -1 } else { prev },
            }),
            2 => Event::ScoreboardUpdated(ScoreboardUpdated {
                blue_points: session.blue_points,
                orange_points: session.orange_points,
                blue_round_score: session.blue_round_score,
                orange_round_score: session.orange_round_score,
                game_clock_display: session.game_clock_display.clone(),
            }),
            3 => Event::GenericEvent(GenericEvent {
                event_type: "synth.heartbeat".to_owned(),
                data: BTreeMap::from([
                    ("frame".to_owned(), index.to_string()),
                    ("source".to_owned(), "session_events::synth".to_owned()),
                    ("game_clock".to_owned(), session.game_clock_display.clone()),
                    ("seed".to_owned(), self.seed.to_string()),
                ]),
                payload: format!("{{\"n\":{index}}}"),
            }),
            4 => Event::DiscThrown(DiscThrown {
                player_slot: slot,
                throw_details: Some(throw_info(rng)),
            }),
            5 => Event::DiscCaught(DiscCaught { player_slot: slot }),
            6 => Event::PlayerStun(PlayerStun {
                player_slot: player(1),
                total_stuns: (index / 600) as i32 + 1,
            }),
            7 => Event::PlayerPass(PlayerPass {
                player_slot: player(2),
                total_passes: (index / 800) as i32 + 1,
            }),
            8 => Event::PlayerSave(PlayerSave {
                player_slot: player(3),
                total_saves: (index / 1900) as i32 + 1,
            }),
            9 => Event::PlayerSteal(PlayerSteal {
                player_slot: player(4),
                total_steals: (index / 2100) as i32 + 1,
                victim_player_slot: (player(4) + 5) % 10,
            }),
            10 => Event::GoalScored(GoalScored {
                score_details: session.last_score.clone(),
            }),
            11 => Event::PlayerGoal(PlayerGoal {
                player_slot: player(5),
                total_goals: (index / 2400) as i32 + 1,
                points: 2 + (index % 2) as i32,
            }),
            12 => Event::EmotePlayed(EmotePlayed {
                player_slot: player(6),
                emote: if index % 40 < 20 {
                    EmoteType::Primary
                } else {
                    EmoteType::Secondary
                } as i32,
            }),
            13 => Event::PlayerBlock(PlayerBlock {
                player_slot: player(7),
                total_blocks: (index / 2600) as i32 + 1,
            }),
            14 => Event::PlayerInterception(PlayerInterception {
                player_slot: player(8),
                total_interceptions: (index / 3100) as i32 + 1,
            }),
            15 => Event::PlayerAssist(PlayerAssist {
                player_slot: player(9),
                total_assists: (index / 2800) as i32 + 1,
            }),
            16 => Event::PlayerShotTaken(PlayerShotTaken {
                player_slot: player(0),
                total_shots: (index / 1200) as i32 + 1,
            }),
            17 => match (index / KINDS) % 4 {
                0 => Event::RoundPaused(RoundPaused {
                    pause_state: Some(pause("paused")),
                }),
                1 => Event::RoundUnpaused(RoundUnpaused {
                    pause_state: Some(pause("unpaused")),
                }),
                2 => Event::RoundStarted(RoundStarted {
                    round_number: (index / 3000) as i32 + 1,
                }),
                _ => Event::RoundEnded(RoundEnded {
                    round_number: (index / 3000) as i32 + 1,
                    winning_team: role(player(1)),
                }),
            },
            18 => {
                let s = player(2);
                Event::PlayerSwitchedTeam(PlayerSwitchedTeam {
                    player_slot: s,
                    new_role: if s < 5 {
                        Role::OrangeTeam
                    } else {
                        Role::Spectator
                    } as i32,
                    prev_role: role(s),
                })
            }
            _ => match (index / KINDS) % 2 {
                0 => Event::PlayerLeft(PlayerLeft {
                    player_slot: player(3),
                    display_name: self.players[player(3) as usize].name.clone(),
                }),
                _ => Event::MatchEnded(MatchEnded {
                    winning_team: role(player(4)),
                }),
            },
        };
        let mut events = vec![LobbySessionEvent { event: Some(main) }];
        // A catch is followed by a possession change in the same poll, as the game reports it.
        if index % KINDS == 5 {
            events.push(LobbySessionEvent {
                event: Some(Event::DiscPossessionChanged(DiscPossessionChanged {
                    player_slot: slot,
                    previous_player_slot: prev,
                })),
            });
        }
        events
    }

    fn bones(&self, t: f64, rng: &mut fastrand::Rng) -> PlayerBonesResponse {
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

/// SplitMix64 of `seed` and `n`: a cheap, well-mixed per-frame seed.
fn mix(seed: u64, n: u64) -> u64 {
    let mut z = seed ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Millimetre precision, as the game prints most values; also turns -0.0 into 0.0.
fn r3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0 + 0.0
}

/// Vectors get a tenth of a millimetre: tracked poses carry more digits than the scalars.
fn v3(v: [f64; 3]) -> Vec<f64> {
    v.iter()
        .map(|x| (x * 10_000.0).round() / 10_000.0 + 0.0)
        .collect()
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

fn throw_info(rng: &mut fastrand::Rng) -> LastThrowInfo {
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

/// protojson with JSON names (`frameIndex`, `sessionid`, `userid`, `lhand`), as Go producers
/// send it and as the service returns it.
///
/// # Panics
/// If the frame holds an enum number outside the schema or a timestamp chrono cannot represent
/// (pbjson refuses to write those); generated frames never do.
pub fn to_json(frame: &LobbySessionStateFrame) -> Vec<u8> {
    serde_json::to_vec(frame).expect("frame serializes as protojson")
}

/// The same frame as a C++ producer sends it: protojson with every key the proto field name
/// (`frame_index`, `session_id`, `player_bones`, `account_number`, `left_hand`, `slot_number`,
/// `player_index`), so tests and load runs exercise the second accepted spelling.
///
/// Builds a JSON tree to rename the keys, so it costs several times [`to_json`]: load
/// generators should render their bodies before the run.
///
/// # Panics
/// As [`to_json`].
pub fn to_proto_names_json(frame: &LobbySessionStateFrame) -> Vec<u8> {
    serde_json::to_vec(&to_proto_names_value(frame)).expect("a JSON value serializes")
}

/// [`to_proto_names_json`] as a JSON tree (for pretty-printing or further edits in tests).
pub fn to_proto_names_value(frame: &LobbySessionStateFrame) -> Value {
    let value = serde_json::to_value(frame).expect("frame serializes as protojson");
    rename(value, Msg::Frame)
}

/// Binary protobuf (`application/x-protobuf`).
pub fn to_protobuf(frame: &LobbySessionStateFrame) -> Vec<u8> {
    prost::Message::encode_to_vec(frame)
}

/// Which message a JSON object is, as far as renaming its keys needs to know: a JSON name can
/// map to different proto names in different messages (`playerid` is `slot_number` in a
/// `TeamMember` but `player_index` in `UserBones`; `possession` is `has_possession` in a team
/// member but `possession` in the session), and map keys must not be renamed at all.
#[derive(Debug, Clone, Copy)]
enum Msg {
    Frame,
    /// `LobbySessionEvent`: its keys name the oneof member.
    Event,
    /// Any event message inside a `LobbySessionEvent`.
    EventBody,
    Session,
    Team,
    Member,
    Bones,
    UserBones,
    /// `repeated float`: the tree holds the numbers as f64, whose shortest digits are longer
    /// than the f32's, so they are rewritten to the f32's digits, as a C++ producer prints them.
    Float32,
    /// A message whose fields all use the default JSON name and hold no such message.
    Plain,
    /// `map<string,string>`: keys are data.
    Map,
}

/// The proto field name for `key` in message `msg`, and the kind of its value.
fn proto_name(msg: Msg, key: &str) -> (String, Msg) {
    let explicit = |name: &str, child: Msg| (name.to_owned(), child);
    match (msg, key) {
        (Msg::Map, _) => explicit(key, Msg::Map),
        (Msg::Frame, "session") => explicit("session", Msg::Session),
        (Msg::Frame, "playerBones") => explicit("player_bones", Msg::Bones),
        (Msg::Frame, "events") => explicit("events", Msg::Event),
        (Msg::Event, _) => (snake_case(key), Msg::EventBody),
        (Msg::EventBody, "player") => explicit("player", Msg::Member),
        (Msg::EventBody, "data") => explicit("data", Msg::Map),
        (Msg::Session, "sessionid") => explicit("session_id", Msg::Plain),
        (Msg::Session, "sessionip") => explicit("session_ip", Msg::Plain),
        (Msg::Session, "teams") => explicit("teams", Msg::Team),
        (Msg::Team, "team") => explicit("team_name", Msg::Plain),
        (Msg::Team, "possession") => explicit("has_possession", Msg::Plain),
        (Msg::Team, "players") => explicit("players", Msg::Member),
        (Msg::Member, _) => {
            let name = match key {
                "Weapon" => "weapon",
                "Ordnance" => "ordnance",
                "TacMod" => "tac_mod",
                "userid" => "account_number",
                "name" => "display_name",
                "playerid" => "slot_number",
                "number" => "jersey_number",
                "packetlossratio" => "packet_loss_ratio",
                "stunned" => "is_stunned",
                "invulnerable" => "is_invulnerable",
                "holding_left" => "left_holding_onto",
                "holding_right" => "right_holding_onto",
                "blocking" => "is_blocking",
                "possession" => "has_possession",
                "lhand" => "left_hand",
                "rhand" => "right_hand",
                _ => return (snake_case(key), Msg::Plain),
            };
            explicit(name, Msg::Plain)
        }
        (Msg::Bones, "user_bones") => explicit("user_bones", Msg::UserBones),
        (Msg::UserBones, "playerid") => explicit("player_index", Msg::Plain),
        (Msg::UserBones, "bone_t") => explicit("bone_t", Msg::Float32),
        (Msg::UserBones, "bone_o") => explicit("bone_o", Msg::Float32),
        _ => (snake_case(key), Msg::Plain),
    }
}

fn rename(value: Value, msg: Msg) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let (name, child) = proto_name(msg, &k);
                    (name, rename(v, child))
                })
                .collect::<Map<String, Value>>(),
        ),
        // A repeated field: every element is the same message.
        Value::Array(items) => Value::Array(items.into_iter().map(|v| rename(v, msg)).collect()),
        Value::Number(n) if matches!(msg, Msg::Float32) => match n.as_f64() {
            Some(wide) => Value::Number(f32_digits(wide).unwrap_or(n)),
            None => Value::Number(n),
        },
        scalar => scalar,
    }
}

/// The f64 nearest to the shortest decimal of `wide as f32`, when it converts back to the same
/// f32 (the f64 then prints with those short digits).
fn f32_digits(wide: f64) -> Option<serde_json::Number> {
    let narrow = wide as f32;
    let short: f64 = narrow.to_string().parse().ok()?;
    if short as f32 == narrow && narrow.is_finite() {
        serde_json::Number::from_f64(short)
    } else {
        None
    }
}

/// protojson's default JSON name back to the proto name: `leftShoulderPressed2` →
/// `left_shoulder_pressed2` (digits do not start a word); snake names pass unchanged.
fn snake_case(json_name: &str) -> String {
    let mut out = String::with_capacity(json_name.len() + 4);
    for (i, c) in json_name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{self, Encoding};

    const SESSION: &str = "892E23E2-8272-4B07-85E8-5E291AC85F93";

    fn generator(profile: Profile) -> MatchGenerator {
        MatchGenerator::new(Uuid::parse_str(SESSION).unwrap(), 7, profile)
    }

    fn mean_len(profile: Profile, encode: fn(&LobbySessionStateFrame) -> Vec<u8>) -> usize {
        let mut g = generator(profile);
        let n = 200;
        (0..n)
            .map(|i| encode(&g.frame(i * 37)).len())
            .sum::<usize>()
            / n as usize
    }

    #[test]
    fn sizes_match_the_spec() {
        for (profile, target) in [
            (Profile::Session, 12_000),
            (Profile::SessionWithBones, 30_000),
        ] {
            let json = mean_len(profile, to_json);
            let proto_names = mean_len(profile, to_proto_names_json);
            let protobuf = mean_len(profile, to_protobuf);
            println!(
                "{profile:?}: json names {json} B, proto names {proto_names} B, protobuf {protobuf} B"
            );
            for len in [json, proto_names] {
                assert!(
                    (target * 3 / 4..=target * 5 / 4).contains(&len),
                    "{profile:?}: {len} bytes is not within 25% of {target}"
                );
            }
            // The spec estimates ~5 KB without bones; 51 doubles per player put a floor near 6 KB.
            assert!(
                protobuf * 10 < json * 7,
                "protobuf {protobuf} B vs JSON {json} B"
            );
            if profile == Profile::Session {
                assert!((4_000..=8_000).contains(&protobuf), "protobuf {protobuf} B");
            }
        }
    }

    #[test]
    fn session_and_teams_look_like_a_5v5_match() {
        let f = generator(Profile::Session).frame(0);
        let s = f.session.as_ref().unwrap();
        assert_eq!(s.session_id, SESSION);
        assert_eq!(s.teams.len(), 3);
        let players: Vec<&TeamMember> = s.teams.iter().flat_map(|t| &t.players).collect();
        assert_eq!(players.len(), 10);
        let mut slots: Vec<i32> = players.iter().map(|p| p.slot_number).collect();
        slots.sort_unstable();
        assert_eq!(slots, (0..10).collect::<Vec<_>>());
        assert_eq!(players.iter().filter(|p| p.has_possession).count(), 1);
        for p in &players {
            assert!(!p.display_name.is_empty());
            assert!(p.account_number > 1 << 40);
            assert_eq!(p.velocity.len(), 3);
            assert_eq!(p.head.as_ref().unwrap().position.len(), 3);
            assert_eq!(p.left_hand.as_ref().unwrap().pos.len(), 3);
            assert!(p.stats.is_some());
        }
        assert!(f.player_bones.is_none());
        let bones = generator(Profile::SessionWithBones)
            .frame(0)
            .player_bones
            .unwrap();
        assert_eq!(bones.user_bones.len(), 10);
        for u in &bones.user_bones {
            assert_eq!(u.bone_t.len(), 69);
            assert_eq!(u.bone_o.len(), 92);
        }
    }

    #[test]
    fn frames_are_deterministic_and_random_access() {
        let mut a = generator(Profile::SessionWithBones);
        let mut b = generator(Profile::SessionWithBones);
        let forward: Vec<_> = (0..50).map(|i| a.frame(i)).collect();
        let backward: Vec<_> = (0..50).rev().map(|i| b.frame(i)).collect();
        assert!(forward.iter().eq(backward.iter().rev()));
        assert_eq!(to_json(&forward[3]), to_json(&a.frame(3)));
        let mut other = MatchGenerator::new(Uuid::parse_str(SESSION).unwrap(), 8, Profile::Session);
        assert_ne!(
            other.frame(3).session,
            generator(Profile::Session).frame(3).session
        );
    }

    #[test]
    fn frames_are_unique_and_ordered() {
        let mut g = generator(Profile::Session).with_start_unix_ms(1_700_000_000_050);
        let frames: Vec<_> = (0..300).map(|i| g.frame(i)).collect();
        let ts = |f: &LobbySessionStateFrame| {
            let t = f.timestamp.unwrap();
            t.seconds * 1000 + i64::from(t.nanos) / 1_000_000
        };
        assert_eq!(ts(&frames[0]), 1_700_000_000_050);
        for (i, w) in frames.windows(2).enumerate() {
            assert_eq!(w[0].frame_index, i as u32);
            assert_eq!(ts(&w[1]) - ts(&w[0]), FRAME_INTERVAL_MS);
        }
        let distinct: std::collections::HashSet<Vec<u8>> = frames.iter().map(to_protobuf).collect();
        assert_eq!(distinct.len(), frames.len());
    }

    #[test]
    fn every_event_kind_appears() {
        let mut g = generator(Profile::Session);
        let mut kinds = std::collections::BTreeSet::new();
        for i in 0..200 {
            let f = g.frame(i);
            assert!(!f.events.is_empty(), "frame {i} has no event");
            for e in &f.events {
                let json = serde_json::to_value(e).unwrap();
                let key = json.as_object().unwrap().keys().next().unwrap().clone();
                kinds.insert(key);
            }
        }
        assert_eq!(kinds.len(), 24, "{kinds:?}");
        let joined = g.frame(0);
        match &joined.events[0].event {
            Some(Event::PlayerJoined(j)) => {
                assert_eq!(j.role, Role::BlueTeam as i32);
                assert!(j.player.is_some());
            }
            other => panic!("frame 0 should carry player_joined, not {other:?}"),
        }
    }

    fn assert_decodes_to(body: &[u8], encoding: Encoding, want: &LobbySessionStateFrame) {
        let d = frame::decode(body, encoding).unwrap_or_else(|e| panic!("{encoding:?}: {e}"));
        assert_eq!(&d.frame, want, "{encoding:?}");
        assert_eq!(
            d.unknown_fields, 0,
            "{encoding:?}: the renamed keys must all be known"
        );
        assert_eq!(d.session.uuid(), Uuid::parse_str(SESSION).unwrap());
    }

    #[test]
    fn all_three_encodings_decode_to_the_same_frame() {
        for profile in [Profile::Session, Profile::SessionWithBones] {
            let mut g = generator(profile);
            for i in 0..100 {
                let f = g.frame(i);
                assert_decodes_to(&to_json(&f), Encoding::Json, &f);
                assert_decodes_to(&to_proto_names_json(&f), Encoding::Json, &f);
                assert_decodes_to(&to_protobuf(&f), Encoding::Protobuf, &f);
            }
        }
    }

    /// Every field of every message set to a non-default value, so that each rename is
    /// exercised (the generator leaves some fields at their defaults, as the game does).
    fn full_frame() -> LobbySessionStateFrame {
        let mut f = generator(Profile::SessionWithBones).frame(5);
        let s = f.session.as_mut().unwrap();
        s.orange_team_restart_request = 1;
        s.blue_team_restart_request = 1;
        s.private_match = true;
        s.tournament_match = true;
        s.left_shoulder_pressed = 0.5;
        s.payload_multiplier = 1.5;
        s.payload_checkpoint = 2;
        s.payload_distance = 3.5;
        s.payload_defenders = 4;
        s.payload_speed = 5.5;
        s.err_code = -6;
        s.pause.as_mut().unwrap().unpaused_timer = 1.25;
        s.pause.as_mut().unwrap().paused_timer = 2.25;
        s.teams.iter_mut().for_each(|t| t.has_possession = true);
        let m = &mut s.teams[0].players[1];
        m.stats = Some(PlayerStats {
            possession_time: 1.5,
            points: 2,
            saves: 3,
            goals: 4,
            stuns: 5,
            passes: 6,
            catches: 7,
            steals: 8,
            blocks: 9,
            interceptions: 10,
            assists: 11,
            shots_taken: 12,
        });
        m.is_stunned = true;
        m.is_invulnerable = true;
        m.is_blocking = true;
        m.is_emote_playing = true;
        m.has_possession = true;
        f.player_bones.as_mut().unwrap().err_code = 3;
        f
    }

    #[test]
    fn proto_names_cover_every_field() {
        let f = full_frame();
        assert_decodes_to(&to_proto_names_json(&f), Encoding::Json, &f);
        let v = to_proto_names_value(&f);
        let s = &v["session"];
        for key in [
            "session_id",
            "session_ip",
            "orange_team_restart_request",
            "blue_team_restart_request",
            "left_shoulder_pressed2",
            "right_shoulder_pressed2",
            "rules_changed_at",
            "payload_multiplier",
            "err_code",
            "game_clock_display",
            "last_throw",
            "last_score",
        ] {
            assert!(
                s.get(key).is_some(),
                "session.{key} missing: {:?}",
                s.as_object().unwrap().keys()
            );
        }
        assert!(s.get("possession").unwrap().is_array());
        let team = &s["teams"][0];
        for key in ["team_name", "has_possession", "players", "stats"] {
            assert!(team.get(key).is_some(), "team.{key}");
        }
        let member = &team["players"][1];
        for key in [
            "weapon",
            "ordnance",
            "tac_mod",
            "account_number",
            "display_name",
            "slot_number",
            "jersey_number",
            "packet_loss_ratio",
            "is_stunned",
            "is_invulnerable",
            "left_holding_onto",
            "right_holding_onto",
            "is_blocking",
            "is_emote_playing",
            "has_possession",
            "left_hand",
            "right_hand",
        ] {
            assert!(member.get(key).is_some(), "player.{key}");
        }
        let stats = member["stats"].as_object().unwrap();
        assert_eq!(stats.len(), 12);
        assert!(stats.contains_key("possession_time") && stats.contains_key("shots_taken"));
        let bones = &v["player_bones"];
        assert_eq!(bones["err_code"], 3);
        assert!(bones["user_bones"][3].get("player_index").is_some());
        assert!(bones["user_bones"][3].get("bone_t").is_some());
        assert!(v.get("frame_index").is_some());
        // Frame 5 carries disc_caught then disc_possession_changed.
        assert!(v["events"][0]["disc_caught"].get("player_slot").is_some());
        assert!(
            v["events"][1]["disc_possession_changed"]
                .get("previous_player_slot")
                .is_some()
        );
    }

    /// No key outside a map is left in a JSON-name spelling.
    #[test]
    fn proto_names_have_no_json_names_left() {
        fn walk(v: &Value, in_map: bool, path: &str) {
            match v {
                Value::Object(m) => {
                    for (k, v) in m {
                        if !in_map {
                            assert!(
                                !k.chars().any(|c| c.is_ascii_uppercase()),
                                "{path}.{k} is not a proto name"
                            );
                            assert!(
                                !["sessionid", "userid", "playerid", "lhand", "name", "team"]
                                    .contains(&k.as_str())
                                    || (k == "team"
                                        && (path.ends_with("last_score")
                                            || path.ends_with("score_details"))),
                                "{path}.{k} is a JSON name"
                            );
                        }
                        walk(v, k == "data", &format!("{path}.{k}"));
                    }
                }
                Value::Array(a) => a.iter().for_each(|v| walk(v, false, path)),
                _ => {}
            }
        }
        let mut g = generator(Profile::SessionWithBones);
        for i in 0..40 {
            walk(&to_proto_names_value(&g.frame(i)), false, "");
        }
        walk(&to_proto_names_value(&full_frame()), false, "");
    }

    #[test]
    fn map_keys_are_not_renamed() {
        let mut f = generator(Profile::Session).frame(3);
        let Some(Event::GenericEvent(e)) = &mut f.events[0].event else {
            panic!("frame 3 should carry a generic event");
        };
        e.data.insert("someKey".into(), "v".into());
        e.data.insert("playerid".into(), "v".into());
        let v = to_proto_names_value(&f);
        let data = &v["events"][0]["generic_event"]["data"];
        assert_eq!(data["someKey"], "v");
        assert_eq!(data["playerid"], "v");
        assert_decodes_to(&to_proto_names_json(&f), Encoding::Json, &f);
    }

    #[test]
    fn snake_case_of_json_names() {
        for (json, proto) in [
            ("leftShoulderPressed2", "left_shoulder_pressed2"),
            ("orange_team_restart_request", "orange_team_restart_request"),
            ("frameIndex", "frame_index"),
            ("boneT", "bone_t"),
            ("vrLeft", "vr_left"),
            ("offAxisSpinDeg", "off_axis_spin_deg"),
            ("pos", "pos"),
        ] {
            assert_eq!(snake_case(json), proto);
        }
    }

    #[test]
    fn all_numbers_are_finite() {
        for profile in [Profile::Session, Profile::SessionWithBones] {
            let mut g = generator(profile);
            for i in (0..100_000).step_by(997) {
                // decode() rejects any NaN or infinity.
                frame::decode(&to_protobuf(&g.frame(i)), Encoding::Protobuf).unwrap();
            }
        }
    }

    /// The fixtures in `tests/fixtures/` are frame 20 of this generator. Regenerate them with
    /// `SYNTH_WRITE_FIXTURES=1 cargo test --lib synth::tests::fixtures`.
    #[test]
    fn fixtures_are_generated_frames() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        // Frame 20 carries player_joined and a non-zero frame_index (zero would be omitted).
        let f = generator(Profile::Session).frame(20);
        let want = [
            ("frame_json_names.json", serde_json::to_value(&f).unwrap()),
            ("frame_proto_names.json", to_proto_names_value(&f)),
        ];
        for (name, value) in want {
            let path = dir.join(name);
            if std::env::var_os("SYNTH_WRITE_FIXTURES").is_some() {
                let mut text = serde_json::to_string_pretty(&value).unwrap();
                text.push('\n');
                std::fs::write(&path, text).unwrap();
            }
            let body = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let on_disk: Value = serde_json::from_slice(&body).unwrap();
            assert!(
                on_disk == value,
                "{name} is stale: regenerate with SYNTH_WRITE_FIXTURES=1"
            );
            assert_decodes_to(&body, Encoding::Json, &f);
        }
        // What the service emitted before every engine.v1 field pinned its json_name
        // (`gameClockDisplay`, `userBones`): frozen as the previous version wrote it, never
        // regenerated, and still accepted as the same frame.
        let legacy = std::fs::read(dir.join("frame_legacy_camel.json")).unwrap();
        assert!(String::from_utf8_lossy(&legacy).contains("\"gameClockDisplay\""));
        assert_decodes_to(&legacy, Encoding::Json, &f);
    }
}
