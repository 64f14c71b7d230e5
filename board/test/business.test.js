// node --test: the business panel's figures come from the API's answers unchanged (board/src/kpi.js).
import assert from "node:assert/strict";
import { test } from "node:test";
import { businessFigures } from "../src/kpi.js";
import { parseView, PRESETS } from "../src/view.js";

const est = (value, lo, hi, n) => ({ value, ci_low: lo, ci_high: hi, n });
const group = (cat, customers, churn) => ({
  group: { nps_category: cat }, customers, churn_rate: est(churn, churn / 2, churn * 2, customers),
  retention: est(0.5, 0.4, 0.6, customers), conversion: est(0.25, 0.2, 0.3, customers),
  revenue_per_customer: est(412.4, 400, 425, customers), revenue: 412.4 * customers,
});

test("rows follow the NPS order and show the API's values and intervals", () => {
  const outcomes = {
    currency: "EUR",
    data: [group("detractor", 30, 0.3), group("promoter", 120, 0.05), group("no_answer", 7, 0.1)],
    comparisons: [{ group: {}, promoters_vs_detractors: [
      { metric: "churn_rate", difference: -0.25, ci_low: -0.4, ci_high: -0.1, p_value: 0.000123, significant: true,
        n_promoters: 120, n_detractors: 30 }],
    revenue_at_risk: { value: 3093, ci_low: 1237.2, ci_high: 4948.8, detractor_revenue: 12372, detractor_churn_rate: 0.3,
      promoter_churn_rate: 0.05, excess_churn: 0.25, n_promoters: 120, n_detractors: 30 } }],
  };
  const roi = { currency: "EUR", customers: 150, retained_revenue: 5400.4, cost: 2000, roi: 1.7002 };
  const f = businessFigures(outcomes, roi);
  assert.deepEqual(f.rows.map((r) => r.category), ["promoter", "detractor", "no_answer"]);
  assert.equal(f.rows[0].churn, "5.0%");
  assert.equal(f.rows[0].churnCi, "2.5% – 10.0%");
  assert.equal(f.rows[1].revenuePerCustomer, "412 EUR");
  assert.deepEqual(f.churnDiff, { text: "-25.0 pts", p: "0.00012", significant: true });
  assert.equal(f.revenueAtRisk.value, "3,093 EUR");
  assert.equal(f.revenueAtRisk.ci, "1,237 EUR – 4,949 EUR");
  assert.deepEqual(f.roi, { retained: "5,400 EUR", cost: "2,000 EUR", value: "170%", n: 150 });
});

test("without promoters and detractors, or without a currency, the figures say so", () => {
  const f = businessFigures({ currency: null, data: [group("passive", 3, 0)],
    comparisons: [{ group: {}, promoters_vs_detractors: [], revenue_at_risk: null }] },
  { currency: null, customers: 3, retained_revenue: null, cost: 0, roi: null });
  assert.equal(f.churnDiff, null);
  assert.equal(f.revenueAtRisk, null);
  assert.deepEqual(f.roi, { retained: "—", cost: "0", value: "—", n: 3 });
});

test("the business preset shows the business panel", () => {
  assert.deepEqual(parseView("?preset=business").panels, PRESETS.business.panels);
  assert.ok(PRESETS.business.panels.includes("business"));
});
