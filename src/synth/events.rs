//! The events of a frame: one or two per frame, the kind cycling with the frame index so that
//! every kind appears within 200 frames.

use std::collections::BTreeMap;

use super::session::throw_info;
use super::{MatchGenerator, PLAYERS_PER_TEAM, r3};
use crate::proto::engine::v1::{PauseState, SessionResponse};
use crate::proto::telemetry::v1::{
    DiscCaught, DiscPossessionChanged, DiscThrown, EmotePlayed, GenericEvent, GoalScored,
    LobbySessionEvent, MatchEnded, PlayerAssist, PlayerBlock, PlayerGoal, PlayerInterception,
    PlayerJoined, PlayerLeft, PlayerPass, PlayerSave, PlayerShotTaken, PlayerSteal, PlayerStun,
    PlayerSwitchedTeam, Role, RoundEnded, RoundPaused, RoundStarted, RoundUnpaused,
    ScoreboardUpdated, emote_played::EmoteType, lobby_session_event::Event,
};

impl MatchGenerator {
    pub(super) fn events(
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
}
