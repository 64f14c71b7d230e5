/** The board's panels: KPI tiles, the significance heatmap, alerts and cases. Markup only. */
import { html } from "htm/preact";
import { Sparkline } from "./sparkline.js";
import {
  NPS_ORDER, OUTCOME_DAYS, ROI_DAYS, businessFigures, TILES, applicableTarget, cellTone, formatAge, formatGap, formatValue, latestPoint, standingTone, targetStanding,
} from "./kpi.js";

const fmtTime = (iso) => (iso ? new Date(iso).toISOString().slice(0, 16).replace("T", " ") + " UTC" : "—");
const pretty = (dim) => dim.replace("_", " ");

function Tile({ tile, state, targets, filters, nowMs }) {
  const series = (state && state.series) || [];
  const p = latestPoint(series);
  const target = tile.metric === "volume" ? null : applicableTarget(targets, tile.metric, filters, nowMs);
  const standing = targetStanding(p, target);
  const tone = standingTone(tile, standing); // "below" = the bad side, whatever the metric's direction
  const id = `tile-${tile.metric.replace(":", "-")}`;
  const ci = p && p.ci_low !== null && p.ci_high !== null
    ? `${formatValue(tile.metric, p.ci_low)} – ${formatValue(tile.metric, p.ci_high)}` : null;
  const summary = p
    ? `${tile.label} ${formatValue(tile.metric, p.value)}, n ${p.n}${ci ? `, 95% interval ${ci}` : ""}`
      + `${p.low_sample ? ", low sample" : ""}${target ? `, target ${formatValue(tile.metric, target.value)}` : ""}`
    : `${tile.label}: no data`;
  return html`
    <article class=${`tile ${tone || ""} ${p && p.low_sample ? "low" : ""}`} id=${id} data-metric=${tile.metric}
      data-value=${p ? String(p.value) : ""} data-n=${p ? String(p.n) : ""}
      data-ci-low=${p && p.ci_low !== null ? String(p.ci_low) : ""} data-ci-high=${p && p.ci_high !== null ? String(p.ci_high) : ""}
      data-window-start=${p ? p.window_start : ""} aria-labelledby=${`${id}-h`} aria-describedby=${`${id}-s`}>
      <h3 id=${`${id}-h`}>${tile.label}</h3>
      <p class="sr-only" id=${`${id}-s`}>${summary}</p>
      ${state && state.error
        ? html`<p class="err" role="alert">${state.error}</p>`
        : html`
          <p class="value" aria-hidden="true">${p ? formatValue(tile.metric, p.value) : "—"}</p>
          <p class="meta">
            ${ci ? html`<span class="ci">95% ${ci}</span>` : null}
            <span class="n">n ${p ? p.n.toLocaleString("en") : 0}</span>
            ${p && p.low_sample ? html`<span class="badge warn" title="Too few answers to act on">low n</span>` : null}
          </p>
          <p class="target">${target
            ? html`target ${formatValue(tile.metric, target.value)} · gap <strong>${formatGap(tile.metric, p && p.value !== null ? p.value - target.value : null)}</strong>
              ${standing === "below" || standing === "above"
                ? html` <span class=${`badge ${tone === "below" ? "bad" : "good"}`}>${standing}</span>` : null}`
            : tile.metric === "volume" ? "touchpoints" : "no target"}</p>
          <${Sparkline} points=${series} tone=${tone} />
          <p class="when">${p ? `${fmtTime(p.window_start)} → ${fmtTime(p.window_end)}` : "no data in range"}</p>`}
    </article>`;
}

/** The fixed tiles, then one per configured rated aspect (`extra`: kpi.js aspectTiles). */
export function Tiles({ tiles, targets, filters, nowMs, extra = [] }) {
  return html`<section class="tiles" aria-label="KPI tiles" id="tiles">
    ${[...TILES, ...extra].map((t) => html`<${Tile} key=${t.metric} tile=${t} state=${tiles[t.metric]} targets=${targets}
      filters=${filters} nowMs=${nowMs} />`)}
  </section>`;
}

export function Heatmap({ heat, view }) {
  const { rows, cols } = view;
  const title = html`<h2 id="heat-h">${formatHeatTitle(view)}</h2>`;
  if (!heat) return html`<section class="panel heat" aria-labelledby="heat-h">${title}<p>Loading…</p></section>`;
  if (heat.error) {
    return html`<section class="panel heat" aria-labelledby="heat-h">${title}<p class="err" role="alert">${heat.error}</p></section>`;
  }
  const worst = heat.worst;
  return html`<section class="panel heat" aria-labelledby="heat-h">
    ${title}
    <p class="sub">${heat.window ? `${fmtTime(heat.window.start)} → ${fmtTime(heat.window.end)}` : ""}
      · each cell vs the rest of its row · red = significantly worse, green = better, grey = no significant difference</p>
    ${heat.rowValues.length === 0 ? html`<p>No data in this window.</p>` : html`
    <div class="scroll"><table>
      <thead><tr><th scope="col">${pretty(rows)} \\ ${pretty(cols)}</th>
        ${heat.colValues.map((c) => html`<th scope="col">${c}</th>`)}</tr></thead>
      <tbody>${heat.rowValues.map((r) => html`<tr>
        <th scope="row">${r}</th>
        ${heat.colValues.map((c) => {
          const g = heat.cells[r] && heat.cells[r][c];
          const { tone, shade } = cellTone(g);
          const v = g ? formatValue(view.hm, g.observed.value) : "";
          const label = g ? `${pretty(rows)} ${r}, ${pretty(cols)} ${c}: ${v}, n ${g.observed.n}`
            + `${g.significant ? `, significantly ${g.gap < 0 ? "worse" : "better"} than the rest (p ${g.p_value.toPrecision(2)})` : ", no significant difference"}`
            + `${g.low_sample ? ", low sample" : ""}` : `${r}, ${c}: no data`;
          return html`<td class=${`cell ${tone} s${shade} ${g && g.low_sample ? "low" : ""} ${worst && worst.r === r && worst.c === c ? "worst" : ""}`}
            tabindex="0" aria-label=${label} title=${label}>
            ${g ? html`<span class="cv">${v}</span><span class="cn">n ${g.observed.n}</span>` : "·"}</td>`;
        })}</tr>`)}</tbody>
    </table></div>`}
  </section>`;
}

function formatHeatTitle(view) {
  return `${view.hm.toUpperCase().replace("_", " ")} by ${pretty(view.rows)} × ${pretty(view.cols)}`;
}

export function Alerts({ alerts, nowMs, onAck, busy }) {
  if (!alerts) return html`<section class="panel" aria-labelledby="alerts-h"><h2 id="alerts-h">Active alerts</h2><p>Loading…</p></section>`;
  return html`<section class="panel alerts" aria-labelledby="alerts-h">
    <h2 id="alerts-h">Active alerts <span class="count">${alerts.error ? "" : alerts.total}</span></h2>
    ${alerts.error ? html`<p class="err" role="alert">${alerts.error}</p>` : alerts.items.length === 0 ? html`<p class="ok">No alert is firing.</p>` : html`
    <ul class="list">${alerts.items.map((a) => html`<li class=${`row sev-${a.severity}`} data-fingerprint=${a.fingerprint}>
      <span class=${`badge ${a.status === "firing" ? "bad" : "warn"}`}>${a.status}</span>
      <span class="what"><strong>${a.rule_name}</strong> ${a.value === null ? "" : `${formatValue(a.metric || "", a.value)}`} vs ${a.threshold} (n ${a.n})</span>
      <span class="age" title=${a.starts_at || a.active_at}>${formatAge(a.starts_at || a.active_at, nowMs)}</span>
      <span class="owner">${a.labels.owner || a.labels.team || "—"}</span>
      ${a.silencedUntil
        ? html`<span class="badge">acknowledged until ${a.silencedUntil.slice(11, 16)} UTC</span>`
        : html`<button type="button" onClick=${() => onAck(a)} disabled=${busy}
            aria-label=${`Acknowledge alert ${a.rule_name} (silence it for one hour)`}>Acknowledge</button>`}
    </li>`)}</ul>`}
    ${alerts.total > alerts.items.length ? html`<p class="sub">${alerts.total - alerts.items.length} more</p>` : null}
  </section>`;
}

export function Cases({ cases, nowMs, onAck, busy }) {
  if (!cases) return html`<section class="panel" aria-labelledby="cases-h"><h2 id="cases-h">Open cases</h2><p>Loading…</p></section>`;
  return html`<section class="panel cases" aria-labelledby="cases-h">
    <h2 id="cases-h">Open cases <span class="count">${cases.error ? "" : cases.total}</span></h2>
    ${cases.error ? html`<p class="err" role="alert">${cases.error}</p>` : cases.items.length === 0 ? html`<p class="ok">No open case.</p>` : html`
    <ul class="list">${cases.items.map((c) => html`<li class=${`row ${c.breached ? "breached" : ""}`} data-case=${c.id}>
      <span class=${`badge ${c.state === "open" ? "bad" : ""}`}>${c.state}${c.escalated ? " · escalated" : ""}</span>
      <span class="what"><strong>${c.reasons.join(", ")}</strong> ${Object.values(c.scope).filter(Boolean).join(" · ")}</span>
      <span class="age" title=${c.opened_at}>${formatAge(c.opened_at, nowMs)}${c.breached ? " · SLA breached" : ""}</span>
      <span class="owner">${c.owner || "—"}</span>
      ${c.state === "open"
        ? html`<button type="button" onClick=${() => onAck(c)} disabled=${busy}
            aria-label=${`Acknowledge case ${c.id} owned by ${c.owner || "nobody"}`}>Acknowledge</button>`
        : html`<span class="badge">by ${c.acknowledged_by || "—"}</span>`}
    </li>`)}</ul>`}
    ${parseInt(cases.total, 10) > cases.items.length ? html`<p class="sub">${cases.total} in all; breached and oldest first</p>` : null}
  </section>`;
}

/** The business view: churn and revenue by NPS category, revenue at risk and ROI (GET /v1/outcomes, /v1/roi). */
export function Business({ business }) {
  const title = html`<h2 id="biz-h">Business outcomes by NPS category (last ${OUTCOME_DAYS} d)</h2>`;
  if (!business) return html`<section class="panel business" id="business" aria-labelledby="biz-h">${title}<p>Loading…</p></section>`;
  if (business.error) {
    return html`<section class="panel business" id="business" aria-labelledby="biz-h">${title}
      <p class="err" role="alert">${business.error}</p></section>`;
  }
  const f = businessFigures(business.outcomes, business.roi);
  return html`<section class="panel business" id="business" aria-labelledby="biz-h">${title}
    <table><thead><tr><th scope="col">NPS category</th><th scope="col">Customers</th><th scope="col">Churn (95%)</th>
      <th scope="col">Retention</th><th scope="col">Conversion</th><th scope="col">Revenue / customer</th></tr></thead>
      <tbody>${f.rows.map((r) => html`<tr data-category=${r.category}><th scope="row">${r.category.replace("_", " ")}</th>
        <td>${r.customers}</td><td>${r.churn}${r.churnCi ? html` <span class="ci">${r.churnCi}</span>` : null}</td>
        <td>${r.retention}</td><td>${r.conversion}</td><td>${r.revenuePerCustomer}</td></tr>`)}</tbody></table>
    <div class="tiles">
      <article class="tile" id="tile-churn-diff"><h3>Churn, promoters − detractors</h3>
        <p class="value">${f.churnDiff ? f.churnDiff.text : "—"}</p>
        <p class="meta">${f.churnDiff ? html`p = ${f.churnDiff.p}${f.churnDiff.significant
          ? html` <span class="badge good">significant</span>` : null}` : "needs promoters and detractors"}</p></article>
      <article class="tile" id="tile-revenue-at-risk"><h3>Revenue at risk</h3>
        <p class="value">${f.revenueAtRisk ? f.revenueAtRisk.value : "—"}</p>
        <p class="meta">${f.revenueAtRisk ? html`<span class="ci">95% ${f.revenueAtRisk.ci}</span> <span class="n">${f.revenueAtRisk.n}</span>`
          : "detractors' revenue × their excess churn"}</p></article>
      <article class="tile" id="tile-roi"><h3>ROI (last ${ROI_DAYS} d vs the ${ROI_DAYS} d before)</h3>
        <p class="value">${f.roi ? f.roi.value : "—"}</p>
        <p class="meta">${f.roi ? html`retained ${f.roi.retained} · cost ${f.roi.cost} · n ${f.roi.n}` : "—"}</p></article>
    </div>
    <p class="sub">Formulas and assumptions: GET /v1/roi answers them; README "Business outcomes". Categories in order ${NPS_ORDER.join(", ")}.</p>
  </section>`;
}
