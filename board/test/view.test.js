// node --test: the URL <-> view round trip and the presets (board/src/view.js).
import assert from "node:assert/strict";
import { test } from "node:test";
import { applyPreset, formatView, parseView, PRESETS } from "../src/view.js";

test("a shared URL gives back the same view", () => {
  const search = "?preset=exec&window=1h&channel=chat&team=t-billing-1&rows=team&cols=channel&hm=ces&wall=1";
  const view = parseView(search);
  assert.equal(view.preset, "exec");
  assert.equal(view.window, "1h");
  assert.deepEqual(view.filters, { channel: "chat", team: "t-billing-1" });
  assert.equal(view.rows, "team");
  assert.equal(view.cols, "channel");
  assert.equal(view.hm, "ces");
  assert.equal(view.wall, true);
  assert.deepEqual(parseView(formatView(view)), view);
});

test("the default view has an empty query string", () => {
  assert.equal(formatView(parseView("")), "");
});

test("bad values fall back to the preset's", () => {
  const view = parseView("?window=2y&hm=volume&rows=planet&cols=planet&interval=0.01&region=eu");
  assert.equal(view.window, PRESETS.ops.window);
  assert.equal(view.hm, PRESETS.ops.hm);
  assert.equal(view.rows, PRESETS.ops.rows);
  assert.equal(view.interval, 5);
  assert.deepEqual(view.filters, {});
});

test("equal rows and columns are refused", () => {
  const view = parseView("?rows=segment&cols=segment");
  assert.notEqual(view.rows, view.cols);
});

test("a preset changes window, heatmap and panels but keeps the filters", () => {
  const view = applyPreset(parseView("?channel=voice&window=1h"), "exec");
  assert.equal(view.window, "28d");
  assert.deepEqual(view.filters, { channel: "voice" });
  assert.deepEqual(view.panels, PRESETS.exec.panels);
  assert.equal(formatView(view), "?preset=exec&channel=voice");
});

test("static=1 survives the round trip and is off by default", () => {
  assert.equal(parseView("").static, false);
  const view = parseView("?window=1d&static=1");
  assert.equal(view.static, true);
  assert.equal(formatView(view), "?window=1d&static=1");
  assert.deepEqual(parseView(formatView(view)), view);
});
