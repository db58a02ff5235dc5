// The gateway's API (/api/<service>/<path>) and the session.
//
// The access token lives in this module's memory only. The refresh token is kept in sessionStorage (this tab, until it
// is closed) so that a reload stays logged in: on start, and whenever the API answers 401, it is exchanged for a new
// access token at POST /api/user/refresh. The password is sent once, to log in, and never kept.

const REFRESH_KEY = "storefront.refreshToken";

let accessToken = null;
let account = null; // GET /api/user/me: {_id, name, email, role}
let refreshing = null; // the refresh in flight, shared by every caller that got a 401
const listeners = new Set();

/** An error answer of the API: `message` is the envelope's message, meant for the person using the shop. */
export class ApiError extends Error {
  constructor(status, code, message, details = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

/**
 * Calls `/api/<service><path>` and returns the parsed JSON answer; throws an ApiError for anything but 2xx.
 * With `auth` (the default) the access token is sent, and a 401 is retried once after refreshing it.
 */
export async function api(service, path, { method = "GET", body, headers = {}, auth = true } = {}) {
  const send = () => {
    const all = { Accept: "application/json", ...headers };
    if (body !== undefined) all["Content-Type"] = "application/json";
    if (auth && accessToken) all.Authorization = `Bearer ${accessToken}`;
    return fetch(`/api/${service}${path}`, {
      method,
      headers: all,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  };
  let response = await network(send);
  if (response.status === 401 && auth && (await refresh())) response = await network(send);
  return parse(response);
}

async function network(send) {
  try {
    return await send();
  } catch {
    throw new ApiError(0, "network", "The shop could not be reached. Check your connection and try again.");
  }
}

async function parse(response) {
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (response.ok) return data;
  const envelope = data && typeof data === "object" ? data.error : null;
  const message = envelope?.message || `The shop answered ${response.status}; please try again.`;
  const { code, message: _, ...details } = envelope ?? {};
  throw new ApiError(response.status, code ?? "http_error", message, details);
}

/** A new access token from the refresh token; false when there is none or it is no longer valid (logged out). */
async function refresh() {
  const token = sessionStorage.getItem(REFRESH_KEY);
  if (!token) return false;
  refreshing ??= (async () => {
    try {
      const answer = await api("user", "/refresh", { method: "POST", body: { refreshToken: token }, auth: false });
      accessToken = answer.token;
      if (answer.refreshToken) sessionStorage.setItem(REFRESH_KEY, answer.refreshToken);
      return true;
    } catch (error) {
      if (error.status === 401) forget();
      return false;
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

function forget() {
  accessToken = null;
  account = null;
  sessionStorage.removeItem(REFRESH_KEY);
  changed();
}

function changed() {
  for (const listener of listeners) listener(account);
}

/** Calls `listener(account)` whenever someone logs in or out. */
export function onSessionChange(listener) {
  listeners.add(listener);
}

export const currentAccount = () => account;
export const isAdmin = () => account?.role === "admin";

/** Logs in: the tokens are kept as described above, the account read from GET /me. */
export async function logIn(email, password) {
  const answer = await api("user", "/login", { method: "POST", body: { email, password }, auth: false });
  accessToken = answer.token;
  if (answer.refreshToken) sessionStorage.setItem(REFRESH_KEY, answer.refreshToken);
  account = await api("user", "/me");
  changed();
  return account;
}

export function logOut() {
  forget();
}

/** On start: a session left by a reload of this tab is taken up again (one refresh), else nobody is logged in. */
export async function restoreSession() {
  if (!(await refresh())) return null;
  try {
    account = await api("user", "/me");
  } catch {
    forget();
  }
  changed();
  return account;
}

/** A fresh random key (a UUID v4 from crypto.getRandomValues, which also works outside secure contexts). */
export function newIdempotencyKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** A query string for the API: like URLSearchParams, but a space is %20 (the services read "+" as a plus sign). */
export function apiQuery(params) {
  return new URLSearchParams(params).toString().replaceAll("+", "%20");
}
