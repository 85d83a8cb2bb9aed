// Ingest load: POST /session-events at a ramping arrival rate, over MATCHES concurrent
// matches spread across NODES game-server nodes (X-Node-ID), PROFILE-sized frames.
//
//   k6 run -e RATE=500 -e DURATION=5m -e MATCHES=200 -e NODES=20 loadtest/ingest.js
//
// See loadtest/README.md for every variable and what the thresholds mean.

import { cfg, ingest as ingestIteration, ingestScenario, ingestThresholds, runData, summaryTrendStats } from "./lib/scenarios.js";

export const options = {
  scenarios: { ingest: ingestScenario() },
  thresholds: ingestThresholds("ingest"),
  summaryTrendStats,
  discardResponseBodies: false,
};

export function setup() {
  const data = runData();
  console.log(`ingest: ${cfg.baseUrl}, up to ${cfg.rate} frames/s for ${cfg.durationS}s (ramp ${cfg.rampS}s), ` +
    `${cfg.matches} matches on ${cfg.nodes} nodes, profile ${cfg.profile}, seed ${data.seed}`);
  return data;
}

export function ingest(data) {
  ingestIteration(data);
}
