/**
 * The board's view state and the URL it lives in, so a view can be shared by copying the address.
 *
 * Query parameters: `window` (1h | 1d | 7d | 28d), one per filter dimension, `preset`,
 * `rows` / `cols` (heatmap dimensions), `hm` (heatmap metric), `wall` (large type),
 * `interval` (seconds between stream polls), `static=1` (no live stream: the page loads once, for
 * screenshots and printing; see main.js). The API key never goes into the query: it travels
 * in the `#token=` fragment once and is then kept in sessionStorage (see api.js).
 */

/** Time ranges offered, as `GET /v1/kpis` windows (tumbling hour / UTC day, rolling 7 and 28 days). */
export const WINDOWS = [
  { id: "1h", label: "Live 1 h" },
  { id: "1d", label: "Today (UTC)" },
  { id: "7d", label: "Rolling 7 d" },
  { id: "28d", label: "Rolling 28 d" },
];

/** Dimensions the board filters on (a subset of core/dimensions.py). */
export const FILTER_DIMS = ["channel", "segment", "journey_step", "team"];

/** Dimensions offered for the heatmap's rows and columns. */
export const HEAT_DIMS = ["channel", "segment", "journey_step", "team", "queue"];

/** Metrics `/v1/gaps` evaluates (schemas/gaps.py GapMetric): the heatmap's choices. */
export const GAP_METRICS = ["nps", "csat", "ces", "fcr", "response_rate", "pos_neg_ratio", "conversion_rate",
  "abandonment_rate", "transfer_rate", "wait_time", "handle_time", "review_rating", "signal_negative_share"];

export const PANELS = ["tiles", "heatmap", "alerts", "cases", "business"];

/** Role presets: a starting view per audience; filters the user chose are kept. */
export const PRESETS = {
  exec: { label: "Executive", window: "28d", hm: "nps", rows: "channel", cols: "segment",
    panels: ["tiles", "heatmap", "alerts"] },
  ops: { label: "Ops supervisor", window: "1h", hm: "csat", rows: "channel", cols: "segment",
    panels: ["tiles", "heatmap", "alerts", "cases"] },
  lead: { label: "Team lead", window: "1d", hm: "csat", rows: "channel", cols: "segment",
    panels: ["tiles", "cases", "heatmap"] },
  business: { label: "Business", window: "28d", hm: "nps", rows: "channel", cols: "segment",
    panels: ["business", "tiles"] },
};

export const DEFAULT_PRESET = "ops";

/** Parse a query string into a complete view; unknown or bad values fall back to the preset's. */
export function parseView(search) {
  const q = new URLSearchParams(search);
  const preset = PRESETS[q.get("preset")] ? q.get("preset") : DEFAULT_PRESET;
  const base = PRESETS[preset];
  const pick = (key, allowed, fallback) => (allowed.includes(q.get(key)) ? q.get(key) : fallback);
  const filters = {};
  for (const d of FILTER_DIMS) {
    const v = (q.get(d) || "").trim();
    if (v) filters[d] = v;
  }
  let rows = pick("rows", HEAT_DIMS, base.rows);
  let cols = pick("cols", HEAT_DIMS, base.cols);
  if (rows === cols) [rows, cols] = [base.rows, base.cols];
  const interval = Number(q.get("interval"));
  return {
    preset,
    window: pick("window", WINDOWS.map((w) => w.id), base.window),
    filters,
    rows,
    cols,
    hm: pick("hm", GAP_METRICS, base.hm),
    panels: base.panels,
    wall: q.get("wall") === "1",
    interval: interval >= 0.5 && interval <= 300 ? interval : 5,
    static: q.get("static") === "1",
  };
}

/** The query string of a view: only what differs from its preset, in a stable order. */
export function formatView(view) {
  const base = PRESETS[view.preset] || PRESETS[DEFAULT_PRESET];
  const q = new URLSearchParams();
  if (view.preset !== DEFAULT_PRESET) q.set("preset", view.preset);
  if (view.window !== base.window) q.set("window", view.window);
  for (const d of FILTER_DIMS) if (view.filters[d]) q.set(d, view.filters[d]);
  if (view.rows !== base.rows) q.set("rows", view.rows);
  if (view.cols !== base.cols) q.set("cols", view.cols);
  if (view.hm !== base.hm) q.set("hm", view.hm);
  if (view.wall) q.set("wall", "1");
  if (view.interval !== 5) q.set("interval", String(view.interval));
  if (view.static) q.set("static", "1");
  const s = q.toString();
  return s ? `?${s}` : "";
}

/** A view switched to another preset: its window, heatmap and panels; filters are kept. */
export function applyPreset(view, preset) {
  const p = PRESETS[preset];
  if (!p) return view;
  return { ...view, preset, window: p.window, hm: p.hm, rows: p.rows, cols: p.cols, panels: p.panels };
}
