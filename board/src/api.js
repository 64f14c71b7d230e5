/**
 * Talking to the CX Pulse API from the board: the API key, JSON calls and the live stream.
 *
 * The key comes from a `#token=<key>` fragment (fragments are never sent to servers nor put in
 * Referer headers; the board removes it from the address bar at once) or from the sign-in form,
 * and is kept in sessionStorage: it lasts as long as the tab. Calls send it as
 * `Authorization: Bearer`. `EventSource` cannot set headers, so the stream gets it as
 * `?access_token=`, which the API accepts on `GET /v1/stream` only.
 */

const KEY = "cxpulse.board.token";

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** Take a `#token=` fragment into sessionStorage and drop it from the address bar. */
export function adoptFragmentToken(loc = window.location, hist = window.history) {
  const frag = new URLSearchParams(loc.hash.replace(/^#/, ""));
  const token = frag.get("token");
  if (token) {
    setToken(token);
    frag.delete("token");
    const rest = frag.toString();
    hist.replaceState(null, "", loc.pathname + loc.search + (rest ? `#${rest}` : ""));
  }
}

export const getToken = () => sessionStorage.getItem(KEY);
export const setToken = (t) => sessionStorage.setItem(KEY, t.trim());
export const clearToken = () => sessionStorage.removeItem(KEY);

/** The detail of an error response as one readable line (FastAPI 422s are lists with a `loc`). */
function detailOf(body, status) {
  const d = body && body.detail;
  if (Array.isArray(d)) return d.map((e) => `${(e.loc || []).join(".")}: ${e.msg}`).join("; ");
  return typeof d === "string" ? d : `HTTP ${status}`;
}

/** JSON request to the API; throws ApiError (status 0 when the network failed). */
export async function api(path, { method = "GET", params, body, signal } = {}) {
  const url = new URL(path, window.location.origin);
  for (const [k, v] of Object.entries(params || {})) if (v !== undefined && v !== null && v !== "") url.searchParams.set(k, v);
  const headers = { Accept: "application/json", Authorization: `Bearer ${getToken() || ""}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let resp;
  try {
    resp = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal });
  } catch (e) {
    if (e.name === "AbortError") throw e;
    throw new ApiError(0, "the API cannot be reached");
  }
  const data = await resp.json().catch(() => null);
  if (!resp.ok) throw new ApiError(resp.status, detailOf(data, resp.status));
  return data;
}

/**
 * One `GET /v1/stream` subscription that reconnects by itself.
 *
 * The browser retries a dropped connection on its own (the API sends `retry:`), but gives up for
 * good on an HTTP error answer; then this waits (2 s, doubling up to 30 s) and opens a new one.
 * `onState` gets "connecting" | "live" | "reconnecting" | "disconnected".
 *
 * The first connection waits `startAfterMs`: an event stream never completes, and headless
 * screenshot tools (`chromium --screenshot --virtual-time-budget`) wait for pending requests before
 * their clock moves, so a stream opened at once would keep them from ever taking the picture.
 */
export function openStream(params, { onEvent, onState, startAfterMs = 0 }) {
  let es = null;
  let timer = null;
  let delay = 2000;
  let closed = false;
  const url = new URL("/v1/stream", window.location.origin);
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== "") url.searchParams.set(k, v);
  url.searchParams.set("access_token", getToken() || "");

  const connect = () => {
    onState("connecting");
    es = new EventSource(url);
    es.onopen = () => {
      delay = 2000;
      onState("live");
    };
    es.onerror = () => {
      if (closed) return;
      if (es.readyState === EventSource.CLOSED) {
        onState("disconnected");
        timer = setTimeout(connect, delay);
        delay = Math.min(delay * 2, 30000);
      } else {
        onState("reconnecting");
      }
    };
    for (const name of ["kpi", "alert", "gap", "error"]) {
      es.addEventListener(name, (ev) => {
        let data = null;
        try {
          data = JSON.parse(ev.data);
        } catch {
          return;
        }
        onEvent(name, data);
      });
    }
  };
  if (startAfterMs > 0) {
    onState("connecting");
    timer = setTimeout(connect, startAfterMs);
  } else {
    connect();
  }
  return () => {
    closed = true;
    clearTimeout(timer);
    if (es) es.close();
  };
}
