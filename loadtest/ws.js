// Stream ingest load: STREAMS producers, each one WebSocket on GET /ws (as nevr-agent stream),
// sending a header then FRAMES_PER_STREAM frames of its own match at STREAM_RATE frames/s
// without waiting for replies, and checking that every reply comes back, in order, naming
// its match. Frames are protojson Envelopes ({"frame": …}) from the shared generator.
//
//   k6 run -e STREAMS=100 -e STREAM_RATE=10 -e DURATION=5m loadtest/ws.js
//
// See loadtest/README.md for every variable and what the thresholds mean.

import { check } from "k6";
import exec from "k6/execution";
import { Counter, Rate, Trend } from "k6/metrics";
import { WebSocket } from "k6/experimental/websockets";

import { createFrameSource, newMatch, randomSeed } from "./lib/frames.js";
import { frameMessage, headerMessage, parseReply, streamUrl } from "./lib/stream.js";

function env(name, dflt) {
  const v = __ENV[name];
  return v === undefined || v === "" ? dflt : v;
}
function num(name, dflt) {
  const n = Number(env(name, String(dflt)));
  if (!Number.isFinite(n)) throw new Error(`${name}: not a number`);
  return n;
}

const cfg = {
  baseUrl: env("BASE_URL", "http://localhost:8080").replace(/\/+$/, ""),
  streams: Math.max(1, Math.floor(num("STREAMS", 20))),
  rate: num("STREAM_RATE", 10),
  framesPerStream: Math.max(1, Math.floor(num("FRAMES_PER_STREAM", 600))),
  duration: env("DURATION", "2m"),
  nodes: Math.max(1, Math.floor(num("NODES", 10))),
  profile: env("PROFILE", "session"),
  authToken: env("AUTH_TOKEN", ""),
  seed: env("SEED", "") === "" ? null : Math.floor(num("SEED", 0)) >>> 0,
  p95: num("P95_MS", 250),
  p99: num("P99_MS", 1000),
  maxFailed: num("MAX_FAILED", 0.01),
};

export const options = {
  scenarios: {
    streams: { executor: "constant-vus", vus: cfg.streams, duration: cfg.duration, exec: "stream", gracefulStop: "30s" },
  },
  thresholds: {
    stream_reply_ms: [`p(95)<${cfg.p95}`, `p(99)<${cfg.p99}`],
    stream_failed: [`rate<${cfg.maxFailed}`],
    "checks{check:replies in order}": ["rate==1"],
  },
};

const replyMs = new Trend("stream_reply_ms", true);
const accepted = new Counter("frames_accepted");
const refused = new Counter("frames_refused");
const failedRate = new Rate("stream_failed");

export function setup() {
  const data = { seed: cfg.seed === null ? randomSeed() : cfg.seed, startMs: Date.now() };
  console.log(`ws: ${streamUrl(cfg.baseUrl)}, ${cfg.streams} streams at ${cfg.rate} frames/s, ` +
    `${cfg.framesPerStream} frames each, profile ${cfg.profile}, seed ${data.seed}`);
  return data;
}

let source = null;

/** One iteration: one stream's whole life, a new match each time. */
export function stream(data) {
  if (!source) source = createFrameSource({ seed: data.seed });
  const index = exec.vu.idInTest - 1 + exec.vu.iterationInScenario * cfg.streams;
  const match = newMatch({ seed: data.seed, index, nodes: cfg.nodes, startMs: data.startMs, profile: cfg.profile });
  const headers = { "X-Node-ID": match.node };
  if (cfg.authToken) headers["Authorization"] = `Bearer ${cfg.authToken}`;
  const ws = new WebSocket(streamUrl(cfg.baseUrl), null, { headers });
  const sentAt = []; // per message, in order; message 0 is the header
  let sent = 0;
  let answered = 0;
  let inOrder = true;
  let timer = null;

  ws.onopen = () => {
    sentAt.push(Date.now());
    ws.send(headerMessage(`loadtest-${match.matchId}`, Date.now()));
    timer = setInterval(() => {
      if (sent >= cfg.framesPerStream) {
        clearInterval(timer);
        return;
      }
      sent++;
      sentAt.push(Date.now());
      ws.send(frameMessage(source.body(match, sent)));
    }, 1000 / cfg.rate);
  };
  ws.onmessage = (event) => {
    const r = parseReply(event.data);
    const k = answered++;
    replyMs.add(Date.now() - sentAt[k]);
    if (k === 0) {
      inOrder = inOrder && r.ok && r.matchId === null;
    } else {
      if (r.ok) {
        accepted.add(1);
        inOrder = inOrder && r.matchId === match.matchId;
      } else {
        refused.add(1, { status: String(r.status) });
      }
      failedRate.add(!r.ok);
    }
    if (answered === cfg.framesPerStream + 1) ws.close();
  };
  ws.onerror = (e) => {
    console.error(`ws: stream ${match.matchId}: ${e.error}`);
  };
  ws.onclose = () => {
    if (timer) clearInterval(timer);
    check(null, {
      "replies in order": () => inOrder,
      "every message answered": () => answered === sent + 1,
    });
  };
}
