// The REST API (/api/v1): the session token, JSON requests and the API's error shape.
import { clearDrafts } from './drafts.js';

const TOKEN_KEY = 'platica.token';
const USER_KEY = 'platica.user';

export function session() {
  try {
    const token = localStorage.getItem(TOKEN_KEY);
    const user = JSON.parse(localStorage.getItem(USER_KEY) ?? 'null');
    return token && user ? { token, user } : null;
  } catch {
    return null;
  }
}

export function saveSession(token, user) {
  localStorage.setItem(TOKEN_KEY, token);
  localStorage.setItem(USER_KEY, JSON.stringify(user));
}

/** Prefix of the inbox filters kept per user in sessionStorage (inbox.js). */
export const FILTERS_PREFIX = 'platica.inboxFilters.';

/** Forgets the session, and what the user left behind (inbox filters, unsent drafts). */
export function clearSession() {
  localStorage.removeItem(TOKEN_KEY);
  localStorage.removeItem(USER_KEY);
  try {
    for (const k of Object.keys(sessionStorage)) if (k.startsWith(FILTERS_PREFIX)) sessionStorage.removeItem(k);
  } catch {
    // storage disabled
  }
  clearDrafts();
}

/** An error answered by the API (`{"error":{"code","message","field"?}}`) or a network failure. */
export class ApiError extends Error {
  constructor(status, code, message, field, { reason, params } = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field ?? null;
    this.reason = reason ?? null;
    this.params = params ?? {};
  }
}

let onUnauthorized = () => {};
/** Called when an authenticated request answers 401 (the session ended). */
export function setUnauthorizedHandler(fn) {
  onUnauthorized = fn;
}

/**
 * Sends a request to `/api/v1${path}`. Resolves to `{ data, lsn }` (`lsn`: the Platica-Lsn header,
 * for read-your-writes); rejects with an ApiError.
 */
export async function request(method, path, body) {
  const headers = { accept: 'application/json' };
  const s = session();
  if (s) headers.authorization = `Bearer ${s.token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let r;
  try {
    r = await fetch(`/api/v1${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    throw new ApiError(0, 'network', 'network');
  }
  const text = await r.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!r.ok) {
    const e = data?.error ?? {};
    const err = new ApiError(r.status, e.code ?? 'http_' + r.status, e.message ?? r.statusText, e.field, e);
    if (r.status === 401 && s && !path.startsWith('/auth/login')) onUnauthorized(err);
    throw err;
  }
  return { data, lsn: r.headers.get('platica-lsn') };
}

/**
 * GETs `/api/v1${path}` as a Blob (a media file, with the session's token); rejects with an
 * ApiError (e.g. 409 `media_pending`, 404 for media the user does not see).
 */
export async function blob(path) {
  const headers = {};
  const s = session();
  if (s) headers.authorization = `Bearer ${s.token}`;
  let r;
  try {
    r = await fetch(`/api/v1${path}`, { headers });
  } catch {
    throw new ApiError(0, 'network', 'network');
  }
  if (!r.ok) {
    let e = {};
    try {
      e = (await r.json())?.error ?? {};
    } catch {
      e = {};
    }
    throw new ApiError(r.status, e.code ?? 'http_' + r.status, e.message ?? r.statusText, e.field, e);
  }
  return r.blob();
}

export const get = (path) => request('GET', path).then((r) => r.data);
export const post = (path, body) => request('POST', path, body ?? {}).then((r) => r.data);
export const put = (path, body) => request('PUT', path, body).then((r) => r.data);
export const patch = (path, body) => request('PATCH', path, body).then((r) => r.data);
export const del = (path) => request('DELETE', path).then((r) => r.data);

/** `?a=1&b=2` from an object, leaving out null, undefined and '' values. */
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== null && v !== undefined && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}
