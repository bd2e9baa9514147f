// The HTTP side of the page: trading the link code for a session, and the
// uploads of a visit. Every URL is relative to the service root (the parent
// of /assets/), so the page also works under a PUBLIC_URL with a path.

export const root = new URL('../', import.meta.url);
const api = new URL('api/v1/telecons-be/', root);
// How long POST /sessions may take before the page gives up (and tries
// again, when it was reconnecting).
const EXCHANGE_LIMIT = 15000;

// Session holds the link code and the latest session obtained with it. The
// code only ever leaves the page in the body of POST /sessions.
export class Session {
  constructor(code) {
    this.code = code;
    this.data = null; // the body of the last 201
    this.skew = 0; // server clock − page clock, in ms, when it matters
  }

  // exchange trades the code for a session. It returns {status, body,
  // retryAfter (ms)}; status 0 means the service could not be reached.
  async exchange() {
    let resp;
    try {
      resp = await fetch(new URL('sessions', api), {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(exchangeBody(this.code)),
        cache: 'no-store',
        credentials: 'omit',
        // A server that accepts but never answers (frozen) is given up,
        // as an unreachable one is.
        signal: AbortSignal.timeout(EXCHANGE_LIMIT),
      });
    } catch {
      return { status: 0, body: {}, retryAfter: 0 };
    }
    let body = {};
    try {
      body = await resp.json();
    } catch {
      // not JSON: a proxy's error page
    }
    const date = Date.parse(resp.headers.get('Date') || '');
    if (!Number.isNaN(date)) {
      // The Date header has a one-second resolution: only a clearly wrong
      // page clock is corrected.
      const skew = date - Date.now();
      this.skew = Math.abs(skew) > 2500 ? skew : 0;
    }
    if (resp.status === 201) this.data = body;
    return { status: resp.status, body, retryAfter: 1000 * (Number(resp.headers.get('Retry-After')) || 0) };
  }

  // now is the service's time as the page best knows it.
  now() {
    return Date.now() + this.skew;
  }

  // token returns a session token valid for at least another minute,
  // trading the code again when needed. It throws a SessionError with the
  // exchange's result when that fails.
  async token() {
    if (!this.data || Date.parse(this.data.expiresAt) - this.now() < 60000) {
      const r = await this.exchange();
      if (r.status !== 201) throw new SessionError(r);
    }
    return this.data.token;
  }

  // windowOpen reports whether the visit's window is still open (the
  // participant may re-enter).
  windowOpen() {
    const w = this.data && this.data.window;
    return !!w && (!w.limited || this.now() < Date.parse(w.endDate));
  }

  // callURL is the signalling WebSocket of the visit.
  callURL() {
    const u = new URL('teleconsultation/' + encodeURIComponent(this.data.teleconsultationId) + '/call', api);
    u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
    return u.href;
  }

  // fetch sends an authenticated request to path under the visit, trading
  // the code again once if the token is refused.
  async fetch(path, init = {}) {
    const url = new URL('teleconsultation/' + encodeURIComponent(this.data.teleconsultationId) + '/' + path, api);
    for (let attempt = 0; ; attempt++) {
      const token = await this.token();
      const resp = await fetch(url, { ...init, cache: 'no-store', credentials: 'omit', headers: { ...(init.headers || {}), Authorization: 'Bearer ' + token } });
      if (resp.status !== 401 || attempt > 0) return resp;
      this.data.expiresAt = new Date(0).toISOString();
    }
  }
}

// SessionError is a failed exchange met while the page needed a token.
export class SessionError extends Error {
  constructor(result) {
    super('session: ' + result.status);
    this.result = result;
  }
}

// HTTPError is a refused request of the uploads API.
class HTTPError extends Error {
  constructor(status, message) {
    super(message || 'HTTP ' + status);
    this.status = status;
  }
}

async function check(resp) {
  if (resp.ok) return resp;
  let msg = '';
  try {
    msg = (await resp.json()).error;
  } catch {
    // no JSON body
  }
  throw new HTTPError(resp.status, msg);
}

// upload shares a file (or a Blob with a name) with the visit.
export async function upload(session, file, name) {
  const form = new FormData();
  form.append('file', file, name || file.name);
  const resp = await check(await session.fetch('uploads', { method: 'POST', body: form }));
  return resp.json();
}

// listUploads returns the files shared in the visit so far.
export async function listUploads(session) {
  const resp = await check(await session.fetch('uploads'));
  return (await resp.json()).files || [];
}

// download fetches a shared file and saves it under its name.
export async function download(session, file) {
  const resp = await check(await session.fetch('uploads/' + encodeURIComponent(file.id)));
  saveBlob(await resp.blob(), file.name);
}

// saveBlob makes the browser save blob as a file named name.
export function saveBlob(blob, name) {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.hidden = true;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
}

// exchangeBody is the body of POST /sessions: the code, and the options of
// the link (?lang= and useBackground=true, which GET's language= and
// useBackground= put there) for the provider's link.
function exchangeBody(code) {
  const q = new URLSearchParams(location.search);
  const body = { code };
  const lang = q.get('lang') || '';
  if (/^[a-z]{2}$/.test(lang)) body.language = lang;
  if (q.get('useBackground') === 'true') body.useBackground = true;
  return body;
}
