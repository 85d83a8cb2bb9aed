// Read load: GET /session-events/{match_id} of recently written matches. setup() first
// posts READ_FRAMES frames to each of READ_MATCHES new matches, then the scenario reads
// them at READ_RATE requests/s and checks every read returns all of them.
//
//   k6 run -e READ_RATE=50 -e DURATION=2m loadtest/read.js
//
// See loadtest/README.md for every variable and what the thresholds mean.

import { cfg, readScenario, readSeeded, readThresholds, runData, seedReadMatches, summaryTrendStats } from "./lib/scenarios.js";

export const options = {
  scenarios: { read: readScenario("read") },
  thresholds: readThresholds("read"),
  summaryTrendStats,
  setupTimeout: "120s",
};

export function setup() {
  const data = runData();
  data.readMatches = seedReadMatches(data);
  console.log(`read: ${cfg.baseUrl}, ${cfg.readRate} reads/s for ${cfg.durationS}s over ${data.readMatches.length} ` +
    `matches of ${cfg.readFrames} ${cfg.profile} frames, seed ${data.seed}`);
  return data;
}

export function read(data) {
  readSeeded(data);
}
