/**
 * The board's loaders: one per panel, each reads the API and returns what its panel shows (a
 * panel's own errors included; a 401 is thrown so the board asks for a key again).
 */
import { ApiError, api } from "./api.js";
import { OUTCOME_DAYS, ROI_DAYS, TILES, scopeMatches } from "./kpi.js";
import { FILTER_DIMS } from "./view.js";

/** Alerts and cases listed at most (most urgent first); the count shows the rest. */
const MAX_ROWS = 12;
/** Cases read per state (the API lists newest first; the board shows the most urgent of these). */
const CASES_READ = 500;

export const message = (e) => (e instanceof ApiError ? e.message : String(e && e.message ? e.message : e));

export async function loadTiles(view, extra = []) {
  const out = {};
  await Promise.all([...TILES, ...extra].map(async (t) => {
    try {
      const body = await api("/v1/kpis", { params: { metric: t.metric, window: view.window, ...view.filters } });
      out[t.metric] = { series: body.data };
    } catch (e) {
      if (e.status === 401) throw e;
      out[t.metric] = { series: [], error: message(e) };
    }
  }));
  return out;
}

/**
 * Segment gaps (`GET /v1/gaps`, significant_only=false): first the row values (dimension = rows),
 * then for each row the columns compared with each other within that row.
 */
export async function loadHeat(view) {
  const gapWindow = view.window === "1h" ? "1h" : "1d";
  const scope = Object.fromEntries(Object.entries(view.filters).filter(([d]) => d !== view.rows && d !== view.cols));
  const base = { metric: view.hm, window: gapWindow, kind: "segment", significant_only: "false", ...scope };
  let rowValues;
  let window = null;
  if (view.filters[view.rows]) {
    rowValues = [view.filters[view.rows]];
  } else {
    const first = await api("/v1/gaps", { params: { ...base, dimension: view.rows } });
    window = { start: first.window_start, end: first.window_end };
    rowValues = [...new Set(first.data.map((g) => g.segment))].sort();
  }
  const cells = {};
  const colSet = new Set();
  await Promise.all(rowValues.map(async (r) => {
    const body = await api("/v1/gaps", { params: { ...base, [view.rows]: r, dimension: view.cols } });
    window = window || { start: body.window_start, end: body.window_end };
    cells[r] = {};
    for (const g of body.data) {
      if (view.filters[view.cols] && g.segment !== view.filters[view.cols]) continue;
      cells[r][g.segment] = g;
      colSet.add(g.segment);
    }
  }));
  let worst = null;
  for (const r of rowValues) {
    for (const [c, g] of Object.entries(cells[r] || {})) {
      if (g.significant && g.gap < 0 && (!worst || g.severity > worst.severity)) worst = { r, c, severity: g.severity };
    }
  }
  return { rowValues, colValues: [...colSet].sort(), cells, window, worst };
}

export async function loadAlerts(view) {
  const [current, silences] = await Promise.all([
    api("/v1/alerts", { params: { current: "true" } }),
    api("/v1/silences", { params: { active: "true" } }),
  ]);
  const items = current.data
    .filter((a) => (a.status === "firing" || a.status === "pending") && scopeMatches(a.scope, view.filters))
    .map((a) => {
      const s = silences.data.find((x) => x.rule_id === a.rule_id && Object.keys(x.matchers).length === 0);
      return { ...a, silencedUntil: s ? s.ends_at : null };
    })
    .sort((a, b) => (a.status === b.status ? 0 : a.status === "firing" ? -1 : 1));
  return { items: items.slice(0, MAX_ROWS), total: items.length };
}

export async function loadCases(view) {
  const [open, acked] = await Promise.all([
    api("/v1/cases", { params: { state: "open", limit: CASES_READ } }),
    api("/v1/cases", { params: { state: "acknowledged", limit: CASES_READ } }),
  ]);
  const items = [...open.data, ...acked.data]
    .filter((c) => scopeMatches(c.scope, view.filters))
    .sort((a, b) => (b.breached - a.breached) || (a.state === b.state ? 0 : a.state === "open" ? -1 : 1)
      || Date.parse(a.opened_at) - Date.parse(b.opened_at));
  const capped = open.data.length === CASES_READ || acked.data.length === CASES_READ;
  return { items: items.slice(0, MAX_ROWS), total: `${items.length}${capped ? "+" : ""}` };
}

/** Outcomes by NPS category over the last OUTCOME_DAYS (the view's filters) and the ROI of the last ROI_DAYS. */
export async function loadBusiness(view) {
  const now = Date.now();
  const iso = (ms) => new Date(ms).toISOString();
  const [outcomes, roi] = await Promise.all([
    api("/v1/outcomes", { params: { group_by: "nps_category", from: iso(now - OUTCOME_DAYS * 86400e3), to: iso(now),
      ...view.filters } }),
    api("/v1/roi", { params: { from: iso(now - ROI_DAYS * 86400e3), to: iso(now) } }),
  ]);
  return { outcomes, roi };
}

/** Values seen per filter dimension over the last 28 days (volume grouped by the dimension). */
export async function loadOptions() {
  const from = new Date(Date.now() - 86400e3).toISOString();
  const out = {};
  await Promise.all(FILTER_DIMS.map(async (d) => {
    try {
      const body = await api("/v1/kpis", { params: { metric: "volume", window: "28d", group_by: d, from } });
      out[d] = [...new Set(body.data.map((p) => p.group[d]).filter(Boolean))].sort();
    } catch (e) {
      if (e.status === 401) throw e;
      out[d] = [];
    }
  }));
  return out;
}
