// node --test: openStream (board/src/api.js) reports its state and reconnects with backoff after the
// browser gave up, with a fake EventSource and mocked timers.
import assert from "node:assert/strict";
import { mock, test } from "node:test";

class FakeEventSource {
  static CONNECTING = 0;
  static OPEN = 1;
  static CLOSED = 2;
  static made = [];
  constructor(url) {
    this.url = String(url);
    this.readyState = FakeEventSource.CONNECTING;
    this.listeners = {};
    this.closed = false;
    FakeEventSource.made.push(this);
  }
  addEventListener(name, fn) { (this.listeners[name] ||= []).push(fn); }
  close() { this.closed = true; this.readyState = FakeEventSource.CLOSED; }
  open() { this.readyState = FakeEventSource.OPEN; this.onopen(); }
  fail(readyState) { this.readyState = readyState; this.onerror(new Error("x")); }
  emit(name, data) { for (const fn of this.listeners[name] || []) fn({ data }); }
}

const store = new Map();
globalThis.window = { location: { origin: "http://board.test" } };
globalThis.sessionStorage = { getItem: (k) => store.get(k) ?? null, setItem: (k, v) => store.set(k, v), removeItem: (k) => store.delete(k) };
globalThis.EventSource = FakeEventSource;
const { openStream, setToken } = await import("../src/api.js");

test("states, events, and a reconnect after the browser gave up", () => {
  mock.timers.enable({ apis: ["setTimeout"] });
  try {
    setToken("k-123");
    const states = [];
    const events = [];
    const close = openStream({ metric: "volume", window: "1h", channel: "chat" },
      { onState: (s) => states.push(s), onEvent: (n, d) => events.push([n, d]) });
    const first = FakeEventSource.made.at(-1);
    const url = new URL(first.url);
    assert.equal(url.pathname, "/v1/stream");
    assert.equal(url.searchParams.get("access_token"), "k-123");
    assert.equal(url.searchParams.get("channel"), "chat");
    first.open();
    first.emit("kpi", JSON.stringify({ data: [{ n: 3 }] }));
    first.emit("error", undefined); // a connection error event carries no data: not a server `error` frame
    assert.deepEqual(events, [["kpi", { data: [{ n: 3 }] }]]);

    first.fail(FakeEventSource.CONNECTING); // the browser retries by itself
    first.fail(FakeEventSource.CLOSED); // ... and gives up (e.g. an HTTP error answer)
    assert.deepEqual(states, ["connecting", "live", "reconnecting", "disconnected"]);
    const count = FakeEventSource.made.length;
    mock.timers.tick(1999);
    assert.equal(FakeEventSource.made.length, count);
    mock.timers.tick(1);
    assert.equal(FakeEventSource.made.length, count + 1); // reopened after 2 s
    const second = FakeEventSource.made.at(-1);
    second.fail(FakeEventSource.CLOSED);
    mock.timers.tick(3999);
    assert.equal(FakeEventSource.made.length, count + 1);
    mock.timers.tick(1);
    assert.equal(FakeEventSource.made.length, count + 2); // then after 4 s
    FakeEventSource.made.at(-1).open();
    assert.equal(states.at(-1), "live");

    close();
    assert.equal(FakeEventSource.made.at(-1).closed, true);
  } finally {
    mock.timers.reset();
  }
});

test("the first connection waits startAfterMs, and closing before it opens nothing", () => {
  mock.timers.enable({ apis: ["setTimeout"] });
  try {
    const states = [];
    const count = FakeEventSource.made.length;
    openStream({ metric: "nps" }, { onState: (s) => states.push(s), onEvent: () => {}, startAfterMs: 1500 });
    assert.deepEqual(states, ["connecting"]);
    mock.timers.tick(1499);
    assert.equal(FakeEventSource.made.length, count); // nothing pending yet: screenshot tools can finish
    mock.timers.tick(1);
    assert.equal(FakeEventSource.made.length, count + 1);

    const close = openStream({ metric: "nps" }, { onState: () => {}, onEvent: () => {}, startAfterMs: 1500 });
    close();
    mock.timers.tick(2000);
    assert.equal(FakeEventSource.made.length, count + 1);
  } finally {
    mock.timers.reset();
  }
});
