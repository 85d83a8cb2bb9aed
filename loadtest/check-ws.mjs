#!/usr/bin/env node
// Exercises ws.js's messages (lib/stream.js around lib/frames.js) against a running
// session-events over a real WebSocket, with plain node and no dependencies (Node 22+ has a
// global WebSocket; Node 20 needs `node --experimental-websocket`). Browser WebSockets cannot
// set headers, so the node comes in the query (?node=), the path for such clients.
//
//   1. for each of MATCHES matches, opens a stream, sends a header, FRAMES frames and the first
//      frame again (a producer's retry), without waiting for replies;
//   2. every message gets one reply, in order: the header {"success":true}, each frame
//      success naming its match;
//   3. GETs each match: exactly FRAMES events (the retry added nothing), frameIndex 1..FRAMES.
//
//   node --experimental-websocket loadtest/check-ws.mjs
//   BASE_URL=http://127.0.0.1:18080 FRAMES=20 MATCHES=3 node loadtest/check-ws.mjs
//
// Exit status: 0 all passed, 1 a check failed, 2 the service could not be reached (or bad usage).
// Env: BASE_URL, FRAMES (10), MATCHES (2), NODES (2), PROFILE ("session"), TIMEOUT_MS (20000), SEED.

import { createFrameSource, newMatch, randomSeed } from "./lib/frames.js";
import { frameMessage, headerMessage, parseReply, streamUrl } from "./lib/stream.js";

function envInt(name, dflt, min = 1) {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return dflt;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) usage(`${name}=${raw}: want an integer >= ${min}`);
  return n;
}
function usage(msg) {
  console.error(`check-ws: ${msg}`);
  process.exit(2);
}
if (typeof WebSocket === "undefined") usage("no global WebSocket: run with node 22+, or node 20 with --experimental-websocket");

const BASE_URL = (process.env.BASE_URL || "http://localhost:8080").replace(/\/+$/, "");
const FRAMES = envInt("FRAMES", 10);
const MATCHES = envInt("MATCHES", 2);
const NODES = envInt("NODES", 2);
const TIMEOUT_MS = envInt("TIMEOUT_MS", 20000);
const PROFILE = process.env.PROFILE || "session";
const SEED = process.env.SEED ? envInt("SEED", 0, 0) >>> 0 : randomSeed();

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

/** Streams one match; resolves with its replies (parsed, in order). */
function streamMatch(match, source) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(streamUrl(BASE_URL, { node: match.node }));
    const want = FRAMES + 2;
    const replies = [];
    const timer = setTimeout(() => {
      ws.close();
      reject(new Error(`${match.matchId}: ${replies.length} of ${want} replies within ${TIMEOUT_MS} ms`));
    }, TIMEOUT_MS);
    ws.onerror = () => {
      clearTimeout(timer);
      reject(new Error(`cannot stream to ${streamUrl(BASE_URL)} (is the service running?)`));
    };
    ws.onopen = () => {
      ws.send(headerMessage(`check-${match.matchId}`, Date.now()));
      for (let f = 1; f <= FRAMES; f++) ws.send(frameMessage(source.body(match, f)));
      ws.send(frameMessage(source.body(match, 1))); // the retry
    };
    ws.onmessage = (event) => {
      replies.push(parseReply(String(event.data)));
      if (replies.length === want) {
        clearTimeout(timer);
        ws.close();
        resolve(replies);
      }
    };
  });
}

async function main() {
  const source = createFrameSource({ seed: SEED });
  const startMs = Date.now();
  const matches = [];
  for (let i = 0; i < MATCHES; i++) matches.push(newMatch({ seed: SEED, index: i, nodes: NODES, startMs, profile: PROFILE }));
  let results;
  try {
    results = await Promise.all(matches.map((m) => streamMatch(m, source)));
  } catch (e) {
    console.error(`check-ws: ${e.message}`);
    process.exit(e.message.includes("cannot stream") ? 2 : 1);
  }
  matches.forEach((m, i) => {
    const replies = results[i];
    ok(replies[0].ok && replies[0].matchId === null, `${m.matchId}: the header is answered {"success":true}: ${JSON.stringify(replies[0])}`);
    replies.slice(1).forEach((r, k) => {
      ok(r.ok && r.matchId === m.matchId, `${m.matchId}: reply ${k + 1} is success naming the match, in order: ${JSON.stringify(r)}`);
    });
  });
  for (const m of matches) {
    const res = await fetch(`${BASE_URL}/session-events/${m.matchId}`);
    const body = await res.json();
    ok(res.status === 200, `GET ${m.matchId}: ${res.status}`);
    ok(body.count === FRAMES, `${m.matchId}: ${body.count} events stored, want ${FRAMES} (the retry adds nothing)`);
    const idx = (body.events || []).map((e) => e.data.frameIndex);
    ok(idx.every((v, k) => v === k + 1), `${m.matchId}: frameIndex 1..${FRAMES} in order: ${idx.join(",")}`);
  }
  console.log(`check-ws: ${passed} checks passed, ${failed} failed (${MATCHES} matches x ${FRAMES} frames, seed ${SEED})`);
  process.exit(failed ? 1 : 0);
}

main();
