// Mixed load: the ingest scenario (ramping arrival rate, as ingest.js) and, from
// READ_START on, reads of the matches it is writing (constant READ_RATE, as read.js but
// with ?limit=READ_LIMIT, default 100, since those matches keep growing). Both run with
// their own thresholds, so a slow read path that hurts ingest shows up in the ingest ones.
//
//   k6 run -e RATE=500 -e READ_RATE=20 -e DURATION=5m loadtest/mixed.js
//
// See loadtest/README.md for every variable and what the thresholds mean.

import {
  cfg, ingest as ingestIteration, ingestScenario, ingestThresholds, readRecent, readScenario,
  readThresholds, runData, summaryTrendStats,
} from "./lib/scenarios.js";

const readStart = Math.min(cfg.readStartS, Math.max(0, cfg.durationS - 1));

export const options = {
  scenarios: {
    ingest: ingestScenario(),
    read: readScenario("read", {
      startTime: `${Math.round(readStart)}s`,
      duration: `${Math.max(1, Math.round(cfg.durationS - readStart))}s`,
    }),
  },
  thresholds: Object.assign({}, ingestThresholds("ingest"), readThresholds("read")),
  summaryTrendStats,
};

export function setup() {
  const data = runData();
  console.log(`mixed: ${cfg.baseUrl}, up to ${cfg.rate} frames/s and ${cfg.readRate} reads/s for ${cfg.durationS}s, ` +
    `${cfg.matches} matches on ${cfg.nodes} nodes, profile ${cfg.profile}, seed ${data.seed}`);
  return data;
}

export function ingest(data) {
  ingestIteration(data);
}

export function read(data) {
  readRecent(data);
}
