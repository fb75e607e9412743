// gridd's dashboard API, same origin. The session is an HttpOnly cookie the
// page never sees: every call just sends it. Errors keep the HTTP status so
// that the caller can tell "signed out" (401) from "not allowed" (403).

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function call(method, url, headers) {
  let res;
  try {
    res = await fetch(url, { method, headers, credentials: 'same-origin', cache: 'no-store' });
  } catch (e) {
    throw new ApiError(0, e.message || 'network error');
  }
  if (res.status === 204) return null;
  const text = await res.text();
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    // A proxy's HTML error page: the status says enough.
  }
  if (!res.ok) throw new ApiError(res.status, body?.error || `HTTP ${res.status} ${res.statusText}`.trim());
  return body;
}

// The signed-in principal, or null when signed out. The server answers 401
// then; a 200 without a principal is taken the same way.
export async function getSession() {
  try {
    const s = await call('GET', '/api/session');
    return s && (s.principal || s.dev) ? s : null;
  } catch (e) {
    if (e.status === 401) return null;
    throw e;
  }
}

// Exchanges a bearer token for the session cookie once; the token is not kept.
export function signIn(token) {
  return call('POST', '/api/session', { Authorization: `Bearer ${token}` });
}

export function logout() {
  return call('POST', '/api/logout');
}

export function listProjections() {
  return call('GET', '/api/projections');
}

function query(name, prefix, at, maxRows) {
  const q = new URLSearchParams({ name, prefix });
  if (at) q.set('at', at);
  if (maxRows) q.set('max_rows', String(maxRows));
  return q.toString();
}

// GetProjectionResponse: {position, rows, truncated}; `at` a log position
// for a point-in-time read, else the latest view.
export function getProjection(name, prefix, at, maxRows) {
  return call('GET', `/api/projection?${query(name, prefix, at, maxRows)}`);
}

export function csvUrl(name, prefix, at) {
  return `/api/projection.csv?${query(name, prefix, at)}`;
}

// The multiplexed SSE feed of several projections: one `f=name:prefix` each.
export function feedUrl(specs) {
  const q = new URLSearchParams();
  for (const s of specs) q.append('f', `${s.name}:${s.prefix}`);
  return `/api/feed?${q.toString()}`;
}
