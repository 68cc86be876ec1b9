// The API client: the key lives in sessionStorage only (never in a URL, never in localStorage); every
// request sends it as "Authorization: Bearer ...". A 401 forgets the key and tells the shell to log out.

const KEY_STORAGE = 'millstream.apiKey';
const API_PREFIX = '/api/v1/';
const unauthorizedListeners = new Set();

export class ApiError extends Error {
  constructor(status, detail) {
    super(`${status}: ${typeof detail === 'string' ? detail : JSON.stringify(detail)}`);
    this.status = status;
    this.detail = detail;
  }
}

export function getKey() {
  return sessionStorage.getItem(KEY_STORAGE);
}

export function setKey(key) {
  sessionStorage.setItem(KEY_STORAGE, key);
}

export function forgetKey() {
  sessionStorage.removeItem(KEY_STORAGE);
}

/** Call ``listener()`` whenever the API refuses the key; returns a function that stops listening. */
export function onUnauthorized(listener) {
  unauthorizedListeners.add(listener);
  return () => unauthorizedListeners.delete(listener);
}

export function refused() {
  forgetKey();
  for (const listener of unauthorizedListeners) listener();
}

/** The absolute URL of an API path: "alerts" and "/api/v1/alerts" are the same; query values may be arrays. */
export function apiUrl(path, query = {}) {
  const url = new URL(path.startsWith('/') ? path : API_PREFIX + path, window.location.origin);
  for (const [name, value] of Object.entries(query || {})) {
    for (const item of Array.isArray(value) ? value : [value]) {
      if (item !== undefined && item !== null && item !== '') url.searchParams.append(name, String(item));
    }
  }
  return url;
}

export function authHeaders(key = getKey()) {
  return key ? { Authorization: `Bearer ${key}` } : {};
}

/**
 * Fetch JSON from the API with the session's key.
 * opts: {method, query, body (sent as JSON), signal, key (to check a key before keeping it)}.
 * Resolves to the parsed body (null for 204); rejects with ApiError (401 also logs out, unless opts.key).
 */
export async function api(path, opts = {}) {
  const key = opts.key ?? getKey();
  if (!key) {
    refused();
    throw new ApiError(401, 'Not authenticated');
  }
  const headers = { Accept: 'application/json', ...authHeaders(key) };
  const init = { method: opts.method || 'GET', headers, signal: opts.signal, cache: 'no-store' };
  if (opts.body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(opts.body);
  }
  const response = await fetch(apiUrl(path, opts.query), init);
  if (response.status === 401 && opts.key === undefined) refused();
  if (!response.ok) {
    let detail = response.statusText;
    try { detail = (await response.json()).detail ?? detail; } catch { /* not JSON */ }
    throw new ApiError(response.status, detail);
  }
  return response.status === 204 ? null : response.json();
}
