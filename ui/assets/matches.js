// The Matches view: `GET /matches` with a node filter, a time range and cursor paging, all kept
// in the URL (`/ui/matches?node=…&since=…&until=…&after=…&limit=…`) so a filtered page can be
// shared.

import { h, replace, fmtTime } from './dom.js';
import { getJSON, explain, AuthRequired } from './api.js';

const PAGE = 50;

/** `datetime-local` value (local time) from an RFC 3339 string, and back. */
function toLocalInput(iso) {
  const d = new Date(iso);
  if (!iso || Number.isNaN(d.getTime())) return '';
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}
function fromLocalInput(v) {
  if (!v) return '';
  const d = new Date(v);
  return Number.isNaN(d.getTime()) ? '' : d.toISOString();
}

export function matchesView(el, ctx) {
  const params = new URLSearchParams(location.search);
  const filter = {
    node: params.get('node') || '',
    since: params.get('since') || '',
    until: params.get('until') || '',
  };
  const after = params.get('after') || '';
  const limit = Number(params.get('limit')) || PAGE;
  const abort = new AbortController();
  document.title = 'Matches · match explorer';

  const node = h('input', { name: 'node', id: 'filter-node', value: filter.node, placeholder: 'any node', size: '16' });
  const since = h('input', { name: 'since', id: 'filter-since', type: 'datetime-local', step: '1', value: toLocalInput(filter.since) });
  const until = h('input', { name: 'until', id: 'filter-until', type: 'datetime-local', step: '1', value: toLocalInput(filter.until) });
  const form = h(
    'form',
    { class: 'filters', id: 'filters' },
    h('label', null, 'Node ', node),
    h('label', null, 'Active since ', since),
    h('label', null, 'until ', until),
    h('button', { type: 'submit' }, 'Show'),
    h('a', { href: '/ui/matches', 'data-link': true, class: 'button secondary' }, 'Clear'),
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const q = new URLSearchParams();
    if (node.value.trim()) q.set('node', node.value.trim());
    if (params.get('limit')) q.set('limit', params.get('limit'));
    const s = fromLocalInput(since.value);
    const u = fromLocalInput(until.value);
    if (s) q.set('since', s);
    if (u) q.set('until', u);
    const qs = q.toString();
    ctx.navigate(`/ui/matches${qs ? `?${qs}` : ''}`);
  });

  const status = h('p', { class: 'notice', id: 'matches-status' }, 'Loading matches…');
  const body = h('div', { id: 'matches-body' });
  replace(el, h('h1', null, 'Matches'), form, status, body);

  async function load() {
    const q = new URLSearchParams();
    if (filter.node) q.set('node', filter.node);
    if (filter.since) q.set('since', filter.since);
    if (filter.until) q.set('until', filter.until);
    q.set('limit', String(limit));
    if (after) q.set('after', after);
    let page;
    try {
      page = await getJSON(`/matches?${q}`, { signal: abort.signal });
    } catch (e) {
      if (abort.signal.aborted) return;
      if (e instanceof AuthRequired) {
        ctx.authPrompt(el, e, () => ctx.navigate(location.pathname + location.search, { replace: true }));
        return;
      }
      status.className = 'error';
      status.textContent = explain(e, 'Loading the list of matches');
      body.replaceChildren(h('button', { type: 'button', onclick: load }, 'Try again'));
      return;
    }
    const matches = Array.isArray(page.matches) ? page.matches : [];
    status.className = 'notice';
    status.textContent = matches.length
      ? `${matches.length} match${matches.length === 1 ? '' : 'es'}${after ? ' (a later page)' : ''}, most recently active first.`
      : after
        ? 'No more matches.'
        : 'No matches in this range.';
    const rows = matches.map((m) => {
      const id = String(m.match_id || '');
      return h(
        'tr',
        { class: 'match-row' },
        h('td', null, h('a', { href: `/ui/matches/${encodeURIComponent(id)}`, 'data-link': true, class: 'match-link' }, id)),
        h('td', null, String(m.node_id || '')),
        h('td', null, fmtTime(m.first_timestamp)),
        h('td', null, fmtTime(m.last_timestamp)),
        h('td', null, fmtTime(m.last_received_at)),
        h('td', { class: 'num' }, String(m.frames ?? '')),
      );
    });
    const nav = h('p', { class: 'paging' });
    const base = new URLSearchParams(location.search);
    if (after) {
      base.delete('after');
      nav.append(h('a', { href: `/ui/matches${base.toString() ? `?${base}` : ''}`, 'data-link': true }, '\u2190 First page'), ' ');
    }
    if (page.next) {
      const q2 = new URLSearchParams(location.search);
      q2.set('after', page.next);
      nav.append(h('a', { href: `/ui/matches?${q2}`, 'data-link': true, id: 'next-page' }, 'Next page \u2192'));
    }
    body.replaceChildren(
      rows.length
        ? h(
            'table',
            { class: 'matches' },
            h('thead', null, h('tr', null, ['Match', 'Node', 'First frame', 'Last frame', 'Last received', 'Frames'].map((t) => h('th', null, t)))),
            h('tbody', null, rows),
          )
        : '',
      nav,
    );
  }
  load();
  return { stop: () => abort.abort() };
}
