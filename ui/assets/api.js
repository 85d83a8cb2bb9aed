// The only way the page talks to the service: its public read API, with the read token (if the
// person gave one) as a Bearer header. The token lives in sessionStorage: it survives reloads
// and deep links within the tab and is gone when the tab closes.

const TOKEN_KEY = 'session-events.read-token';

export function token() {
  try {
    return sessionStorage.getItem(TOKEN_KEY) || '';
  } catch {
    return '';
  }
}

export function setToken(t) {
  if (t) sessionStorage.setItem(TOKEN_KEY, t);
  else sessionStorage.removeItem(TOKEN_KEY);
  document.dispatchEvent(new CustomEvent('token-changed'));
}

/** The service wants a (different) read token. */
export class AuthRequired extends Error {
  constructor(hadToken) {
    super(hadToken ? 'The read token was not accepted.' : 'This service needs a read token.');
    this.hadToken = hadToken;
  }
}

/** Any other failure, with the status (0: the service could not be reached). */
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export function headers(extra) {
  const h = { ...(extra || {}) };
  const t = token();
  if (t) h.Authorization = `Bearer ${t}`;
  return h;
}

/** fetch() with the token; turns 401 and network failures into the errors above. */
export async function request(path, { signal, accept = 'application/json', extra } = {}) {
  let resp;
  try {
    resp = await fetch(path, { headers: headers({ Accept: accept, ...extra }), signal, cache: 'no-store' });
  } catch (e) {
    if (signal && signal.aborted) throw e;
    throw new ApiError(0, 'The service cannot be reached. Is it running?');
  }
  if (resp.status === 401) throw new AuthRequired(Boolean(token()));
  if (!resp.ok) {
    let message = `${resp.status} ${resp.statusText}`;
    try {
      const body = await resp.json();
      if (body && typeof body.error === 'string') message = body.error;
    } catch {
      // Not the service's JSON error: keep the status line.
    }
    throw new ApiError(resp.status, message);
  }
  return resp;
}

export async function getJSON(path, opts) {
  const resp = await request(path, opts);
  try {
    return await resp.json();
  } catch (e) {
    if (opts && opts.signal && opts.signal.aborted) throw e;
    throw new ApiError(resp.status, 'The service sent an answer that is not JSON (or it was cut short).');
  }
}

/** A sentence for a person, for an error of `request`. */
export function explain(e, what) {
  if (e instanceof ApiError) {
    if (e.status === 0) return e.message;
    if (e.status === 503) {
      const detail = /store is unavailable/.test(e.message) ? '' : ` (${e.message})`;
      return `The store is unavailable right now${detail}. Try again in a moment.`;
    }
    if (e.status === 504) return `The store took too long to answer (${e.message}). Try again, or narrow the time range.`;
    if (e.status === 400) return `The service refused the request: ${e.message}`;
    if (e.status === 404) return `${what} was not found (${e.message}).`;
    return `${what} failed: ${e.message} (HTTP ${e.status}).`;
  }
  return `${what} failed: ${e && e.message ? e.message : e}`;
}

/** Downloads `path` as a file: through fetch() with the token when there is one (a link cannot
 * carry a header), else as a plain navigation, which streams to disk. */
export async function download(path, filename) {
  if (!token()) {
    const a = document.createElement('a');
    a.href = path;
    a.download = filename;
    a.click();
    return;
  }
  const resp = await request(path, { accept: '*/*' });
  const url = URL.createObjectURL(await resp.blob());
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}
