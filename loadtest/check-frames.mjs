#!/usr/bin/env node
// Exercises the k6 scripts' frame generator (lib/frames.js) against a running session-events,
// with plain node (20+, global fetch) and no dependencies:
//
//   1. generates FRAMES frames for each of MATCHES new matches (profiles from PROFILE, round-robin)
//      and checks them locally (unique, increasing frameIndex and timestamps, events, sizes);
//   2. POSTs them all to $BASE_URL/session-events (X-Node-ID per match): every answer must be
//      EXPECT_STATUS (default 200) naming the right match id;
//   3. re-POSTs each match's first frame (a producer retry): success again, nothing added;
//   4. GETs each match: count must be FRAMES, events oldest first (frameIndex 1..FRAMES),
//      each naming the match and carrying its session id.
//
//   node loadtest/check-frames.mjs                          # against http://localhost:8080
//   BASE_URL=http://127.0.0.1:18080 FRAMES=50 MATCHES=6 node loadtest/check-frames.mjs
//   DRY_RUN=1 node loadtest/check-frames.mjs                # generator checks only, no network
//
// Exit status: 0 all passed, 1 a check failed, 2 the service could not be reached (or bad usage).
// Env: BASE_URL, FRAMES (20), MATCHES (4), NODES (2), PROFILE ("session,bones"), AUTH_TOKEN,
// CONCURRENCY (8), EXPECT_STATUS ("200"; e.g. "200,202"), TIMEOUT_MS (10000), SEED, DRY_RUN.

import { PROFILES, BONES_PER_PLAYER, createFrameSource, newMatch, randomSeed } from "./lib/frames.js";

function envInt(name, dflt, min = 1) {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return dflt;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) usage(`${name}=${raw}: want an integer >= ${min}`);
  return n;
}

function usage(msg) {
  console.error(`check-frames: ${msg}`);
  process.exit(2);
}

const BASE_URL = (process.env.BASE_URL || "http://localhost:8080").replace(/\/+$/, "");
const FRAMES = envInt("FRAMES", 20);
const MATCHES = envInt("MATCHES", 4);
const NODES = envInt("NODES", 2);
const CONCURRENCY = envInt("CONCURRENCY", 8);
const TIMEOUT_MS = envInt("TIMEOUT_MS", 10000);
const SEED = process.env.SEED ? envInt("SEED", 0, 0) >>> 0 : randomSeed();
const DRY_RUN = process.env.DRY_RUN === "1";
const AUTH = process.env.AUTH_TOKEN || "";
const EXPECT = (process.env.EXPECT_STATUS || "200").split(",").map((s) => Number(s.trim()));
const profiles = (process.env.PROFILE || "session,bones").split(",").map((s) => s.trim()).filter(Boolean);
for (const p of profiles) if (!PROFILES.includes(p)) usage(`PROFILE=${p}: want ${PROFILES.join(" or ")} (comma-separated)`);

let passed = 0;
let failed = 0;
function ok(cond, what) {
  if (cond) passed++;
  else {
    failed++;
    console.error(`FAIL ${what}`);
  }
  return cond;
}

class Unreachable extends Error {}

async function request(method, path, { body, node } = {}) {
  const headers = {};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (node) headers["X-Node-ID"] = node;
  if (AUTH) headers["Authorization"] = `Bearer ${AUTH}`;
  let res;
  try {
    res = await fetch(BASE_URL + path, { method, headers, body, signal: AbortSignal.timeout(TIMEOUT_MS) });
  } catch (e) {
    const cause = e.cause ? `${e.cause.code || ""} ${e.cause.message || ""}`.trim() : "";
    if (e.name === "TimeoutError") throw new Unreachable(`${method} ${BASE_URL}${path}: no answer within ${TIMEOUT_MS} ms`);
    throw new Unreachable(`${method} ${BASE_URL}${path}: ${e.message}${cause ? ` (${cause})` : ""}`);
  }
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, text, json };
}

// Runs fn over items with at most `limit` in flight.
async function pool(items, limit, fn) {
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i], i);
    }
  });
  await Promise.all(workers);
}

// ------------------------------------------------------------------ 1. generate and self-check

const UUID_UPPER = /^[0-9A-F]{8}-[0-9A-F]{4}-4[0-9A-F]{3}-[89AB][0-9A-F]{3}-[0-9A-F]{12}$/;
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
const SIZE = { session: [9000, 16000], bones: [24000, 38000] };

const startMs = Date.now();
const source = createFrameSource({ seed: SEED });
const matches = [];
for (let i = 0; i < MATCHES; i++) {
  const match = newMatch({ seed: SEED, index: i, nodes: NODES, startMs, profile: profiles[i % profiles.length] });
  const bodies = [];
  for (let f = 1; f <= FRAMES; f++) bodies.push(source.body(match, f));
  matches.push({ match, bodies });
}

{
  const all = new Set();
  for (const { match, bodies } of matches) {
    let prevTs = "";
    let problems = [];
    for (let k = 0; k < bodies.length; k++) {
      const body = bodies[k];
      all.add(body);
      let fr;
      try {
        fr = JSON.parse(body);
      } catch (e) {
        problems.push(`frame ${k + 1} is not JSON: ${e.message}`);
        continue;
      }
      const s = fr.session || {};
      const [lo, hi] = SIZE[match.profile];
      if (fr.frameIndex !== k + 1) problems.push(`frame ${k + 1}: frameIndex ${fr.frameIndex}`);
      if (!RFC3339.test(fr.timestamp) || !(fr.timestamp > prevTs)) problems.push(`frame ${k + 1}: timestamp ${fr.timestamp} after ${prevTs}`);
      prevTs = fr.timestamp;
      if (!Array.isArray(fr.events) || fr.events.length < 1) problems.push(`frame ${k + 1}: no events`);
      if (!UUID_UPPER.test(s.sessionid || "")) problems.push(`frame ${k + 1}: sessionid ${s.sessionid}`);
      const players = (s.teams || []).flatMap((t) => t.players || []);
      if (players.length !== 10) problems.push(`frame ${k + 1}: ${players.length} players`);
      if (players.some((p) => typeof p.userid !== "string" || !p.lhand || !p.head || !p.stats)) problems.push(`frame ${k + 1}: player fields`);
      if (body.length < lo || body.length > hi) problems.push(`frame ${k + 1}: ${body.length} bytes, want ${lo}-${hi} for ${match.profile}`);
      if (match.profile === "bones") {
        const ub = (fr.playerBones || {}).user_bones || [];
        if (ub.length !== 10 || ub.some((u) => u.bone_t.length !== BONES_PER_PLAYER * 3 || u.bone_o.length !== BONES_PER_PLAYER * 4)) {
          problems.push(`frame ${k + 1}: playerBones shape`);
        }
      } else if (fr.playerBones) problems.push(`frame ${k + 1}: session profile with playerBones`);
      // engine.v1 (session, playerBones) pins every JSON name: the game's snake_case or fused
      // keys; the only capitals are the loadout keys the game spells that way.
      const camel = [];
      const walk = (v, path) => {
        if (Array.isArray(v)) v.forEach((x) => walk(x, path));
        else if (v && typeof v === "object") {
          for (const [key, x] of Object.entries(v)) {
            if (/[A-Z]/.test(key) && !["Weapon", "Ordnance", "TacMod"].includes(key)) camel.push(`${path}.${key}`);
            walk(x, `${path}.${key}`);
          }
        }
      };
      walk(fr.session, "session");
      walk(fr.playerBones, "playerBones");
      if (camel.length) problems.push(`frame ${k + 1}: not the schema's JSON names: ${camel.slice(0, 5).join(", ")}`);
    }
    ok(problems.length === 0, `generator, match ${match.matchId} (${match.profile}): ${problems.slice(0, 5).join("; ")}`);
  }
  ok(all.size === MATCHES * FRAMES, `generator: ${all.size} distinct bodies for ${MATCHES * FRAMES} frames`);
  const avg = (p) => {
    const b = matches.filter((m) => m.match.profile === p).flatMap((m) => m.bodies);
    return b.length ? Math.round(b.reduce((a, x) => a + x.length, 0) / b.length) : 0;
  };
  console.log(`check-frames: seed ${SEED}, ${MATCHES} matches x ${FRAMES} frames, profiles ${profiles.join(",")}; ` +
    `average body ${profiles.map((p) => `${p} ${avg(p)} B`).join(", ")}`);
}

if (DRY_RUN) finish();

// ------------------------------------------------------------------ 2-4. against the service

try {
  // Reachability first, so a stopped service gives one clear message, not a flood of failures.
  await request("GET", "/livez");

  let accepted202 = false;
  const posts = matches.flatMap(({ match, bodies }) => bodies.map((body, k) => ({ match, body, frame: k + 1 })));
  const bad = [];
  await pool(posts, CONCURRENCY, async ({ match, body, frame }) => {
    const r = await request("POST", "/session-events", { body, node: match.node });
    if (r.status === 202) accepted202 = true;
    if (!EXPECT.includes(r.status) || !r.json || r.json.success !== true || r.json.match_id !== match.matchId) {
      bad.push(`POST frame ${frame} of ${match.matchId}: ${r.status} ${r.text.slice(0, 300)}`);
    }
  });
  ok(bad.length === 0, `${bad.length} of ${posts.length} POSTs not ${EXPECT.join("/")} with the match id:\n  ${bad.slice(0, 10).join("\n  ")}`);
  console.log(`check-frames: posted ${posts.length} frames to ${BASE_URL}/session-events, ${posts.length - bad.length} accepted`);

  for (const { match, bodies } of matches) {
    const r = await request("POST", "/session-events", { body: bodies[0], node: match.node });
    ok(EXPECT.includes(r.status) && r.json && r.json.success === true && r.json.match_id === match.matchId,
      `retry of frame 1 of ${match.matchId}: ${r.status} ${r.text.slice(0, 300)}`);
  }

  for (const { match } of matches) {
    // In the acknowledge-on-enqueue mode (202) writes land shortly after the answer: wait a little.
    const deadline = Date.now() + (accepted202 ? 15000 : 0);
    let r;
    for (;;) {
      r = await request("GET", `/session-events/${match.matchId}`);
      if ((r.json && r.json.count === FRAMES) || Date.now() >= deadline) break;
      await new Promise((res) => setTimeout(res, 250));
    }
    const j = r.json || {};
    const events = Array.isArray(j.events) ? j.events : [];
    ok(r.status === 200 && j.match_id === match.matchId && j.count === FRAMES && events.length === FRAMES,
      `GET /session-events/${match.matchId}: ${r.status}, count ${j.count}, ${events.length} events, want ${FRAMES}` +
      (r.status !== 200 ? ` (${r.text.slice(0, 300)})` : ""));
    const indexes = events.map((e) => e && e.data && e.data.frameIndex);
    const want = Array.from({ length: FRAMES }, (_, k) => k + 1);
    ok(events.length !== FRAMES || JSON.stringify(indexes) === JSON.stringify(want),
      `GET ${match.matchId}: events not oldest first: frameIndex ${JSON.stringify(indexes.slice(0, 30))}`);
    ok(events.every((e) => e.match_id === match.matchId &&
      String(((e.data || {}).session || {}).sessionid || "").toLowerCase() === match.sessionId.toLowerCase()),
      `GET ${match.matchId}: an event names another match or session`);
  }
} catch (e) {
  if (e instanceof Unreachable) {
    console.error(`check-frames: cannot reach session-events at ${BASE_URL}: ${e.message}\n` +
      `check-frames: start the service (or set BASE_URL to where it listens) and run again.`);
    process.exit(2);
  }
  throw e;
}

finish();

function finish() {
  console.log(`check-frames: ${passed} passed, ${failed} failed`);
  process.exit(failed === 0 ? 0 : 1);
}
