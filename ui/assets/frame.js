// Reading stored frames into the little the views need.
//
// A 5000-frame match is ~60 MB of JSON. The page never keeps the JSON: each page of events is
// reduced to one small record per frame (clock, score, disc and player positions, per-player
// stats) and a few timeline entries, then dropped.
//
// Field names are read leniently. engine.v1 fields (inside `session`) are emitted under their
// schema JSON names (snake_case: `game_clock_display`, `blue_points`, `teams[].players[].name`,
// `playerid`, `head.position`); older services emitted lowerCamelCase (`gameClockDisplay`), and
// some producers use the proto names (`display_name`, `slot_number`): all are accepted.
// telemetry.v1 fields are lowerCamelCase (`frameIndex`, `goalScored`), proto names accepted too.

/** The first of `keys` that `o` has. */
export function pick(o, ...keys) {
  if (!o || typeof o !== 'object') return undefined;
  for (const k of keys) if (o[k] !== undefined && o[k] !== null) return o[k];
  return undefined;
}

const int = (v) => {
  const n = typeof v === 'string' ? Number(v) : v;
  return Number.isFinite(n) ? Math.trunc(n) : 0;
};
const num = (v) => (Number.isFinite(v) ? v : Number.isFinite(Number(v)) ? Number(v) : NaN);
const str = (v) => (v === undefined || v === null ? '' : String(v));

function vec3(v) {
  if (!Array.isArray(v) || v.length < 3) return null;
  const [x, y, z] = v.map(Number);
  return [x, y, z].every(Number.isFinite) ? [x, y, z] : null;
}

/** The per-player stats columns, in the order of `STAT_KEYS` (the roster's columns). */
export const STAT_COLUMNS = [
  ['Pts', 'points'],
  ['Goals', 'goals'],
  ['Ast', 'assists'],
  ['Saves', 'saves'],
  ['Stuns', 'stuns'],
  ['Steals', 'steals'],
  ['Passes', 'passes'],
  ['Shots', 'shots_taken', 'shotsTaken'],
];

/** 0 blue, 1 orange, 2 everybody else, from the team's name (index as a fallback). */
function teamSide(team, index) {
  const name = str(pick(team, 'team', 'team_name', 'teamName')).toLowerCase();
  if (name.includes('blue')) return 0;
  if (name.includes('orange')) return 1;
  if (name) return 2;
  return index < 2 ? index : 2;
}

/** Shares one string per distinct name, so 5000 frames of ten players hold ten strings. */
export class Interner {
  constructor() {
    this.map = new Map();
  }
  get(s) {
    let v = this.map.get(s);
    if (v === undefined) {
      v = s;
      this.map.set(s, s);
    }
    return v;
  }
}

/** One stored event (`{match_id, data: frame}`) as a compact record. */
export function compactFrame(event, names) {
  const d = (event && event.data) || {};
  const s = d.session || {};
  const rec = {
    fi: int(pick(d, 'frameIndex', 'frame_index')),
    ts: str(pick(d, 'timestamp')),
    clock: str(pick(s, 'game_clock_display', 'gameClockDisplay')),
    gc: num(pick(s, 'game_clock', 'gameClock')),
    status: names.get(str(pick(s, 'game_status', 'gameStatus'))),
    blue: int(pick(s, 'blue_points', 'bluePoints')),
    orange: int(pick(s, 'orange_points', 'orangePoints')),
    blueRounds: int(pick(s, 'blue_round_score', 'blueRoundScore')),
    orangeRounds: int(pick(s, 'orange_round_score', 'orangeRoundScore')),
    disc: vec3(pick(pick(s, 'disc'), 'position')),
    players: [],
  };
  const teams = Array.isArray(s.teams) ? s.teams : [];
  teams.forEach((team, ti) => {
    const side = teamSide(team, ti);
    for (const p of Array.isArray(team.players) ? team.players : []) {
      const stats = pick(p, 'stats') || {};
      rec.players.push({
        slot: int(pick(p, 'playerid', 'slot_number', 'slotNumber')),
        side,
        name: names.get(str(pick(p, 'name', 'display_name', 'displayName'))),
        number: int(pick(p, 'number', 'jersey_number', 'jerseyNumber')),
        ping: int(pick(p, 'ping')),
        possession: Boolean(pick(p, 'possession', 'has_possession', 'hasPossession')),
        stunned: Boolean(pick(p, 'stunned', 'is_stunned', 'isStunned')),
        pos:
          vec3(pick(pick(p, 'head'), 'position')) || vec3(pick(pick(p, 'body'), 'position')),
        stats: STAT_COLUMNS.map(([, ...keys]) => int(pick(stats, ...keys))),
      });
    }
  });
  return rec;
}

/** What the match header shows, from any frame. */
export function matchInfo(event) {
  const s = (event && event.data && event.data.session) || {};
  return {
    sessionId: str(pick(s, 'sessionid', 'session_id', 'sessionId')),
    map: str(pick(s, 'map_name', 'mapName')),
    type: str(pick(s, 'match_type', 'matchType')),
  };
}

function side(role) {
  const r = str(role).toUpperCase();
  if (r === '1' || r.includes('BLUE')) return 'blue';
  if (r === '2' || r.includes('ORANGE')) return 'orange';
  if (r === '3' || r.includes('SPECTATOR')) return 'spectators';
  return 'no team';
}

const camel = (k) => k.replace(/_([a-z])/g, (_, c) => c.toUpperCase());

/** The timeline kinds: what a person follows a match by. */
export const KINDS = {
  goal: 'Goal',
  save: 'Save',
  steal: 'Steal',
  stun: 'Stun',
  roster: 'Join/leave',
  round: 'Round',
};

/** Timeline entries `{kind, text}` of one frame's `events` (others are left out). */
export function timelineEntries(event, rec) {
  const d = (event && event.data) || {};
  const list = Array.isArray(d.events) ? d.events : [];
  const out = [];
  const who = (slot) => {
    const n = int(slot);
    const p = rec.players.find((q) => q.slot === n);
    return p && p.name ? p.name : `player ${n}`;
  };
  for (const ev of list) {
    if (!ev || typeof ev !== 'object') continue;
    for (const [rawKey, e] of Object.entries(ev)) {
      const v = e && typeof e === 'object' ? e : {};
      const slot = pick(v, 'playerSlot', 'player_slot');
      switch (camel(rawKey)) {
        case 'goalScored': {
          const g = pick(v, 'scoreDetails', 'score_details') || {};
          const scorer = str(pick(g, 'person_scored', 'personScored')) || 'someone';
          const team = str(pick(g, 'team'));
          const pts = int(pick(g, 'point_amount', 'pointAmount'));
          const type = str(pick(g, 'goal_type', 'goalType')).toLowerCase();
          const assist = str(pick(g, 'assist_scored', 'assistScored'));
          let text = `Goal by ${scorer}`;
          if (team) text += ` (${team})`;
          if (pts) text += `, ${pts} points`;
          if (type) text += `, ${type}`;
          if (assist) text += `, assist ${assist}`;
          out.push({ kind: 'goal', text });
          break;
        }
        case 'playerGoal':
          out.push({
            kind: 'goal',
            text: `${who(slot)} scores (goal ${int(pick(v, 'totalGoals', 'total_goals'))}, ${int(pick(v, 'points'))} points)`,
          });
          break;
        case 'playerSave':
          out.push({ kind: 'save', text: `Save by ${who(slot)} (${int(pick(v, 'totalSaves', 'total_saves'))} in total)` });
          break;
        case 'playerSteal': {
          const victim = pick(v, 'victimPlayerSlot', 'victim_player_slot');
          out.push({
            kind: 'steal',
            text: `${who(slot)} steals the disc${victim === undefined ? '' : ` from ${who(victim)}`}`,
          });
          break;
        }
        case 'playerStun':
          out.push({ kind: 'stun', text: `${who(slot)} stuns (${int(pick(v, 'totalStuns', 'total_stuns'))} in total)` });
          break;
        case 'playerJoined': {
          const p = pick(v, 'player') || {};
          const name = str(pick(p, 'name', 'display_name', 'displayName')) || 'a player';
          out.push({ kind: 'roster', text: `${name} joined ${side(pick(v, 'role'))}` });
          break;
        }
        case 'playerLeft': {
          const name = str(pick(v, 'displayName', 'display_name')) || who(slot);
          out.push({ kind: 'roster', text: `${name} left` });
          break;
        }
        case 'playerSwitchedTeam':
          out.push({
            kind: 'roster',
            text: `${who(slot)} switched from ${side(pick(v, 'prevRole', 'prev_role'))} to ${side(pick(v, 'newRole', 'new_role'))}`,
          });
          break;
        case 'roundStarted':
          out.push({ kind: 'round', text: `Round ${int(pick(v, 'roundNumber', 'round_number'))} started` });
          break;
        case 'roundEnded':
          out.push({
            kind: 'round',
            text: `Round ${int(pick(v, 'roundNumber', 'round_number'))} ended, won by ${side(pick(v, 'winningTeam', 'winning_team'))}`,
          });
          break;
        case 'matchEnded':
          out.push({ kind: 'round', text: `Match ended, won by ${side(pick(v, 'winningTeam', 'winning_team'))}` });
          break;
        default:
          break;
      }
    }
  }
  return out;
}
