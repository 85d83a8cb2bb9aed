//! Synthetic telemetry frames for integration tests, criterion benches and the load generator.
//!
//! Real captures cannot be shipped with the repository, so this module builds frames that look
//! like what a 5v5 EchoVR arena match produces: the same fields filled, realistic magnitudes, and
//! about the same encoded sizes (see [`Profile`]). Everything is derived from the generator's
//! seed and the frame index, so benches and tests are reproducible and any frame of a match can
//! be built without building the ones before it. Only dependencies the service already has are
//! used, so the generator can run inside the load generator binary.
//!
//! - [`MatchGenerator`] (here): the match, its players and the frame skeleton;
//! - `session`: the game's `/session` and `/player_bones` parts (players, teams, disc, bones);
//! - `events`: the events a frame carries;
//! - `encode`: the frame as protojson (JSON names, proto names, lowerCamelCase) and protobuf.

mod encode;
mod events;
mod session;

use pbjson_types::Timestamp;
use uuid::Uuid;

use crate::proto::LobbySessionStateFrame;

pub use encode::{
    to_json, to_lower_camel_json, to_proto_names_json, to_proto_names_value, to_protobuf,
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

    /// Slot of the player holding the disc (changes every 4 s).
    fn possessor(&self, index: u32) -> usize {
        (mix(self.seed, u64::from(index / 40)) % (2 * PLAYERS_PER_TEAM as u64)) as usize
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

#[cfg(test)]
mod tests;
