// Frame generator shared by the k6 scripts and by check-frames.mjs (plain node).
//
// Pure ES module: no imports, no globals beyond the language (no crypto, no process, no
// __ENV), so it runs under k6's JavaScript runtime and under node alike.
//
// It produces realistic protojson `telemetry.v1.LobbySessionStateFrame` bodies, using the
// JSON names of the schema: lowerCamelCase for the frame and its events (`frameIndex`,
// `playerBones`, `discThrown`), and in the embedded game API (`session`, `playerBones`, package
// engine.v1) each field's pinned json_name, the game's own snake_case or fused keys
// (`game_clock_display`, `possession_time`, `user_bones`, `bone_t`, `sessionid`, `lhand`):
//   - profile "session": 10 players (5 v 5), about 12 KB of JSON;
//   - profile "bones":   the same plus `playerBones` (23 bones per player: 69 `bone_t` and
//                        92 `bone_o` floats), about 30 KB.
// Every frame is unique within a match (increasing `frameIndex`, timestamp = match start +
// 100 ms per frame index, as the game polls at 10 Hz) and carries at least one event.
// Everything is deterministic in (seed, match index, frame index): generating the same frame
// twice gives the same bytes, which is what a producer's retry sends.

export const PROFILES = ["session", "bones"];

export const BONES_PER_PLAYER = 23;
export const PLAYERS_PER_TEAM = 5;

const MAPS = ["mpl_arena_a"];
const NAMES = [
  "Nova", "Kestrel", "Quasar", "Vortex", "Sable", "Ember", "Halcyon", "Orbit", "Zephyr", "Flux",
  "Pulsar", "Comet", "Drift", "Rook", "Vesper", "Talon", "Cinder", "Aurora", "Nimbus", "Echo",
];
const WEAPONS = ["assault", "blaster", "rocket", "scout"];
const ORDNANCE = ["arcmine", "burst", "detonator", "stun"];
const TACMODS = ["heal", "phaseshift", "sensor", "shield"];
const GOAL_TYPES = ["INSIDE SHOT", "LONG SHOT", "BOUNCE SHOT", "SLAM DUNK"];

// ---------------------------------------------------------------- deterministic randomness

/** 32-bit FNV-1a hash of the arguments' string forms: a seed from several parts. */
export function hashSeed(...parts) {
  let h = 0x811c9dc5;
  const s = parts.join("\u0000");
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** mulberry32: a small, fast PRNG returning floats in [0, 1). */
export function rng(seed) {
  let a = seed >>> 0;
  return function next() {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A seed for a new run (not cryptographic; only has to differ between runs). */
export function randomSeed() {
  return hashSeed(Date.now(), Math.random(), Math.random());
}

function hex(r, n) {
  let s = "";
  for (let i = 0; i < n; i++) s += "0123456789ABCDEF"[Math.floor(r() * 16)];
  return s;
}

/** Upper-case version-4 UUID, as the game prints session ids (deterministic in its inputs). */
export function sessionUuid(seed, matchIndex) {
  const r = rng(hashSeed("session", seed, matchIndex));
  return (
    hex(r, 8) + "-" + hex(r, 4) + "-4" + hex(r, 3) + "-" +
    "89AB"[Math.floor(r() * 4)] + hex(r, 3) + "-" + hex(r, 12)
  );
}

/** Node id for a match: matches are spread round-robin over `nodes` game-server nodes. */
export function nodeName(matchIndex, nodes) {
  const n = Math.max(1, nodes | 0);
  return "loadtest-node-" + String((matchIndex % n) + 1).padStart(3, "0");
}

/** The match id the service derives: lower-case canonical uuid, a dot, the node id. */
export function matchIdOf(sessionId, node) {
  return sessionId.toLowerCase() + "." + (node || "default-node");
}

/** RFC 3339 UTC timestamp of a frame: match start + 100 ms per frame index. */
export function frameTimestamp(match, frameIndex) {
  return new Date(match.startMs + frameIndex * 100).toISOString();
}

// ---------------------------------------------------------------- numbers

// Rounds to d decimals; keeps JSON numbers about as long as the game writes them.
function rd(x, d) {
  const m = Math.pow(10, d);
  return Math.round(x * m) / m;
}
function between(r, lo, hi, d) {
  return rd(lo + r() * (hi - lo), d);
}
function int(r, lo, hi) {
  return lo + Math.floor(r() * (hi - lo + 1));
}
function vec3(r, lo, hi, d) {
  return [between(r, lo, hi, d), between(r, lo, hi, d), between(r, lo, hi, d)];
}
// A random orthonormal-ish basis: forward, left, up unit vectors.
function basis(r) {
  const yaw = r() * Math.PI * 2;
  const pitch = (r() - 0.5) * 0.6;
  const cy = Math.cos(yaw), sy = Math.sin(yaw), cp = Math.cos(pitch), sp = Math.sin(pitch);
  return {
    forward: [rd(cy * cp, 3), rd(sp, 3), rd(sy * cp, 3)],
    left: [rd(-sy, 3), 0, rd(cy, 3)],
    up: [rd(-cy * sp, 3), rd(cp, 3), rd(-sy * sp, 3)],
  };
}
// float32 values as a producer would print them: about 8 significant digits.
function f32(x) {
  return parseFloat(Math.fround(x).toPrecision(8));
}

// ---------------------------------------------------------------- match

/**
 * A match: its session id, node, match id, start time and roster (names, user ids,
 * jersey numbers, levels). `profile` is "session" or "bones".
 */
export function newMatch({ seed, index, nodes = 1, startMs = Date.now(), profile = "session" }) {
  if (PROFILES.indexOf(profile) < 0) {
    throw new Error(`unknown profile ${JSON.stringify(profile)} (want one of ${PROFILES.join(", ")})`);
  }
  const r = rng(hashSeed("roster", seed, index));
  const sessionId = sessionUuid(seed, index);
  const node = nodeName(index, nodes);
  const players = [];
  for (let slot = 0; slot < PLAYERS_PER_TEAM * 2; slot++) {
    players.push({
      slot,
      name: NAMES[int(r, 0, NAMES.length - 1)] + "_" + hex(r, 4).toLowerCase(),
      // Oculus/Meta account numbers: 16-17 digit uint64, sent as a JSON string.
      userid: String(int(r, 1, 9)) + String(Math.floor(r() * 1e15)).padStart(15, "0"),
      number: int(r, 0, 99),
      level: int(r, 1, 50),
      weapon: WEAPONS[int(r, 0, WEAPONS.length - 1)],
      ordnance: ORDNANCE[int(r, 0, ORDNANCE.length - 1)],
      tacMod: TACMODS[int(r, 0, TACMODS.length - 1)],
    });
  }
  return {
    seed,
    index,
    sessionId,
    node,
    matchId: matchIdOf(sessionId, node),
    startMs,
    profile,
    sessionIp: `10.${int(r, 0, 255)}.${int(r, 0, 255)}.${int(r, 1, 254)}`,
    players,
  };
}

// ---------------------------------------------------------------- the heavy parts

// Everything in a player's TeamMember except its identity (name, userid, playerid, number,
// level, loadout), as a JSON object body without the opening brace. Keys use JSON names.
function playerBody(r, slot) {
  const headPos = [between(r, -15, 15, 3), between(r, -3, 3, 3), between(r, -40, 40, 3)];
  const head = basis(r), body = basis(r), lh = basis(r), rh = basis(r);
  const stats = {
    possession_time: between(r, 0, 120, 3), points: int(r, 0, 12), saves: int(r, 0, 6),
    goals: int(r, 0, 5), stuns: int(r, 0, 30), passes: int(r, 0, 20), catches: int(r, 0, 20),
    steals: int(r, 0, 6), blocks: int(r, 0, 6), interceptions: int(r, 0, 6),
    assists: int(r, 0, 6), shots_taken: int(r, 0, 15),
  };
  const o = {
    head: { position: headPos, forward: head.forward, left: head.left, up: head.up },
    body: {
      position: [rd(headPos[0] + 0.05, 3), rd(headPos[1] - 0.3, 3), rd(headPos[2] - 0.02, 3)],
      forward: body.forward, left: body.left, up: body.up,
    },
    lhand: {
      pos: [rd(headPos[0] - 0.25, 3), rd(headPos[1] - 0.4, 3), rd(headPos[2] + 0.2, 3)],
      forward: lh.forward, left: lh.left, up: lh.up,
    },
    rhand: {
      pos: [rd(headPos[0] + 0.25, 3), rd(headPos[1] - 0.4, 3), rd(headPos[2] + 0.2, 3)],
      forward: rh.forward, left: rh.left, up: rh.up,
    },
    velocity: vec3(r, -6, 6, 3),
    packetlossratio: r() < 0.9 ? 0 : between(r, 0, 0.05, 4),
    ping: int(r, 8, 120),
    stunned: r() < 0.05,
    invulnerable: false,
    holding_left: r() < 0.1 ? "disc" : "none",
    holding_right: r() < 0.1 ? "geo" : "none",
    blocking: r() < 0.05,
    is_emote_playing: false,
    possession: r() < 0.1,
    stats,
  };
  return JSON.stringify(o).slice(1); // drop "{": the identity fields go in front
}

// PlayerBonesResponse for 10 players: per player 23 bones, 3 translation + 4 rotation
// (a unit quaternion) floats per bone.
function bonesJson(r, players) {
  const users = [];
  for (let p = 0; p < players; p++) {
    const t = [], o = [];
    const bx = (r() - 0.5) * 30, by = (r() - 0.5) * 6, bz = (r() - 0.5) * 80;
    for (let b = 0; b < BONES_PER_PLAYER; b++) {
      t.push(f32(bx + (r() - 0.5) * 1.6), f32(by + (r() - 0.5) * 1.8), f32(bz + (r() - 0.5) * 1.6));
      let q = [r() - 0.5, r() - 0.5, r() - 0.5, r() - 0.5];
      const n = Math.hypot(q[0], q[1], q[2], q[3]) || 1;
      for (const c of q) o.push(f32(c / n));
    }
    users.push({ bone_t: t, playerid: p, bone_o: o });
  }
  return JSON.stringify({ user_bones: users, err_code: 0 });
}

/** The heavy, slowly varying part of a frame: per-slot player bodies, and bones if asked. */
function heavyParts(seed, key, withBones, players) {
  const r = rng(hashSeed("heavy", seed, key));
  const rest = [];
  for (let slot = 0; slot < players; slot++) rest.push(playerBody(r, slot));
  return { rest, bones: withBones ? bonesJson(r, players) : null };
}

// ---------------------------------------------------------------- events

function teamOf(slot) {
  return slot < PLAYERS_PER_TEAM ? "ROLE_BLUE_TEAM" : "ROLE_ORANGE_TEAM";
}

function throwInfo(r) {
  return {
    arm_speed: between(r, 2, 12, 4), total_speed: between(r, 5, 25, 4),
    off_axis_spin_deg: between(r, 0, 40, 3), wrist_throw_penalty: between(r, 0, 0.3, 4),
    rot_per_sec: between(r, 0, 4, 4), pot_speed_from_rot: between(r, 0, 3, 4),
    speed_from_arm: between(r, 2, 12, 4), speed_from_movement: between(r, 0, 8, 4),
    speed_from_wrist: between(r, 0, 2, 4), wrist_align_to_throw_deg: between(r, 0, 90, 3),
    throw_align_to_movement_deg: between(r, 0, 90, 3), off_axis_penalty: between(r, 0, 0.3, 4),
    throw_move_penalty: between(r, 0, 0.3, 4),
  };
}

function scoreboard(state) {
  return {
    scoreboardUpdated: {
      bluePoints: state.bluePoints, orangePoints: state.orangePoints,
      blueRoundScore: state.blueRoundScore, orangeRoundScore: state.orangeRoundScore,
      gameClockDisplay: state.clockDisplay,
    },
  };
}

// 1-3 events; the first frame of a match starts round 1.
function events(r, match, frameIndex, state) {
  const out = [];
  if (frameIndex <= 1) out.push({ roundStarted: { roundNumber: 1 } });
  const n = 1 + Math.floor(r() * r() * 3);
  for (let i = 0; i < n; i++) {
    const p = match.players[int(r, 0, match.players.length - 1)];
    const slot = p.slot;
    const k = r();
    if (k < 0.25) out.push({ discPossessionChanged: { playerSlot: slot, previousPlayerSlot: int(r, -1, 9) } });
    else if (k < 0.4) out.push({ playerPass: { playerSlot: slot, totalPasses: int(r, 1, 20) } });
    else if (k < 0.52) out.push({ discThrown: { playerSlot: slot, throwDetails: throwInfo(r) } });
    else if (k < 0.62) out.push({ discCaught: { playerSlot: slot } });
    else if (k < 0.7) out.push({ playerStun: { playerSlot: slot, totalStuns: int(r, 1, 30) } });
    else if (k < 0.76) out.push({ playerSave: { playerSlot: slot, totalSaves: int(r, 1, 6) } });
    else if (k < 0.81) out.push({ playerBlock: { playerSlot: slot, totalBlocks: int(r, 1, 6) } });
    else if (k < 0.85) out.push({ playerSteal: { playerSlot: slot, totalSteals: int(r, 1, 6), victimPlayerSlot: (slot + 5) % 10 } });
    else if (k < 0.88) out.push({ playerInterception: { playerSlot: slot, totalInterceptions: int(r, 1, 6) } });
    else if (k < 0.9) out.push({ playerShotTaken: { playerSlot: slot, totalShots: int(r, 1, 15) } });
    else if (k < 0.92) out.push({ emotePlayed: { playerSlot: slot, emote: r() < 0.5 ? "EMOTE_TYPE_PRIMARY" : "EMOTE_TYPE_SECONDARY" } });
    else if (k < 0.94) {
      out.push({
        goalScored: {
          scoreDetails: {
            disc_speed: between(r, 5, 25, 3), team: slot < 5 ? "blue" : "orange",
            goal_type: GOAL_TYPES[int(r, 0, GOAL_TYPES.length - 1)], point_amount: r() < 0.7 ? 2 : 3,
            distance_thrown: between(r, 1, 30, 3), person_scored: p.name, assist_scored: "[INVALID]",
          },
        },
      });
      out.push({ playerGoal: { playerSlot: slot, totalGoals: int(r, 1, 5), points: int(r, 2, 12) } });
    } else if (k < 0.95) out.push({ playerAssist: { playerSlot: slot, totalAssists: int(r, 1, 6) } });
    else if (k < 0.96) {
      out.push({
        playerJoined: {
          player: { name: p.name, userid: p.userid, playerid: slot, number: p.number, level: p.level },
          role: teamOf(slot),
        },
      });
    } else if (k < 0.97) out.push({ genericEvent: { eventType: "loadtest.marker", data: { frame: String(frameIndex) }, payload: "" } });
    else out.push(scoreboard(state));
  }
  if (r() < 0.3 || out.length === 0) out.push(scoreboard(state));
  return out;
}

// ---------------------------------------------------------------- frames

function clockDisplay(seconds) {
  const s = Math.max(0, seconds);
  const m = Math.floor(s / 60);
  const rest = s - m * 60;
  return String(m).padStart(2, "0") + ":" + rest.toFixed(2).padStart(5, "0");
}

// Light, per-frame game state (scores, clock), a pure function of the frame index.
function gameState(match, frameIndex) {
  const elapsed = frameIndex * 0.1; // seconds at 10 Hz
  const round = 300;
  const inRound = elapsed % round;
  const rounds = Math.floor(elapsed / round);
  const r = rng(hashSeed("score", match.seed, match.index));
  const blueRate = 0.01 + r() * 0.02, orangeRate = 0.01 + r() * 0.02;
  return {
    clock: rd(round - inRound, 2),
    clockDisplay: clockDisplay(round - inRound),
    bluePoints: Math.floor(inRound * blueRate),
    orangePoints: Math.floor(inRound * orangeRate),
    blueRoundScore: Math.floor(rounds / 2) + (rounds % 2),
    orangeRoundScore: Math.floor(rounds / 2),
  };
}

/**
 * A frame source: caches the heavy parts of frames (player poses and bones) in `variants`
 * variants per profile, so a load generator spends its time sending, not generating; the
 * per-frame parts (frame index, timestamp, events, clock, scores, disc, roster) are always
 * fresh. `variants: 0` generates everything fresh for every frame.
 */
export function createFrameSource({ seed, variants = 8 } = {}) {
  const cache = {};
  function heavy(match, frameIndex) {
    const withBones = match.profile === "bones";
    const players = match.players.length;
    if (!variants) return heavyParts(seed, `${match.index}/${frameIndex}`, withBones, players);
    const key = `${match.profile}/${frameIndex % variants}`;
    if (!cache[key]) cache[key] = heavyParts(seed, key, withBones, players);
    return cache[key];
  }
  return {
    body(match, frameIndex) {
      return frameBody(match, frameIndex, heavy(match, frameIndex));
    },
  };
}

/** One frame as a JSON string (everything generated fresh unless `heavy` is given). */
export function frameBody(match, frameIndex, heavy) {
  if (!Number.isInteger(frameIndex) || frameIndex < 0 || frameIndex > 4294967295) {
    throw new Error(`frameIndex must be a uint32, got ${frameIndex}`);
  }
  const h = heavy || heavyParts(match.seed, `${match.index}/${frameIndex}`, match.profile === "bones", match.players.length);
  const r = rng(hashSeed("frame", match.seed, match.index, frameIndex));
  const st = gameState(match, frameIndex);
  const holder = int(r, -1, match.players.length - 1);
  const discBasis = basis(r);
  const session = {
    sessionid: match.sessionId,
    sessionip: match.sessionIp,
    game_clock_display: st.clockDisplay,
    game_clock: st.clock,
    game_status: "playing",
    match_type: "Echo_Arena",
    map_name: MAPS[0],
    private_match: false,
    tournament_match: false,
    total_round_count: 3,
    blue_points: st.bluePoints,
    orange_points: st.orangePoints,
    blue_round_score: st.blueRoundScore,
    orange_round_score: st.orangeRoundScore,
    blue_team_restart_request: 0,
    orange_team_restart_request: 0,
    disc: {
      position: vec3(r, -10, 10, 3), forward: discBasis.forward, left: discBasis.left, up: discBasis.up,
      velocity: vec3(r, -15, 15, 3), bounce_count: int(r, 0, 3),
    },
    last_throw: throwInfo(r),
    player: { vr_left: [-1, 0, 0], vr_position: [0, 5.2, -60], vr_forward: [0, 0, 1], vr_up: [0, 1, 0] },
    pause: { paused_state: "unpaused", unpaused_team: "none", paused_requested_team: "none", unpaused_timer: 0, paused_timer: 0 },
    possession: holder < 0 ? [] : [holder < PLAYERS_PER_TEAM ? 0 : 1, holder % PLAYERS_PER_TEAM],
    left_shoulder_pressed: 0,
    right_shoulder_pressed: 0,
    left_shoulder_pressed2: 0,
    right_shoulder_pressed2: 0,
    rules_changed_by: "",
    rules_changed_at: "0",
    client_name: "loadtest",
    last_score: {
      disc_speed: 0, team: "[NO TEAM]", goal_type: "[NO GOAL]", point_amount: 0, distance_thrown: 0,
      person_scored: "[INVALID]", assist_scored: "[INVALID]",
    },
    err_code: 0,
  };
  const teams = [];
  for (let t = 0; t < 2; t++) {
    const players = [];
    for (let i = 0; i < PLAYERS_PER_TEAM; i++) {
      const p = match.players[t * PLAYERS_PER_TEAM + i];
      if (!p) continue;
      players.push(
        '{"name":' + JSON.stringify(p.name) + ',"userid":"' + p.userid + '","playerid":' + p.slot +
        ',"number":' + p.number + ',"level":' + p.level + ',"Weapon":"' + p.weapon +
        '","Ordnance":"' + p.ordnance + '","TacMod":"' + p.tacMod + '",' + h.rest[p.slot],
      );
    }
    const score = t === 0 ? st.bluePoints : st.orangePoints;
    const teamHead = JSON.stringify({
      team: t === 0 ? "BLUE TEAM" : "ORANGE TEAM",
      possession: holder >= 0 && (holder < PLAYERS_PER_TEAM) === (t === 0),
      stats: {
        possession_time: rd(frameIndex * 0.05, 2), points: score, saves: 0, goals: Math.floor(score / 2),
        stuns: 0, passes: 0, catches: 0, steals: 0, blocks: 0, interceptions: 0, assists: 0, shots_taken: 0,
      },
    });
    teams.push(teamHead.slice(0, -1) + ',"players":[' + players.join(",") + "]}");
  }
  teams.push('{"team":"SPECTATORS","possession":false}');
  const sessionJson = JSON.stringify(session).slice(0, -1) + ',"teams":[' + teams.join(",") + "]}";
  const head = JSON.stringify({
    frameIndex,
    timestamp: frameTimestamp(match, frameIndex),
    events: events(r, match, frameIndex, st),
  }).slice(0, -1);
  return head + ',"session":' + sessionJson + (h.bones ? ',"playerBones":' + h.bones : "") + "}";
}
