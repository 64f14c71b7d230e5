// node --test: the few helpers the board applies to API answers (board/src/kpi.js).
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  TILES, applicableTarget, aspectTiles, cellTone, formatAge, formatGap, formatValue, mergePoints, scopeMatches, standingTone,
  targetStanding, tileOf,
} from "../src/kpi.js";

const T = (metric, scope, value, from, to = null) => ({ metric, scope, value, valid_from: from, valid_to: to });

test("the target of exactly the scope, valid now, latest valid_from wins", () => {
  const now = Date.parse("2026-11-22T12:00:00Z");
  const targets = [
    T("nps", {}, 20, "2026-01-01T00:00:00Z"),
    T("nps", {}, 30, "2026-06-01T00:00:00Z"),
    T("nps", {}, 99, "2026-12-01T00:00:00Z"), // not yet valid
    T("nps", {}, 40, "2026-07-01T00:00:00Z", "2026-08-01T00:00:00Z"), // expired
    T("nps", { channel: "chat" }, 50, "2026-06-01T00:00:00Z"),
    T("csat", {}, 80, "2026-06-01T00:00:00Z"),
  ];
  assert.equal(applicableTarget(targets, "nps", {}, now).value, 30);
  assert.equal(applicableTarget(targets, "nps", { channel: "chat" }, now).value, 50);
  assert.equal(applicableTarget(targets, "nps", { channel: "chat", segment: "vip" }, now), null);
  assert.equal(applicableTarget(targets, "ces", {}, now), null);
});

test("standing against a target comes from the interval", () => {
  const t = { value: 50 };
  assert.equal(targetStanding({ value: 40, ci_low: 35, ci_high: 49.9 }, t), "below");
  assert.equal(targetStanding({ value: 60, ci_low: 50.1, ci_high: 70 }, t), "above");
  assert.equal(targetStanding({ value: 45, ci_low: 30, ci_high: 60 }, t), "within");
  assert.equal(targetStanding({ value: null, ci_low: null, ci_high: null }, t), null);
});

test("pushed buckets replace or extend the series in time order", () => {
  const p = (start, n) => ({ window_start: start, n });
  const merged = mergePoints([p("2026-11-22T10:00:00Z", 1), p("2026-11-22T11:00:00Z", 2)],
    [p("2026-11-22T11:00:00Z", 5), p("2026-11-22T12:00:00Z", 1), p("2026-11-22T09:00:00Z", 7)]);
  assert.deepEqual(merged.map((x) => x.n), [7, 1, 5, 1]);
});

test("formatting rounds like the tiles show", () => {
  assert.equal(formatValue("nps", 12.25), "12.3");
  assert.equal(formatValue("nps", -7.05), "-7.0"); // -7.05 is -7.04999... as a double
  assert.equal(formatValue("csat", 64.64646464), "64.6%");
  assert.equal(formatValue("ces", 4.845), "4.84"); // 4.845 is 4.8449999... as a double
  assert.equal(formatValue("volume", 17505), "17,505");
  assert.equal(formatValue("fcr", null), "—");
  assert.equal(formatGap("csat", -3.14), "−3.1 pts");
  assert.equal(formatGap("nps", 2), "+2.0");
  assert.equal(formatAge("2026-11-22T10:00:00Z", Date.parse("2026-11-22T12:05:00Z")), "2 h 5 min");
});

test("alerts and cases follow the filters unless their scope says nothing of a dimension", () => {
  assert.equal(scopeMatches({ channel: "chat" }, { channel: "chat" }), true);
  assert.equal(scopeMatches({ channel: "voice" }, { channel: "chat" }), false);
  assert.equal(scopeMatches({}, { channel: "chat" }), true);
  assert.equal(scopeMatches({ segment: "vip" }, { channel: "chat" }), true);
});

test("heatmap tones: only significant gaps are coloured, shortfalls by severity", () => {
  assert.deepEqual(cellTone(null), { tone: "empty", shade: 0 });
  assert.deepEqual(cellTone({ significant: false, gap: -20, severity: 0 }), { tone: "flat", shade: 0 });
  assert.deepEqual(cellTone({ significant: true, gap: -20, severity: 0.1 }), { tone: "bad", shade: 3 });
  assert.deepEqual(cellTone({ significant: true, gap: -5, severity: 0.05 }), { tone: "bad", shade: 2 });
  assert.deepEqual(cellTone({ significant: true, gap: -1, severity: 0.01 }), { tone: "bad", shade: 1 });
  assert.deepEqual(cellTone({ significant: true, gap: 4, severity: 0 }), { tone: "good", shade: 1 });
});

test("the outcome and ratio tiles: units, default target, direction", () => {
  assert.equal(formatValue("wait_time", 42.4), "42 s");
  assert.equal(formatValue("pos_neg_ratio", 3), "3.00:1");
  assert.equal(formatValue("abandonment_rate", 7.25), "7.3%");
  assert.equal(formatGap("handle_time", -12.6), "−13 s");
  const now = Date.parse("2026-11-22T12:00:00Z");
  assert.equal(applicableTarget([], "pos_neg_ratio", { channel: "chat" }, now).value, 3);
  const own = [T("pos_neg_ratio", {}, 4, "2026-01-01T00:00:00Z")];
  assert.equal(applicableTarget(own, "pos_neg_ratio", {}, now).value, 4);
  assert.equal(applicableTarget([], "wait_time", {}, now), null);
  const wait = TILES.find((t) => t.metric === "wait_time");
  const conv = TILES.find((t) => t.metric === "conversion_rate");
  assert.equal(standingTone(wait, "above"), "below"); // a wait above its target is the bad side
  assert.equal(standingTone(wait, "below"), "above");
  assert.equal(standingTone(conv, "above"), "above");
  assert.equal(standingTone(wait, "within"), "within");
  assert.equal(standingTone(wait, null), null);
});

test("a tile per configured aspect (GET /v1/aspects), its mean formatted like CES", () => {
  const tiles = aspectTiles([{ name: "wait_time", label: "Wait time", min: 1, max: 5, top2_min: 4 },
    { name: "cleanliness", label: "cleanliness", min: 0, max: 10, top2_min: 9 }]);
  assert.deepEqual(tiles.map((t) => [t.metric, t.label, t.unit, t.digits]),
    [["aspect:wait_time", "Wait time", "mean", 2], ["aspect:cleanliness", "cleanliness", "mean", 2]]);
  assert.deepEqual(aspectTiles(undefined), []);
  assert.equal(formatValue("aspect:wait_time", 3.456), "3.46");
  assert.equal(formatValue("aspect_top2:wait_time", 61.25), "61.3%");
  assert.equal(formatGap("aspect:wait_time", -0.5), "−0.50");
  assert.equal(tileOf("nps"), TILES[0]);
  assert.equal(tileOf("aspects"), null);
});
