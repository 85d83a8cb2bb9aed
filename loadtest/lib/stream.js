// The WebSocket stream messages (GET /ws), as nevr-agent sends them: protojson Envelopes,
// one per text message. Pure ES module, no imports: shared by ws.js (k6) and check-ws.mjs (node).

/** `{"frame": <frame>}` around a frame's protojson (a string, as frames.js builds it). */
export function frameMessage(frameJson) {
  return `{"frame":${frameJson}}`;
}

/** A capture's header: answered `{"success":true}`, nothing stored. */
export function headerMessage(captureId, createdAtMs) {
  return JSON.stringify({
    header: { capture_id: captureId, created_at: new Date(createdAtMs).toISOString(), metadata: { source: "loadtest" } },
  });
}

/** `ws://` (or `wss://`) URL of the stream endpoint for a base URL, with an optional query. */
export function streamUrl(baseUrl, query) {
  const url = baseUrl.replace(/^http/, "ws").replace(/\/+$/, "") + "/ws";
  if (!query) return url;
  const parts = Object.keys(query).map((k) => `${encodeURIComponent(k)}=${encodeURIComponent(query[k])}`);
  return `${url}?${parts.join("&")}`;
}

/**
 * A reply as { ok, matchId, status, error }: `{"success":true,"match_id":…}` for a frame,
 * `{"success":true}` for a header, `{"success":false,"error":…,"status":N}` for a failure.
 */
export function parseReply(text) {
  let r;
  try {
    r = JSON.parse(text);
  } catch (e) {
    return { ok: false, matchId: null, status: 0, error: `not JSON: ${String(text).slice(0, 100)}` };
  }
  return {
    ok: r.success === true,
    matchId: typeof r.match_id === "string" ? r.match_id : null,
    status: r.success === true ? 200 : Number(r.status) || 0,
    error: r.error || null,
  };
}
