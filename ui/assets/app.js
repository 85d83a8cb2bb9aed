// The app's entry point: a router over location.pathname (every view is a real URL, so each
// can be bookmarked, reloaded and shared) and the read-token prompt the views fall back to.

import { h, replace } from './dom.js';
import { token, setToken } from './api.js';
import { matchesView } from './matches.js';
import { matchView } from './match.js';

const view = document.getElementById('view');
const forget = document.getElementById('forget-token');
let current = null;

const ctx = {
  /** Goes to `url` inside the app without reloading. */
  navigate(url, { replace: rep = false } = {}) {
    if (rep) history.replaceState(null, '', url);
    else history.pushState(null, '', url);
    route();
  },
  /** Updates the URL (e.g. the selected frame) without re-rendering. */
  remember(url) {
    history.replaceState(null, '', url);
  },
  /** Shows the token form in `el`; `retry` runs once a token is saved. */
  authPrompt(el, err, retry) {
    const input = h('input', {
      id: 'token-input',
      type: 'password',
      autocomplete: 'off',
      spellcheck: 'false',
      required: true,
      minlength: '16',
      placeholder: 'read token',
      'aria-label': 'read token',
    });
    const form = h(
      'form',
      { class: 'auth', id: 'auth-form' },
      h('h2', null, 'Read token needed'),
      h('p', { class: 'error', id: 'auth-reason' }, err.message),
      h(
        'p',
        null,
        'Enter a token of the read scope (one of the service\u2019s AUTH_TOKENS entries `read:…`). ' +
          'It is kept in this browser tab only and sent as an Authorization: Bearer header.',
      ),
      h('div', { class: 'row' }, input, h('button', { type: 'submit' }, 'Continue')),
    );
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      const t = input.value.trim();
      if (!t) return;
      setToken(t);
      retry();
    });
    replace(el, form);
    input.focus();
  },
};

function notFound() {
  document.title = 'Not found · match explorer';
  replace(
    view,
    h('h1', null, 'No such page'),
    h('p', { class: 'error' }, `There is no view at ${location.pathname}.`),
    h('p', null, h('a', { href: '/ui/matches', 'data-link': true }, 'Go to the list of matches')),
  );
  return null;
}

function route() {
  if (current && current.stop) current.stop();
  current = null;
  const path = location.pathname;
  const m = path.match(/^\/ui\/matches\/([^/]+)\/?$/);
  if (['/', '/ui', '/ui/', '/ui/matches', '/ui/matches/'].includes(path)) {
    current = matchesView(view, ctx);
  } else if (m) {
    let id;
    try {
      id = decodeURIComponent(m[1]);
    } catch {
      id = m[1];
    }
    current = matchView(view, id, ctx);
  } else {
    current = notFound();
  }
}

function showForget() {
  forget.hidden = !token();
}

forget.addEventListener('click', () => {
  setToken('');
  route();
});
document.addEventListener('token-changed', showForget);

// Same-origin links to the app navigate inside it.
document.addEventListener('click', (e) => {
  const a = e.target instanceof Element ? e.target.closest('a[data-link]') : null;
  if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin) return;
  e.preventDefault();
  ctx.navigate(url.pathname + url.search);
});
window.addEventListener('popstate', route);

showForget();
route();
