/**
 * CX Pulse live board: tiles, significance heatmap, alerts and cases of one tenant, kept live by
 * `GET /v1/stream`. Every number shown is one the API returned (see kpi.js for the little that is
 * derived: the applicable target and the difference to it).
 */
import { render } from "preact";
import { html } from "htm/preact";
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import "./board.css";
import { adoptFragmentToken, api, clearToken, getToken, openStream, setToken } from "./api.js";
import { STREAMED, aspectTiles, mergePoints } from "./kpi.js";
import { loadAlerts, loadBusiness, loadCases, loadHeat, loadOptions, loadTiles, message } from "./loaders.js";
import { Alerts, Business, Cases, Heatmap, Tiles } from "./panels.js";
import {
  FILTER_DIMS, GAP_METRICS, HEAT_DIMS, PRESETS, WINDOWS, applyPreset, formatView, parseView,
} from "./view.js";

/** Seconds without a window write after which the data is called stale (`GET /v1/status`). */
const STALE_AFTER_S = 300;
const HEAT_EVERY_MS = 15000;
/** The live stream opens this long after the first paint (why: api.js openStream). */
const STREAM_START_MS = 1500;

// -- sign-in ------------------------------------------------------------------------------------
function SignIn({ note, onDone }) {
  const [value, setValue] = useState("");
  return html`<main class="signin">
    <h1>CX Pulse board</h1>
    <form onSubmit=${(e) => { e.preventDefault(); if (value.trim()) { setToken(value); onDone(); } }}>
      <label for="token">API key (needs the <code>read</code> scope; <code>admin</code> to acknowledge)</label>
      <input id="token" type="password" autocomplete="off" value=${value} onInput=${(e) => setValue(e.target.value)} />
      <button type="submit">Open the board</button>
      ${note ? html`<p class="err" role="alert">${note}</p>` : null}
      <p class="sub">Kept in this tab only (sessionStorage). A link may also carry it as <code>#token=…</code>.</p>
    </form>
  </main>`;
}

// -- controls -----------------------------------------------------------------------------------
function Select({ id, label, value, options, onChange }) {
  return html`<label class="ctl" for=${id}><span>${label}</span>
    <select id=${id} value=${value} onChange=${(e) => onChange(e.target.value)}>
      ${options.map(([v, text]) => html`<option value=${v} selected=${v === value}>${text}</option>`)}
    </select></label>`;
}

function Controls({ view, options, setView }) {
  const [copied, setCopied] = useState(false);
  const filterOpts = (d) => {
    const vals = options[d] || [];
    const cur = view.filters[d];
    return [["", "All"], ...(cur && !vals.includes(cur) ? [cur, ...vals] : vals).map((v) => [v, v])];
  };
  const setFilter = (d, v) => {
    const filters = { ...view.filters };
    if (v) filters[d] = v; else delete filters[d];
    setView({ ...view, filters });
  };
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(window.location.href);
      setCopied(true);
      setTimeout(() => setCopied(false), 2000);
    } catch { /* clipboard refused: the address bar holds the same link */ }
  };
  return html`<form class="controls" aria-label="Filters and view" onSubmit=${(e) => e.preventDefault()}>
    <${Select} id="f-preset" label="Role" value=${view.preset}
      options=${Object.entries(PRESETS).map(([k, p]) => [k, p.label])} onChange=${(v) => setView(applyPreset(view, v))} />
    <${Select} id="f-window" label="Time range" value=${view.window}
      options=${WINDOWS.map((w) => [w.id, w.label])} onChange=${(v) => setView({ ...view, window: v })} />
    ${FILTER_DIMS.map((d) => html`<${Select} id=${`f-${d}`} label=${d.replace("_", " ")} value=${view.filters[d] || ""}
      options=${filterOpts(d)} onChange=${(v) => setFilter(d, v)} />`)}
    <${Select} id="f-hm" label="Heatmap KPI" value=${view.hm} options=${GAP_METRICS.map((m) => [m, m.replace("_", " ")])}
      onChange=${(v) => setView({ ...view, hm: v })} />
    <${Select} id="f-rows" label="Rows" value=${view.rows} options=${HEAT_DIMS.filter((d) => d !== view.cols).map((d) => [d, d.replace("_", " ")])}
      onChange=${(v) => setView({ ...view, rows: v })} />
    <${Select} id="f-cols" label="Columns" value=${view.cols} options=${HEAT_DIMS.filter((d) => d !== view.rows).map((d) => [d, d.replace("_", " ")])}
      onChange=${(v) => setView({ ...view, cols: v })} />
    <label class="ctl check" for="f-wall"><input id="f-wall" type="checkbox" checked=${view.wall}
      onChange=${(e) => setView({ ...view, wall: e.target.checked })} /><span>Wall screen</span></label>
    <button type="button" class="ghost" onClick=${copy}>${copied ? "Link copied" : "Copy link"}</button>
  </form>`;
}

function StatusBar({ streamState, freshness, lastUpdate, nowMs, onSignOut }) {
  const stale = freshness && freshness.seconds !== null && freshness.seconds > STALE_AFTER_S;
  const labels = { live: "Live", connecting: "Connecting…", reconnecting: "Reconnecting…", disconnected: "Disconnected — retrying",
    static: "Static (no live updates)" };
  const ago = lastUpdate ? Math.max(0, Math.round((nowMs - lastUpdate) / 1000)) : null;
  return html`<div class="status" role="status" aria-live="polite">
    <span class=${`badge stream ${streamState}`} id="stream-state" data-state=${streamState}>${labels[streamState] || streamState}</span>
    ${stale ? html`<span class="badge bad" id="stale">Data stale: no window written for ${Math.round(freshness.seconds / 60)} min</span>` : null}
    ${freshness && freshness.seconds === null ? html`<span class="badge warn">No data yet</span>` : null}
    <span class="sub">${ago === null ? "" : `updated ${ago} s ago`}</span>
    <button type="button" class="ghost" onClick=${onSignOut}>Sign out</button>
  </div>`;
}

// -- the board ----------------------------------------------------------------------------------
function Board({ onUnauthorized }) {
  const [view, setViewState] = useState(() => parseView(window.location.search));
  const [tiles, setTiles] = useState({});
  const [targets, setTargets] = useState([]);
  const [heat, setHeat] = useState(null);
  const [alerts, setAlerts] = useState(null);
  const [cases, setCases] = useState(null);
  const [business, setBusiness] = useState(null);
  const [options, setOptions] = useState({});
  const [extraTiles, setExtraTiles] = useState([]); // one per configured rated aspect (GET /v1/aspects)
  const extraRef = useRef(extraTiles);
  extraRef.current = extraTiles;
  const [freshness, setFreshness] = useState(null);
  const [streamState, setStreamState] = useState("connecting");
  const [lastUpdate, setLastUpdate] = useState(null);
  const [nowMs, setNow] = useState(Date.now());
  const [busy, setBusy] = useState(false);
  const [notice, setNotice] = useState(null);
  const viewRef = useRef(view);
  viewRef.current = view;
  const gen = useRef(0);
  const timers = useRef({});

  const setView = useCallback((v) => {
    window.history.pushState(null, "", window.location.pathname + formatView(v));
    setViewState(v);
  }, []);

  useEffect(() => {
    const onPop = () => setViewState(parseView(window.location.search));
    window.addEventListener("popstate", onPop);
    const tick = setInterval(() => setNow(Date.now()), 1000);
    return () => { window.removeEventListener("popstate", onPop); clearInterval(tick); };
  }, []);

  /** Run a loader for the current view; drop its answer if the view changed meanwhile. */
  const run = useCallback(async (loader, set, keepOn401 = false) => {
    const g = gen.current;
    try {
      const out = await loader(viewRef.current);
      if (g === gen.current) set(out);
    } catch (e) {
      if (e.status === 401 && !keepOn401) return onUnauthorized("The API key was refused (401).");
      if (g === gen.current) set({ error: message(e) });
    }
    return undefined;
  }, [onUnauthorized]);

  const refreshTiles = useCallback(() => run((v) => loadTiles(v, extraRef.current), (t) => { setTiles(t.error ? {} : t); setLastUpdate(Date.now()); }), [run]);
  const refreshHeat = useCallback(() => run(loadHeat, setHeat), [run]);
  const refreshAlerts = useCallback(() => run(loadAlerts, setAlerts), [run]);
  const refreshCases = useCallback(() => run(loadCases, setCases), [run]);
  const refreshBusiness = useCallback(() => (viewRef.current.panels.includes("business")
    ? run(loadBusiness, setBusiness) : undefined), [run]);
  const refreshStatus = useCallback(() => run(async () => {
    const body = await api("/v1/status");
    return { seconds: body.tenants.length ? body.tenants[0].seconds_since_update : null };
  }, setFreshness), [run]);
  const refreshAll = useCallback(() => {
    refreshTiles(); refreshHeat(); refreshAlerts(); refreshCases(); refreshStatus(); refreshBusiness();
    api("/v1/targets").then((b) => setTargets(b.data)).catch(() => setTargets([]));
  }, [refreshTiles, refreshHeat, refreshAlerts, refreshCases, refreshStatus, refreshBusiness]);

  /** Debounce a refresh (`wait` ms after the last call), or at most once per `wait` when `throttle`. */
  const later = useCallback((name, fn, wait, throttle = false) => {
    if (timers.current[name]) { if (throttle) return; clearTimeout(timers.current[name]); }
    timers.current[name] = setTimeout(() => { timers.current[name] = null; fn(); }, wait);
  }, []);

  // The configured aspects, once: their tiles join the fixed ones (and are read with the next refresh).
  useEffect(() => {
    api("/v1/aspects").then((b) => { extraRef.current = aspectTiles(b.data); setExtraTiles(extraRef.current); refreshTiles(); })
      .catch((e) => e.status === 401 && onUnauthorized("The API key was refused (401)."));
  }, [onUnauthorized, refreshTiles]);

  useEffect(() => {
    loadOptions().then(setOptions).catch((e) => e.status === 401 && onUnauthorized("The API key was refused (401)."));
  }, [onUnauthorized]);

  // A new view: reload everything and resubscribe.
  useEffect(() => {
    gen.current += 1;
    setHeat(null);
    refreshAll();
    const states = {};
    let wasLive = false;
    let wentDown = false;
    if (view.static) setStreamState("static"); // `?static=1`: loaded once, nothing left pending
    const closers = view.static ? [] : STREAMED.map((metric) => openStream(
      { metric, window: view.window, interval: view.interval, ...view.filters },
      {
        startAfterMs: STREAM_START_MS,
        onState: (s) => {
          states[metric] = s;
          const all = STREAMED.map((m) => states[m]);
          const merged = all.every((x) => x === "live") ? "live" : all.includes("disconnected") ? "disconnected"
            : all.includes("reconnecting") ? "reconnecting" : "connecting";
          setStreamState(merged);
          if (merged !== "live" && wasLive) wentDown = true;
          if (merged === "live") {
            wasLive = true;
            if (wentDown) later("all", refreshAll, 200); // events may have been missed meanwhile
            wentDown = false;
          }
        },
        onEvent: (name, data) => {
          if (name === "kpi") {
            setTiles((prev) => ({ ...prev, [metric]: { series: mergePoints(prev[metric] && prev[metric].series, data.data) } }));
            setLastUpdate(Date.now());
            later("tiles", refreshTiles, 300);
            later("status", refreshStatus, 1000);
            later("heat", refreshHeat, HEAT_EVERY_MS, true);
          } else if (name === "alert") {
            later("alerts", refreshAlerts, 300);
          } else if (name === "error") {
            setNotice(`Stream: ${data.detail}`);
          }
        },
      },
    ));
    const poll = setInterval(() => { refreshStatus(); refreshCases(); }, 30000);
    return () => {
      closers.forEach((c) => c());
      clearInterval(poll);
      Object.values(timers.current).forEach((t) => t && clearTimeout(t));
      timers.current = {};
    };
  }, [view, refreshAll, refreshTiles, refreshHeat, refreshAlerts, refreshCases, refreshStatus, later]);

  const act = async (fn, done, what) => {
    setBusy(true);
    setNotice(null);
    try {
      await fn();
      setNotice(`${what}.`);
    } catch (e) {
      setNotice(e.status === 403 ? `${what} needs an API key with the admin scope.` : `${what} failed: ${message(e)}`);
    } finally {
      setBusy(false);
      done();
    }
  };
  const ackCase = (c) => act(() => api(`/v1/cases/${encodeURIComponent(c.id)}/ack`, { method: "POST", body: { by: "board" } }),
    refreshCases, `Case ${c.id} acknowledged`);
  const ackAlert = (a) => act(() => api("/v1/silences", {
    method: "POST",
    body: { rule_id: a.rule_id, ends_at: new Date(Date.now() + 3600e3).toISOString(),
      comment: "Acknowledged on the CX Pulse board", created_by: "board" },
  }), refreshAlerts, `Alert ${a.rule_name} acknowledged for 1 h`);

  useEffect(() => { document.documentElement.classList.toggle("wall", view.wall); }, [view.wall]);

  const show = (p) => view.panels.includes(p);
  return html`<div class="board">
    <a class="skip" href="#tiles">Skip to the KPI tiles</a>
    <header>
      <h1>CX Pulse</h1>
      <${StatusBar} streamState=${streamState} freshness=${freshness} lastUpdate=${lastUpdate} nowMs=${nowMs}
        onSignOut=${() => onUnauthorized(null)} />
    </header>
    <${Controls} view=${view} options=${options} setView=${setView} />
    ${streamState === "disconnected" || streamState === "reconnecting" ? html`<p class="banner" role="alert">
      Live updates are interrupted: the numbers below are from ${lastUpdate ? new Date(lastUpdate).toISOString().slice(11, 19) : "—"} UTC.
      Reconnecting…</p>` : null}
    ${notice ? html`<p class="notice" role="status">${notice}</p>` : null}
    <main>
      ${show("business") ? html`<${Business} business=${business} />` : null}
      ${show("tiles") ? html`<${Tiles} tiles=${tiles} targets=${targets} filters=${view.filters} nowMs=${nowMs} extra=${extraTiles} />` : null}
      <div class="lower">
        ${show("heatmap") ? html`<${Heatmap} heat=${heat} view=${view} />` : null}
        <div class="side">
          ${show("alerts") ? html`<${Alerts} alerts=${alerts} nowMs=${nowMs} onAck=${ackAlert} busy=${busy} />` : null}
          ${show("cases") ? html`<${Cases} cases=${cases} nowMs=${nowMs} onAck=${ackCase} busy=${busy} />` : null}
        </div>
      </div>
    </main>
  </div>`;
}

function App() {
  const [signedIn, setSignedIn] = useState(() => { adoptFragmentToken(); return Boolean(getToken()); });
  const [note, setNote] = useState(null);
  const onUnauthorized = useCallback((why) => { clearToken(); setNote(why); setSignedIn(false); }, []);
  return signedIn ? html`<${Board} onUnauthorized=${onUnauthorized} />`
    : html`<${SignIn} note=${note} onDone=${() => { setNote(null); setSignedIn(true); }} />`;
}

const root = document.getElementById("app");
root.textContent = "";
render(html`<${App} />`, root);
