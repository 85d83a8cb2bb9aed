// k6 building blocks shared by ingest.js, read.js and mixed.js: configuration from the
// environment, the ingest and read scenario functions, and setup() helpers.
// (k6 only: this module imports k6's own modules. The pure frame generator is ./frames.js.)

import http from "k6/http";
import { check, fail, sleep } from "k6";
import exec from "k6/execution";
import { Counter, Trend } from "k6/metrics";

import { createFrameSource, newMatch, randomSeed } from "./frames.js";

// ---------------------------------------------------------------- configuration

function env(name, dflt) {
  const v = __ENV[name];
  return v === undefined || v === "" ? dflt : v;
}

function num(name, dflt) {
  const raw = env(name, undefined);
  if (raw === undefined) return dflt;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0) throw new Error(`${name}=${raw} is not a non-negative number`);
  return n;
}

/** "90s", "5m", "1h30m", "1m30s" or a bare number of seconds, to seconds. */
export function parseDuration(s) {
  const str = String(s).trim();
  if (/^\d+(\.\d+)?$/.test(str)) return Number(str);
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/g;
  let total = 0, consumed = 0, m;
  while ((m = re.exec(str)) !== null) {
    const unit = { ms: 0.001, s: 1, m: 60, h: 3600 }[m[2]];
    total += Number(m[1]) * unit;
    consumed += m[0].length;
  }
  if (consumed !== str.length || consumed === 0) throw new Error(`bad duration ${JSON.stringify(s)} (e.g. 90s, 5m, 1h)`);
  return total;
}

function seconds(n) {
  return `${Math.max(1, Math.round(n))}s`;
}

export const cfg = (() => {
  const rate = num("RATE", 200);
  const durationS = parseDuration(env("DURATION", "2m"));
  const rampS = parseDuration(env("RAMP", String(Math.round(durationS / 4))));
  const profile = env("PROFILE", "session");
  if (profile !== "session" && profile !== "bones") throw new Error(`PROFILE=${profile}: want session or bones`);
  return {
    baseUrl: env("BASE_URL", "http://localhost:8080").replace(/\/+$/, ""),
    rate,
    durationS,
    rampS: Math.min(rampS, durationS),
    matches: Math.max(1, Math.floor(num("MATCHES", 100))),
    nodes: Math.max(1, Math.floor(num("NODES", 10))),
    profile,
    authToken: env("AUTH_TOKEN", ""),
    gzip: env("GZIP", "") === "1",
    seed: env("SEED", "") === "" ? null : Math.floor(num("SEED", 0)) >>> 0,
    variants: Math.floor(num("CACHE_VARIANTS", 8)),
    preVUs: Math.floor(num("PRE_VUS", Math.max(10, Math.ceil(rate / 20)))),
    maxVUs: Math.floor(num("MAX_VUS", Math.max(50, Math.ceil(rate / 2)))),
    // Thresholds: http_req_duration percentiles in milliseconds and the failed-request rate.
    p95: num("P95_MS", 250),
    p99: num("P99_MS", 1000),
    maxFailed: num("MAX_FAILED", 0.01),
    readRate: num("READ_RATE", 20),
    readMatches: Math.max(1, Math.floor(num("READ_MATCHES", 10))),
    readFrames: Math.max(1, Math.floor(num("READ_FRAMES", 20))),
    readLimit: Math.floor(num("READ_LIMIT", 0)),
    readP95: num("READ_P95_MS", 500),
    readP99: num("READ_P99_MS", 2000),
    readStartS: parseDuration(env("READ_START", "10s")),
  };
})();

function headers(node, json) {
  const h = {};
  if (json) h["Content-Type"] = "application/json";
  if (node) h["X-Node-ID"] = node;
  if (cfg.authToken) h["Authorization"] = `Bearer ${cfg.authToken}`;
  return h;
}

// ---------------------------------------------------------------- scenarios and thresholds

/** ramping-arrival-rate: ramp to RATE frames/s over RAMP, hold until DURATION. */
export function ingestScenario(extra = {}) {
  const stages = [{ target: cfg.rate, duration: seconds(cfg.rampS) }];
  if (cfg.durationS - cfg.rampS >= 1) stages.push({ target: cfg.rate, duration: seconds(cfg.durationS - cfg.rampS) });
  return Object.assign({
    executor: "ramping-arrival-rate",
    exec: "ingest",
    startRate: 0,
    timeUnit: "1s",
    preAllocatedVUs: cfg.preVUs,
    maxVUs: Math.max(cfg.maxVUs, cfg.preVUs),
    stages,
    gracefulStop: "30s",
  }, extra);
}

/** constant-arrival-rate reads at READ_RATE requests/s. */
export function readScenario(execName, extra = {}) {
  return Object.assign({
    executor: "constant-arrival-rate",
    exec: execName,
    rate: cfg.readRate,
    timeUnit: "1s",
    duration: seconds(cfg.durationS),
    preAllocatedVUs: Math.max(2, Math.ceil(cfg.readRate / 10)),
    maxVUs: Math.max(20, Math.ceil(cfg.readRate)),
    gracefulStop: "30s",
  }, extra);
}

export function ingestThresholds(scenario = "ingest") {
  return {
    [`http_req_failed{scenario:${scenario}}`]: [`rate<${cfg.maxFailed}`],
    [`http_req_duration{scenario:${scenario}}`]: [`p(95)<${cfg.p95}`, `p(99)<${cfg.p99}`],
    [`checks{scenario:${scenario}}`]: ["rate>0.99"],
  };
}

export function readThresholds(scenario = "read") {
  return {
    [`http_req_failed{scenario:${scenario}}`]: [`rate<${cfg.maxFailed}`],
    [`http_req_duration{scenario:${scenario}}`]: [`p(95)<${cfg.readP95}`, `p(99)<${cfg.readP99}`],
    [`checks{scenario:${scenario}}`]: ["rate>0.99"],
  };
}

export const summaryTrendStats = ["avg", "min", "med", "p(90)", "p(95)", "p(99)", "max"];

// ---------------------------------------------------------------- metrics

const framesAccepted = new Counter("frames_accepted");
const framesRefused = new Counter("frames_refused");
const frameBytes = new Trend("frame_bytes");
const readEvents = new Trend("read_events");

// A field of a JSON response body, or undefined when the body is not JSON.
function field(res, key) {
  try {
    return res.json(key);
  } catch (e) {
    return undefined;
  }
}

// ---------------------------------------------------------------- setup

/** The run's shared state: seed (SEED or random) and the start time of every match. */
export function runData() {
  return { seed: cfg.seed === null ? randomSeed() : cfg.seed, startMs: Date.now() };
}

function postFrame(match, body, tags) {
  const params = { headers: headers(match.node, true), tags };
  if (cfg.gzip) params.compression = "gzip";
  return http.post(`${cfg.baseUrl}/session-events`, body, params);
}

/**
 * Writes READ_FRAMES frames to each of READ_MATCHES matches of their own (match indexes
 * from 1,000,000 up, so they never collide with the ingest scenario's), waits until every
 * GET returns them all, and returns the matches with their expected counts.
 */
export function seedReadMatches(data) {
  const source = createFrameSource({ seed: data.seed, variants: cfg.variants });
  const out = [];
  for (let i = 0; i < cfg.readMatches; i++) {
    const match = newMatch({ seed: data.seed, index: 1000000 + i, nodes: cfg.nodes, startMs: data.startMs, profile: cfg.profile });
    const reqs = [];
    for (let f = 1; f <= cfg.readFrames; f++) {
      const params = { headers: headers(match.node, true), tags: { name: "POST /session-events (setup)" } };
      if (cfg.gzip) params.compression = "gzip";
      reqs.push(["POST", `${cfg.baseUrl}/session-events`, source.body(match, f), params]);
    }
    for (const res of http.batch(reqs)) {
      if (res.status !== 200 && res.status !== 202) {
        fail(`setup: POST /session-events answered ${res.status} ${res.error || ""} ${String(res.body).slice(0, 200)} (is the service running at ${cfg.baseUrl}?)`);
      }
    }
    out.push({ matchId: match.matchId, count: cfg.readFrames });
  }
  // In the acknowledge-on-enqueue mode (202) writes land a little later: wait for them.
  for (const m of out) {
    let got = -1;
    for (let attempt = 0; attempt < 50; attempt++) {
      const res = http.get(`${cfg.baseUrl}/session-events/${m.matchId}`, { headers: headers(null, false), tags: { name: "GET /session-events/{match_id} (setup)" } });
      got = res.status === 200 ? field(res, "count") : -1;
      if (got === m.count) break;
      sleep(0.2);
    }
    if (got !== m.count) fail(`setup: GET /session-events/${m.matchId} returned count ${got}, want ${m.count}`);
  }
  return out;
}

// ---------------------------------------------------------------- iterations

let source = null;
const matches = {};

function matchFor(data, index) {
  if (!source) source = createFrameSource({ seed: data.seed, variants: cfg.variants });
  let m = matches[index];
  if (!m) m = matches[index] = newMatch({ seed: data.seed, index, nodes: cfg.nodes, startMs: data.startMs, profile: cfg.profile });
  return m;
}

/**
 * One ingest iteration: the scenario's global iteration number picks the match (round-robin
 * over MATCHES) and its frame index, so frames are unique and in order per match even
 * though many VUs share the matches.
 */
export function ingest(data) {
  const it = exec.scenario.iterationInTest;
  const match = matchFor(data, it % cfg.matches);
  const frameIndex = Math.floor(it / cfg.matches) + 1;
  const body = source.body(match, frameIndex);
  frameBytes.add(body.length);
  const res = postFrame(match, body, { name: "POST /session-events" });
  const ok = check(res, {
    "ingest: status is 200 or 202": (r) => r.status === 200 || r.status === 202,
    "ingest: body names the match": (r) => (r.status === 200 || r.status === 202) && field(r, "match_id") === match.matchId,
  });
  if (ok) framesAccepted.add(1);
  else framesRefused.add(1, { status: String(res.status) });
}

/** One read of a seeded match (see seedReadMatches): must return exactly its frames. */
export function readSeeded(data) {
  const list = data.readMatches;
  const m = list[exec.scenario.iterationInTest % list.length];
  const want = cfg.readLimit > 0 ? Math.min(cfg.readLimit, m.count) : m.count;
  const q = cfg.readLimit > 0 ? `?limit=${cfg.readLimit}` : "";
  const res = http.get(`${cfg.baseUrl}/session-events/${m.matchId}${q}`, {
    headers: headers(null, false), tags: { name: "GET /session-events/{match_id}" },
  });
  check(res, {
    "read: status is 200": (r) => r.status === 200,
    "read: returns every seeded frame": (r) => r.status === 200 && field(r, "count") === want,
  });
  if (res.status === 200) readEvents.add(want);
}

/**
 * One read of a match the ingest scenario is writing (mixed.js): its count grows while we
 * read, so only the shape is checked. READ_LIMIT (default here 100) bounds the response.
 */
export function readRecent(data) {
  const match = matchFor(data, Math.floor(Math.random() * cfg.matches));
  const limit = cfg.readLimit > 0 ? cfg.readLimit : 100;
  const res = http.get(`${cfg.baseUrl}/session-events/${match.matchId}?limit=${limit}`, {
    headers: headers(null, false), tags: { name: "GET /session-events/{match_id}" },
  });
  let count = -1;
  const ok = check(res, {
    "read: status is 200": (r) => r.status === 200,
    "read: body names the match and has a count": (r) => {
      if (r.status !== 200) return false;
      count = field(r, "count");
      return field(r, "match_id") === match.matchId && typeof count === "number" && count >= 0 && count <= limit;
    },
  });
  if (ok) readEvents.add(count);
}
