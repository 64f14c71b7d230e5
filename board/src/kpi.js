/**
 * Small pure helpers over what the API returns. The numbers themselves (values, intervals, n,
 * low-sample marks, gap significance) all come from the API; nothing here recomputes a KPI.
 */

/** The tiles, in reading order; `unit` only drives formatting; `lower`: lower is better
 * (kpi/measures.py LOWER_IS_BETTER), so a value above its target is the bad side. */
export const TILES = [
  { metric: "nps", label: "NPS", unit: "score", digits: 1 },
  { metric: "csat", label: "CSAT", unit: "%", digits: 1 },
  { metric: "ces", label: "CES", unit: "mean", digits: 2 },
  { metric: "fcr", label: "FCR", unit: "%", digits: 1 },
  { metric: "response_rate", label: "Response rate", unit: "%", digits: 1 },
  { metric: "volume", label: "Volume", unit: "count", digits: 0 },
  { metric: "pos_neg_ratio", label: "Positive : negative", unit: "ratio", digits: 2 },
  { metric: "conversion_rate", label: "Conversion", unit: "%", digits: 1 },
  { metric: "abandonment_rate", label: "Abandonment", unit: "%", digits: 1, lower: true },
  { metric: "transfer_rate", label: "Transfers", unit: "%", digits: 1, lower: true },
  { metric: "wait_time", label: "Mean wait", unit: "s", digits: 0, lower: true },
  { metric: "handle_time", label: "Mean handle time", unit: "s", digits: 0, lower: true },
  // Social and review signals (cx.signal.v1)
  { metric: "review_rating", label: "Review rating", unit: "mean", digits: 2 },
  { metric: "signal_negative_share", label: "Negative signals", unit: "%", digits: 1, lower: true },
  { metric: "signal_volume", label: "Signals", unit: "count", digits: 0 },
  { metric: "engagement", label: "Engagement", unit: "count", digits: 0 },
];

/** Targets every scope has without one of its own (gaps/detect.py DEFAULT_TARGETS): 3:1. */
export const DEFAULT_TARGETS = { pos_neg_ratio: 3 };

export const TILE_OF = Object.fromEntries(TILES.map((t) => [t.metric, t]));

/** A tile per configured rated aspect (`GET /v1/aspects`, by name): its mean (`aspect:<name>`) on its
 * own scale, with n and the t interval the API returns, like the CES tile. */
export function aspectTiles(aspects) {
  return (aspects || []).map((a) => ({
    metric: `aspect:${a.name}`, label: a.label, unit: "mean", digits: 2, aspect: a.name, scale: [a.min, a.max],
  }));
}

/** The tile of a metric: a fixed one, or the format of an aspect's (`aspect:<name>`; `aspect_top2:` in %). */
export function tileOf(metric) {
  if (TILE_OF[metric]) return TILE_OF[metric];
  if (metric.startsWith("aspect:")) return { metric, unit: "mean", digits: 2 };
  if (metric.startsWith("aspect_top2:")) return { metric, unit: "%", digits: 1 };
  return null;
}

/** Metrics the board streams: together their counters change whenever any event lands
 * (touchpoints -> volume; invitations and answers -> response_rate). */
export const STREAMED = ["volume", "response_rate"];

/** Format a KPI value as its tile shows it; null (n = 0) shows as an em dash. */
export function formatValue(metric, value) {
  if (value === null || value === undefined) return "—";
  const t = tileOf(metric) || { digits: 1, unit: "" };
  if (t.unit === "count") return Math.round(value).toLocaleString("en-US");
  const s = value.toFixed(t.digits);
  return t.unit === "%" ? `${s}%` : t.unit === "s" ? `${s} s` : t.unit === "ratio" ? `${s}:1` : s;
}

/** Signed difference for the "gap to target" line. */
export function formatGap(metric, gap) {
  if (gap === null || gap === undefined) return "—";
  const t = tileOf(metric) || { digits: 1 };
  const s = Math.abs(gap).toFixed(t.digits);
  return `${gap < 0 ? "−" : "+"}${s}${t.unit === "%" ? " pts" : t.unit === "s" ? " s" : ""}`;
}

/** "3 min", "2 h 5 min", "4 d" since `iso` at `nowMs`. */
export function formatAge(iso, nowMs) {
  if (!iso) return "—";
  const s = Math.max(0, Math.round((nowMs - Date.parse(iso)) / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h${m % 60 ? ` ${m % 60} min` : ""}`;
  return `${Math.floor(h / 24)} d`;
}

/** The latest bucket of a `GET /v1/kpis` series (points are sorted by window_start). */
export function latestPoint(series) {
  return series && series.length ? series[series.length - 1] : null;
}

/**
 * Replace or add pushed stream points (`event: kpi`, same shape as `/v1/kpis` points, ungrouped)
 * in a series, keeping it sorted by window_start.
 */
export function mergePoints(series, pushed) {
  const byStart = new Map((series || []).map((p) => [p.window_start, p]));
  for (const p of pushed) byStart.set(p.window_start, p);
  return [...byStart.values()].sort((a, b) => Date.parse(a.window_start) - Date.parse(b.window_start));
}

/**
 * The target of exactly this scope valid at `atMs` (latest valid_from wins): the rule of
 * gaps/evaluate.py `applicable_target`, applied to the list `GET /v1/targets` returns.
 */
export function applicableTarget(targets, metric, scope, atMs) {
  const same = (a, b) => {
    const ka = Object.keys(a), kb = Object.keys(b);
    return ka.length === kb.length && ka.every((k) => a[k] === b[k]);
  };
  let best = null;
  for (const t of targets || []) {
    if (t.metric !== metric || !same(t.scope || {}, scope)) continue;
    const from = Date.parse(t.valid_from);
    if (from > atMs) continue;
    if (t.valid_to && atMs >= Date.parse(t.valid_to)) continue;
    if (!best || from > Date.parse(best.valid_from)) best = t;
  }
  if (!best && metric in DEFAULT_TARGETS) {
    return { metric, scope, value: DEFAULT_TARGETS[metric], valid_from: null, valid_to: null, default: true };
  }
  return best;
}

/** The colour side of a standing: "below" is bad and "above" good, swapped for a lower-is-better tile. */
export function standingTone(tile, standing) {
  if (!tile || !tile.lower || (standing !== "below" && standing !== "above")) return standing;
  return standing === "below" ? "above" : "below";
}

/**
 * How a tile stands against its target, from the interval the API returned: "below" when the
 * whole interval is under the target, "above" when it is over, "within" otherwise.
 */
export function targetStanding(point, target) {
  if (!point || !target || point.value === null) return null;
  if (point.ci_high !== null && point.ci_high < target.value) return "below";
  if (point.ci_low !== null && point.ci_low > target.value) return "above";
  return "within";
}

/** Whether an alert or case scope belongs to the filtered view (as api/stream.py alert_matches:
 * a scope that names a filtered dimension with another value is left out). */
export function scopeMatches(scope, filters) {
  return Object.entries(filters).every(([d, v]) => (scope || {})[d] === undefined || scope[d] === v);
}

/**
 * Heatmap cell class from a segment gap of `GET /v1/gaps` (significant_only=false):
 * significant shortfalls are "bad" (shade 1-3 by severity), significant leads "good",
 * the rest "flat"; low samples are marked separately.
 */
export function cellTone(gap) {
  if (!gap) return { tone: "empty", shade: 0 };
  if (!gap.significant || gap.gap === null) return { tone: "flat", shade: 0 };
  if (gap.gap < 0) return { tone: "bad", shade: gap.severity >= 0.1 ? 3 : gap.severity >= 0.04 ? 2 : 1 };
  return { tone: "good", shade: 1 };
}

// -- business view (GET /v1/outcomes, GET /v1/roi) ---------------------------------------------

/** Days of outcomes the business panel reads, and of the ROI period (its baseline: the same before). */
export const OUTCOME_DAYS = 90;
export const ROI_DAYS = 30;
export const NPS_ORDER = ["promoter", "passive", "detractor", "no_answer"];

const pct = (v) => (v === null || v === undefined ? "—" : `${(100 * v).toFixed(1)}%`);
const money = (v, currency) => (v === null || v === undefined ? "—"
  : `${Math.round(v).toLocaleString("en-US")}${currency ? ` ${currency}` : ""}`);

/**
 * The business panel's figures from the API's answers, every number as the API gave it:
 * churn rate per NPS category (value, 95% interval, n), the promoter − detractor churn difference
 * with its p-value, the revenue at risk and the ROI.
 */
export function businessFigures(outcomes, roi) {
  const currency = outcomes.currency;
  const rows = NPS_ORDER.map((cat) => outcomes.data.find((g) => g.group.nps_category === cat))
    .filter(Boolean)
    .map((g) => ({
      category: g.group.nps_category, customers: g.customers,
      churn: pct(g.churn_rate.value), churnCi: g.churn_rate.ci_low === null ? null
        : `${pct(g.churn_rate.ci_low)} – ${pct(g.churn_rate.ci_high)}`,
      retention: pct(g.retention.value), conversion: pct(g.conversion.value),
      revenuePerCustomer: money(g.revenue_per_customer.value, currency),
    }));
  const cmp = outcomes.comparisons.length === 1 ? outcomes.comparisons[0] : null;
  const churnDiff = cmp && cmp.promoters_vs_detractors.find((d) => d.metric === "churn_rate");
  const rar = cmp && cmp.revenue_at_risk;
  return {
    currency,
    rows,
    churnDiff: churnDiff ? { text: `${(100 * churnDiff.difference).toFixed(1)} pts`, p: churnDiff.p_value.toPrecision(2),
      significant: churnDiff.significant } : null,
    revenueAtRisk: rar ? { value: money(rar.value, currency),
      ci: `${money(rar.ci_low, currency)} – ${money(rar.ci_high, currency)}`,
      n: `${rar.n_detractors} detractors, ${rar.n_promoters} promoters` } : null,
    roi: roi ? { retained: money(roi.retained_revenue, roi.currency), cost: money(roi.cost, roi.currency),
      value: roi.roi === null ? "—" : `${(100 * roi.roi).toFixed(0)}%`, n: roi.customers } : null,
  };
}
