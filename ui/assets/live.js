// Following a match live: `GET /session-events/{id}/live` (Server-Sent Events) read with
// fetch() and a streaming reader, because EventSource cannot send the Bearer header. On a drop
// it reconnects with `last_event_id`, so no frame is lost or repeated by the reconnect.

import { headers, token, AuthRequired, ApiError } from './api.js';

/** Parses `text/event-stream` chunks into `{event, id, data}` messages. */
export class SseParser {
  constructor(onMessage) {
    this.onMessage = onMessage;
    this.buf = '';
    this.reset();
  }
  reset() {
    this.event = '';
    this.data = [];
    this.id = null;
  }
  push(text) {
    this.buf += text;
    let nl;
    while ((nl = this.buf.search(/\r\n|\r|\n/)) >= 0) {
      const line = this.buf.slice(0, nl);
      const skip = this.buf.startsWith('\r\n', nl) ? 2 : 1;
      // A lone \r at the very end may be the first half of \r\n: wait for more.
      if (skip === 1 && this.buf[nl] === '\r' && nl === this.buf.length - 1) break;
      this.buf = this.buf.slice(nl + skip);
      this.line(line);
    }
  }
  line(line) {
    if (line === '') {
      if (this.data.length) {
        this.onMessage({ event: this.event || 'message', id: this.id, data: this.data.join('\n') });
      }
      this.reset();
      return;
    }
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') this.event = value;
    else if (field === 'data') this.data.push(value);
    else if (field === 'id') this.id = value;
  }
}

/**
 * Follows `matchId` until `signal` aborts. `since`: replay stored frames from then first.
 * Callbacks: onFrame(eventObject), onLagged(skipped), onStatus(state, detail) with state one of
 * 'connecting', 'live', 'reconnecting', 'auth', 'unavailable'.
 */
export async function follow(matchId, { since, signal, onFrame, onLagged, onStatus }) {
  let lastId = null;
  let backoff = 500;
  const enc = encodeURIComponent(matchId);
  while (!signal.aborted) {
    const q = new URLSearchParams();
    if (lastId) q.set('last_event_id', lastId);
    else if (since) q.set('since', since);
    onStatus('connecting');
    try {
      const resp = await fetch(`/session-events/${enc}/live?${q}`, {
        headers: headers({ Accept: 'text/event-stream' }),
        signal,
        cache: 'no-store',
      });
      if (resp.status === 401) throw new AuthRequired(Boolean(token()));
      if (!resp.ok) {
        let msg = `${resp.status} ${resp.statusText}`;
        try {
          msg = (await resp.json()).error || msg;
        } catch {
          // keep the status line
        }
        throw new ApiError(resp.status, msg);
      }
      onStatus('live');
      backoff = 500;
      const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
      const parser = new SseParser((m) => {
        if (m.id) lastId = m.id;
        if (m.event === 'frame') {
          try {
            onFrame(JSON.parse(m.data));
          } catch (e) {
            console.warn('a live frame could not be read', e);
          }
        } else if (m.event === 'lagged') {
          try {
            onLagged(Number(JSON.parse(m.data).skipped) || 0);
          } catch {
            onLagged(0);
          }
        }
      });
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        parser.push(value);
      }
    } catch (e) {
      if (signal.aborted) return;
      if (e instanceof AuthRequired) {
        onStatus('auth', e);
        return;
      }
      if (e instanceof ApiError && e.status >= 400 && e.status < 500) {
        onStatus('unavailable', e);
        return;
      }
    }
    if (signal.aborted) return;
    onStatus('reconnecting');
    await new Promise((r) => setTimeout(r, backoff));
    backoff = Math.min(backoff * 2, 10000);
  }
}
