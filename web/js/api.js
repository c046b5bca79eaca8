// The REST API: the signed-in session (kept in localStorage), authorised fetches, photos.

const SESSION_KEY = 'hub.session';

export class ApiError extends Error {
  constructor(status, detail) {
    super(typeof detail === 'string' ? detail : `request failed (${status})`);
    this.status = status;
    this.detail = detail;
  }
}

/** A network failure (offline, server down): worth trying again later. */
export class NetworkError extends Error {}

const listeners = new Set();

export const session = {
  token: null,
  expiresAt: 0,
  // {user, role, venue, can: [capability], enrols: [role], partnerships: [{id, name, venues, channels, position}]}
  me: null,

  load() {
    try {
      const saved = JSON.parse(localStorage.getItem(SESSION_KEY) || 'null');
      if (saved && saved.token && saved.expiresAt > Date.now()) {
        Object.assign(this, saved);
        return true;
      }
    } catch { /* a broken entry is the same as none */ }
    return false;
  },

  save() {
    localStorage.setItem(SESSION_KEY, JSON.stringify({ token: this.token, expiresAt: this.expiresAt, me: this.me }));
  },

  clear() {
    this.token = null;
    this.expiresAt = 0;
    this.me = null;
    localStorage.removeItem(SESSION_KEY);
  },

  get user() { return this.me?.user; },
  get role() { return this.me?.role; },
};

const freshTokenListeners = new Set();
let refreshTimer = null;
// A token lives an hour and a shift longer: it is refreshed this long before it ends.
const REFRESH_BEFORE_MS = 10 * 60 * 1000;

/** Called with each fresh token (the live socket hands it to the hub, so it stays open). */
export function onFreshToken(fn) { freshTokenListeners.add(fn); }

/** Keep the signed-in token fresh until sign-out; offline, try again shortly. */
export function keepFresh() {
  clearTimeout(refreshTimer);
  if (!session.token) return;
  const wait = Math.max(10 * 1000, session.expiresAt - Date.now() - REFRESH_BEFORE_MS);
  refreshTimer = setTimeout(refresh, wait);
}

async function refresh() {
  try {
    const data = await api('/v1/auth/refresh', { method: 'POST' });
    remember(data);
    for (const fn of freshTokenListeners) fn(session.token);
  } catch (error) {
    if (error instanceof ApiError) return; // refused: api() has signed the member out
  }
  keepFresh();
}

function remember(data) {
  session.token = data.access_token;
  session.expiresAt = Date.now() + (data.expires_in || 3600) * 1000;
  session.save();
}

/** Called with a reason when the server says the token is no longer good. */
export function onSignedOut(fn) { listeners.add(fn); }

export function signedOut(reason) {
  for (const fn of listeners) fn(reason);
}

export async function login(username, password) {
  const body = new URLSearchParams({ username, password });
  let answer;
  try {
    answer = await fetch('/v1/auth/token', { method: 'POST', body });
  } catch {
    throw new NetworkError('cannot reach the hub: check the connection');
  }
  const data = await answer.json().catch(() => ({}));
  if (!answer.ok) throw new ApiError(answer.status, data.detail || 'sign-in failed');
  remember(data);
  session.me = await api('/v1/me');
  session.save();
  keepFresh();
  return session.me;
}

/**
 * An authorised request. `json` sends JSON, `form` sends FormData; `key` sets the
 * Idempotency-Key. Answers the parsed JSON (or text for `text: true`).
 */
export async function api(path, { method = 'GET', json, form, key, text = false, signal } = {}) {
  const headers = { Accept: text ? 'application/x-ndjson' : 'application/json' };
  if (session.token) headers.Authorization = `Bearer ${session.token}`;
  if (key) headers['Idempotency-Key'] = key;
  let body;
  if (json !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(json);
  } else if (form !== undefined) {
    body = form;
  }
  let answer;
  try {
    answer = await fetch(path, { method, headers, body, signal, cache: 'no-store' });
  } catch (error) {
    if (error && error.name === 'AbortError') throw error;
    throw new NetworkError('cannot reach the hub');
  }
  if (answer.status === 401) {
    const data = await answer.json().catch(() => ({}));
    signedOut(data.detail || 'signed out');
    throw new ApiError(401, data.detail || 'not signed in');
  }
  if (!answer.ok) {
    const data = await answer.json().catch(() => ({}));
    throw new ApiError(answer.status, data.detail || answer.statusText);
  }
  if (text) return answer.text();
  if (answer.status === 204) return null;
  return answer.json();
}

export const p = (partnership, rest = '') => `/v1/partnerships/${encodeURIComponent(partnership)}${rest}`;

// Photos need the bearer token, so they are fetched and shown through blob: URLs.
const blobs = new Map();

export async function imageUrl(path) {
  if (blobs.has(path)) return blobs.get(path);
  const promise = (async () => {
    const answer = await fetch(path, { headers: { Authorization: `Bearer ${session.token}` } });
    if (!answer.ok) throw new ApiError(answer.status, 'photo unavailable');
    return URL.createObjectURL(await answer.blob());
  })();
  blobs.set(path, promise);
  promise.catch(() => blobs.delete(path));
  return promise;
}

export function forgetImages() {
  for (const promise of blobs.values()) promise.then((url) => URL.revokeObjectURL(url)).catch(() => {});
  blobs.clear();
}

export const subjectPhoto = (partnership, subjectId, photoId, size = 'thumb') =>
  p(partnership, `/subjects/${subjectId}/photos/${photoId}?size=${size}`);
