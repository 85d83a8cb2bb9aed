// The match page: `/ui/matches/{match_id}[?frame=N][&live=1]`.
//
// Data loading is designed for long matches (5000 frames, ~60 MB of JSON): events are read in
// pages with `limit`, each page is reduced to compact records (frame.js) and dropped, and the
// page renders after the first small page while the rest streams in. Views draw only the
// selected frame (top view, roster) or one sample per pixel column (the score chart).

import { h, replace, fmtTime } from './dom.js';
import { getJSON, explain, download, token, AuthRequired, ApiError } from './api.js';
import { compactFrame, timelineEntries, matchInfo, Interner, STAT_COLUMNS, KINDS } from './frame.js';
import { TopView } from './topview.js';
import { ScoreChart } from './chart.js';
import { follow } from './live.js';

/** Small first page: something to look at quickly. */
const FIRST_PAGE = 100;
/** Later pages: few round trips, bounded transient memory (~6 MB of JSON each). */
const PAGE = 500;

export function matchView(el, matchId, ctx) {
  const enc = encodeURIComponent(matchId);
  const params = new URLSearchParams(location.search);
  const abort = new AbortController();
  const st = {
    frames: [],
    timeline: [],
    seen: new Set(),
    names: new Interner(),
    info: null,
    summary: null,
    selected: 0,
    wanted: params.has('frame') ? Number(params.get('frame')) : null,
    follow: true,
    live: params.get('live') === '1',
    liveAbort: null,
    done: false,
    shown: false,
    renderedTimeline: 0,
  };
  document.title = `${matchId} · match explorer`;

  // ---- skeleton ---------------------------------------------------------------------------
  const status = h('p', { class: 'notice', id: 'match-status' }, 'Loading the match…');
  const title = h('h1', { class: 'match-title' }, matchId);
  const infoLine = h('p', { class: 'info', id: 'match-info' });
  const content = h('div', { class: 'match', id: 'match-content', hidden: true });
  replace(
    el,
    h('p', { class: 'crumbs' }, h('a', { href: '/ui/matches', 'data-link': true }, '\u2190 Matches')),
    title,
    infoLine,
    status,
    content,
  );

  const scoreBlue = h('span', { class: 'points blue', id: 'score-blue' }, '0');
  const scoreOrange = h('span', { class: 'points orange', id: 'score-orange' }, '0');
  const clock = h('span', { class: 'clock', id: 'game-clock' });
  const frameLabel = h('span', { class: 'frame-label', id: 'frame-label' });
  const slider = h('input', { type: 'range', id: 'scrub', min: '0', max: '0', value: '0', step: '1', 'aria-label': 'frame' });
  const chart = new ScoreChart((i) => select(i, true));
  const top = new TopView();
  const readout = h('p', { class: 'readout', id: 'disc-readout' });
  const roster = h('div', { class: 'roster', id: 'roster' });
  const timeline = h('ol', { class: 'timeline', id: 'timeline' });
  const liveButton = h('button', { type: 'button', id: 'live-toggle', 'aria-pressed': 'false' }, 'Follow live');
  const liveStatus = h('span', { class: 'live-status', id: 'live-status' });
  const exportStatus = h('span', { class: 'export-status', id: 'export-status' });
  const exportLink = (format, ext, label) => {
    const path = `/session-events/${enc}/export?format=${format}`;
    const a = h('a', { class: 'button', href: path, download: `${matchId}.${ext}`, id: `export-${format}` }, label);
    a.addEventListener('click', async (e) => {
      if (!token()) return; // a plain download, streamed to disk by the browser
      e.preventDefault();
      exportStatus.textContent = 'Preparing the download…';
      try {
        await download(path, `${matchId}.${ext}`);
        exportStatus.textContent = '';
      } catch (err) {
        exportStatus.textContent = explain(err, 'The download');
      }
    });
    return a;
  };
  const filters = h(
    'div',
    { class: 'kinds', id: 'kinds' },
    Object.entries(KINDS).map(([k, label]) => {
      const box = h('input', { type: 'checkbox', checked: true, 'data-kind': k });
      box.addEventListener('change', () => timeline.classList.toggle(`hide-${k}`, !box.checked));
      return h('label', { class: `kind ${k}` }, box, ` ${label}`);
    }),
  );
  content.append(
    h(
      'section',
      { class: 'scoreboard' },
      h('div', { class: 'score' }, h('span', { class: 'team blue' }, 'Blue'), scoreBlue, h('span', { class: 'dash' }, '\u2013'), scoreOrange, h('span', { class: 'team orange' }, 'Orange')),
      h('div', { class: 'when' }, clock, ' ', frameLabel),
      h('div', { class: 'actions' }, liveButton, liveStatus, exportLink('echoreplay', 'echoreplay', 'Download .echoreplay'), exportLink('ndjson', 'ndjson', 'Download NDJSON'), exportStatus),
    ),
    h('section', { class: 'scrubber' }, chart.canvas, slider),
    h('div', { class: 'columns' },
      h('section', { class: 'field' }, h('h2', null, 'Top view'), top.svg, readout, h('h2', null, 'Roster'), roster),
      h('section', { class: 'events' }, h('h2', null, 'Timeline'), filters, timeline),
    ),
  );

  timeline.addEventListener('click', (e) => {
    const li = e.target instanceof Element ? e.target.closest('li[data-frame]') : null;
    if (li) select(Number(li.dataset.frame), true);
  });
  slider.addEventListener('input', () => select(Number(slider.value), true));
  liveButton.addEventListener('click', () => setLive(!st.live));

  // ---- data -------------------------------------------------------------------------------
  function ingest(ev) {
    const d = (ev && ev.data) || {};
    const key = `${d.timestamp || ''}|${d.frameIndex ?? d.frame_index ?? 0}`;
    if (st.seen.has(key)) return false;
    st.seen.add(key);
    if (!st.info) st.info = matchInfo(ev);
    const rec = compactFrame(ev, st.names);
    st.frames.push(rec);
    const i = st.frames.length - 1;
    for (const t of timelineEntries(ev, rec)) st.timeline.push({ i, clock: rec.clock, kind: t.kind, text: t.text });
    return true;
  }

  async function loadHistory(after = '') {
    let first = !st.shown;
    try {
      getJSON(`/matches/${enc}`, { signal: abort.signal })
        .then((s) => {
          st.summary = s;
          progress();
        })
        .catch(() => {
          // Optional: the frames themselves say whether the match exists.
        });
      for (;;) {
        const q = new URLSearchParams({ limit: String(first ? FIRST_PAGE : PAGE) });
        if (after) q.set('after', after);
        const page = await getJSON(`/session-events/${enc}?${q}`, { signal: abort.signal });
        for (const ev of Array.isArray(page.events) ? page.events : []) ingest(ev);
        if (first) {
          first = false;
          if (!st.frames.length) {
            if (st.live) {
              status.textContent = 'No frames are stored for this match yet; waiting for live frames…';
              st.done = true;
              startLive();
              return;
            }
            status.className = 'error';
            status.textContent = `No match with the id \u201c${matchId}\u201d is stored here. Check the id, or pick a match from the list.`;
            return;
          }
          show();
          performance.mark('first-render');
        }
        changed();
        progress();
        if (!page.next) break;
        after = page.next;
      }
      st.done = true;
      performance.mark('all-loaded');
      progress();
      if (st.live) startLive();
    } catch (e) {
      if (abort.signal.aborted) return;
      if (e instanceof AuthRequired) {
        ctx.authPrompt(el, e, () => ctx.navigate(location.pathname + location.search, { replace: true }));
        return;
      }
      status.className = 'error';
      const why =
        e instanceof ApiError && e.status === 400
          ? `\u201c${matchId}\u201d is not a valid match id: ${e.message}`
          : explain(e, 'Loading the match');
      status.replaceChildren(why);
      // Worth retrying: the service or its store was unavailable, not the request wrong.
      if (!(e instanceof ApiError) || e.status === 0 || e.status >= 500) {
        const retry = h('button', { type: 'button', id: 'retry' }, 'Try again');
        retry.addEventListener('click', () => {
          status.className = 'notice';
          status.textContent = 'Loading the match…';
          loadHistory(after);
        });
        status.append(' ', retry);
      }
    }
  }

  function progress() {
    const n = st.frames.length;
    if (!st.shown) return;
    const total = st.summary && Number(st.summary.frames);
    status.className = 'notice';
    if (!st.done) {
      status.textContent = total ? `Loading frames: ${n} of ${total}…` : `Loading frames: ${n}…`;
    } else {
      status.textContent = `${n} frames, ${st.timeline.length} timeline events.`;
    }
    const bits = [];
    if (st.info) {
      if (st.info.type) bits.push(st.info.type);
      if (st.info.map) bits.push(st.info.map);
      if (st.info.sessionId) bits.push(`session ${st.info.sessionId}`);
    }
    if (st.summary) {
      if (st.summary.node_id) bits.push(`node ${st.summary.node_id}`);
      if (st.summary.first_timestamp) bits.push(`from ${fmtTime(st.summary.first_timestamp)}`);
      if (st.summary.last_timestamp) bits.push(`to ${fmtTime(st.summary.last_timestamp)}`);
    }
    infoLine.textContent = bits.join(' \u00b7 ');
  }

  function show() {
    st.shown = true;
    content.hidden = false;
    const w = st.wanted;
    select(Number.isInteger(w) && w >= 0 && w < st.frames.length ? w : 0, false);
    if (Number.isInteger(w) && w >= st.frames.length) st.wanted = w;
    else st.wanted = null;
  }

  // ---- rendering --------------------------------------------------------------------------
  let scheduled = false;
  function schedule() {
    if (scheduled) return;
    scheduled = true;
    requestAnimationFrame(() => {
      scheduled = false;
      render();
    });
  }

  /** New frames arrived. */
  function changed() {
    const n = st.frames.length;
    const atEnd = st.selected >= Number(slider.max);
    slider.max = String(Math.max(0, n - 1));
    chart.setFrames(st.frames);
    if (st.wanted !== null && st.wanted < n) {
      st.selected = st.wanted;
      st.wanted = null;
    } else if (st.live && st.follow && atEnd) {
      st.selected = n - 1;
    }
    appendTimeline();
    schedule();
  }

  function appendTimeline() {
    const items = [];
    for (let k = st.renderedTimeline; k < st.timeline.length; k++) {
      const t = st.timeline[k];
      items.push(
        h('li', { class: t.kind, 'data-frame': t.i },
          h('button', { type: 'button' }, h('span', { class: 'clock' }, t.clock || '\u2013'), h('span', { class: 'kind' }, KINDS[t.kind]), h('span', { class: 'text' }, t.text)),
        ),
      );
    }
    st.renderedTimeline = st.timeline.length;
    if (items.length) timeline.append(...items);
  }

  let urlTimer = 0;
  function select(i, byPerson) {
    const n = st.frames.length;
    if (!n) return;
    st.selected = Math.max(0, Math.min(n - 1, i | 0));
    if (byPerson) {
      st.follow = st.selected === n - 1;
      clearTimeout(urlTimer);
      urlTimer = setTimeout(() => {
        const q = new URLSearchParams(location.search);
        q.set('frame', String(st.selected));
        ctx.remember(`${location.pathname}?${q}`);
      }, 300);
    }
    schedule();
  }

  let currentLi = null;
  function render() {
    const n = st.frames.length;
    if (!n) return;
    const i = Math.min(st.selected, n - 1);
    const rec = st.frames[i];
    slider.value = String(i);
    scoreBlue.textContent = String(rec.blue);
    scoreOrange.textContent = String(rec.orange);
    clock.textContent = rec.clock ? `${rec.clock} on the clock \u00b7` : '';
    frameLabel.textContent = `frame ${i + 1} of ${n}${rec.ts ? ` \u00b7 ${fmtTime(rec.ts)}` : ''}`;
    chart.setCursor(i);
    chart.draw();
    top.update(rec);
    readout.textContent = rec.disc
      ? `Disc at x ${rec.disc[0].toFixed(2)}, y ${rec.disc[1].toFixed(2)}, z ${rec.disc[2].toFixed(2)}`
      : 'No disc position in this frame.';
    renderRoster(rec);
    // The timeline entry at or before the selected frame.
    let lo = 0;
    let hi = st.timeline.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (st.timeline[mid].i <= i) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    const li = found >= 0 ? timeline.children[found] : null;
    if (li !== currentLi) {
      if (currentLi) currentLi.classList.remove('current');
      if (li) li.classList.add('current');
      currentLi = li;
    }
  }

  function renderRoster(rec) {
    const tables = [];
    for (const [side, label] of [[0, 'Blue'], [1, 'Orange']]) {
      const players = rec.players.filter((p) => p.side === side);
      tables.push(
        h('table', { class: `roster-table side-${side === 0 ? 'blue' : 'orange'}` },
          h('caption', null, `${label} (${players.length})`),
          h('thead', null, h('tr', null, h('th', null, '#'), h('th', null, 'Player'), STAT_COLUMNS.map(([c]) => h('th', { class: 'num' }, c)), h('th', { class: 'num' }, 'Ping'))),
          h('tbody', null, players.map((p) =>
            h('tr', { 'data-slot': p.slot, class: p.possession ? 'possession' : null },
              h('td', { class: 'num' }, String(p.number)),
              h('td', { class: 'name' }, p.name),
              p.stats.map((v) => h('td', { class: 'num' }, String(v))),
              h('td', { class: 'num' }, String(p.ping)),
            ),
          )),
        ),
      );
    }
    const others = rec.players.filter((p) => p.side > 1);
    if (others.length) tables.push(h('p', { class: 'spectators' }, `Spectators: ${others.map((p) => p.name).join(', ')}`));
    roster.replaceChildren(...tables);
  }

  // ---- live -------------------------------------------------------------------------------
  function setLive(on) {
    st.live = on;
    liveButton.setAttribute('aria-pressed', String(on));
    liveButton.textContent = on ? 'Stop following' : 'Follow live';
    const q = new URLSearchParams(location.search);
    if (on) q.set('live', '1');
    else q.delete('live');
    const qs = q.toString();
    ctx.remember(`${location.pathname}${qs ? `?${qs}` : ''}`);
    if (on) {
      st.follow = true;
      if (st.done) startLive();
    } else stopLive();
  }

  function startLive() {
    if (st.liveAbort) return;
    liveButton.setAttribute('aria-pressed', 'true');
    liveButton.textContent = 'Stop following';
    st.liveAbort = new AbortController();
    const last = st.frames.length ? st.frames[st.frames.length - 1].ts : '';
    const signal = AbortSignal.any([abort.signal, st.liveAbort.signal]);
    follow(matchId, {
      since: last,
      signal,
      onFrame: (ev) => {
        if (!ingest(ev)) return;
        if (!st.shown) show();
        changed();
        progress();
        liveStatus.textContent = `Live \u00b7 last frame at ${fmtTime(st.frames[st.frames.length - 1].ts)}`;
      },
      onLagged: (n) => {
        liveStatus.textContent = `Live \u00b7 ${n} frames skipped (this page fell behind)`;
      },
      onStatus: (state, e) => {
        liveStatus.dataset.state = state;
        if (state === 'connecting') liveStatus.textContent = 'Connecting to the live tail…';
        else if (state === 'live') liveStatus.textContent = 'Live \u00b7 waiting for frames';
        else if (state === 'reconnecting') liveStatus.textContent = 'Live tail dropped; reconnecting…';
        else if (state === 'auth') ctx.authPrompt(el, e, () => ctx.navigate(location.pathname + location.search, { replace: true }));
        else if (state === 'unavailable') {
          liveStatus.textContent = explain(e, 'Following live');
          st.liveAbort = null;
        }
      },
    });
  }

  function stopLive() {
    if (st.liveAbort) st.liveAbort.abort();
    st.liveAbort = null;
    liveStatus.textContent = '';
    delete liveStatus.dataset.state;
  }

  const onResize = () => {
    chart.setFrames(st.frames);
    schedule();
  };
  window.addEventListener('resize', onResize);
  if (st.live) {
    liveButton.setAttribute('aria-pressed', 'true');
    liveButton.textContent = 'Stop following';
  }
  loadHistory();
  return {
    stop() {
      abort.abort();
      clearTimeout(urlTimer);
      window.removeEventListener('resize', onResize);
    },
  };
}
