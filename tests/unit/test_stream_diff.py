"""api.stream: SSE framing, the alert cursor, KPI and gap diffs, and the streamer with fake sources."""
from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import orjson

from api.stream import (
    AlertCursor,
    GapDiff,
    KpiDiff,
    Sources,
    Streamer,
    alert_matches,
    new_alert_rows,
    sse_comment,
    sse_event,
)
from gaps.detect import Window, target_gap
from kpi.counts import KpiCounts
from schemas.kpis import KpiPoint

T0 = datetime(2026, 11, 3, 10, tzinfo=timezone.utc)
T1 = datetime(2026, 11, 3, 11, tzinfo=timezone.utc)


def point(start: datetime, n: int, group: dict[str, str] | None = None) -> KpiPoint:
    return KpiPoint(window_start=start, window_end=start, group=group or {}, value=50.0, n=n, ci_low=None,
                    ci_high=None, low_sample=True, counts={"csat_n": n, "csat_top2": n // 2})


def row(at_ms: int, fp: str = "fp", status: str = "firing", scope: dict | None = None) -> dict:
    return {"tenant": "acme", "fingerprint": fp, "at_ms": at_ms, "status": status, "prev_status": "ok",
            "scope": scope if scope is not None else {"channel": "chat"}, "starts_at_ms": at_ms, "ends_at_ms": None}


def parse_frames(frames: list[str]) -> list[dict]:
    out = []
    for frame in frames:
        assert frame.endswith("\n\n")
        ev: dict = {}
        for line in frame.strip("\n").split("\n"):
            name, _, value = line.partition(": ") if ": " in line else line.partition(":")
            ev[name] = value
        if "data" in ev:
            ev["data"] = orjson.loads(ev["data"])
        out.append(ev)
    return out


def test_sse_event_and_comment_format() -> None:
    assert sse_event("kpi", {"a": 1}, "5:fp:firing") == 'event: kpi\nid: 5:fp:firing\ndata: {"a":1}\n\n'
    assert sse_event("x", "l1\nl2") == "event: x\ndata: l1\ndata: l2\n\n"
    assert sse_comment("heart\nbeat") == ": heart beat\n\n"


def test_alert_cursor_round_trip_and_order() -> None:
    c = AlertCursor(1_000, "abc", "firing")
    assert AlertCursor.parse(str(c)) == c
    assert AlertCursor.parse(None) is None and AlertCursor.parse("garbage") is None
    assert AlertCursor.parse("x:a:b") is None and AlertCursor.parse("-1:a:b") is None
    assert AlertCursor(1_000, "abc", "resolved") > c > AlertCursor(1_000, "abb", "resolved") > AlertCursor(999, "z", "z")


def test_alert_rows_after_cursor_oldest_first_and_filtered() -> None:
    rows = [row(3, "b"), row(2, "a"), row(3, "a"), row(1, "z"), row(4, "c", scope={"channel": "voice"}),
            row(4, "d", scope={})]
    fresh, cursor = new_alert_rows(rows, AlertCursor(2, "a", "firing"), {"channel": "chat"})
    assert [(r["at_ms"], r["fingerprint"]) for r in fresh] == [(3, "a"), (3, "b"), (4, "d")]
    assert cursor == AlertCursor(4, "d", "firing")  # past the filtered-out voice row too
    assert new_alert_rows(rows, cursor, {}) == ([], cursor)
    assert alert_matches({}, {"channel": "chat"}) and alert_matches({"team": "x"}, {"channel": "chat"})
    assert not alert_matches({"channel": "voice"}, {"channel": "chat"})


def test_kpi_diff_pushes_only_changed_buckets() -> None:
    diff = KpiDiff()
    assert [p.n for p in diff.update([point(T0, 4), point(T1, 2)])] == [4, 2]
    assert diff.update([point(T0, 4), point(T1, 2)]) == []
    changed = diff.update([point(T0, 4), point(T1, 6), point(T1, 1, {"channel": "chat"})])
    assert [(p.window_start, p.n, p.group) for p in changed] == [(T1, 6, {}), (T1, 1, {"channel": "chat"})]


def test_gap_diff_new_changed_and_cleared() -> None:
    w = Window(0, 3_600_000)

    def gap(ok: int, n: int):
        return target_gap("csat", KpiCounts(csat_n=n, csat_top2=ok), 90.0, scope={"channel": "chat"}, window=w)

    diff = GapDiff()
    bad = gap(20, 40)
    assert bad.significant
    changed, cleared = diff.update([bad, gap(39, 40)])
    assert changed == [bad] and cleared == []
    assert diff.update([gap(20, 40)]) == ([], [])
    worse = gap(20, 50)
    assert diff.update([worse]) == ([worse], [])
    changed, cleared = diff.update([gap(40, 40)])
    assert changed == [] and cleared == ["target|csat|0|channel=chat"]


class FakeSources:
    def __init__(self) -> None:
        self.points: list[KpiPoint] = []
        self.rows: list[dict] = [row(100, "old")]
        self.alert_calls: list[int | None] = []

    async def kpis(self) -> list[KpiPoint]:
        return list(self.points)

    async def alerts(self, from_ms: int | None) -> list[dict]:
        self.alert_calls.append(from_ms)
        if from_ms is None:
            return sorted(self.rows, key=lambda r: -r["at_ms"])[:1]
        return [r for r in self.rows if r["at_ms"] >= from_ms]


async def test_streamer_polls_diff_and_resume() -> None:
    fake = FakeSources()
    s = Streamer(Sources(kpis=fake.kpis, alerts=fake.alerts), metric="csat", window="1h", group_by=[],
                 filters={"channel": "chat"})
    await s.start()
    assert s.cursor == AlertCursor(100, "old", "firing")  # history before connecting is not replayed
    assert await s.poll() == []
    fake.points = [point(T0, 4)]
    fake.rows.append(row(200, "new"))
    (kpi, alert) = parse_frames(await s.poll())
    assert kpi["event"] == "kpi" and kpi["data"]["count"] == 1 and kpi["data"]["data"][0]["counts"]["csat_n"] == 4
    assert alert["event"] == "alert" and alert["id"] == "200:new:firing" and alert["data"]["at"].endswith("Z")
    assert kpi["id"] == "200:new:firing"  # every event carries the alert cursor
    assert await s.poll() == []

    resumed = Streamer(Sources(kpis=fake.kpis, alerts=fake.alerts), metric="csat", window="1h", group_by=[],
                       filters={}, cursor=AlertCursor.parse("0::"))
    await resumed.start()
    events = parse_frames(await resumed.poll())
    assert [e["data"]["fingerprint"] for e in events if e["event"] == "alert"] == ["old", "new"]


async def test_frames_retry_heartbeat_errors_and_disconnect() -> None:
    fake = FakeSources()
    calls = 0

    async def failing_kpis() -> list[KpiPoint]:
        nonlocal calls
        calls += 1
        raise RuntimeError("warehouse down")

    stop = asyncio.Event()

    async def disconnected() -> bool:
        return stop.is_set()

    s = Streamer(Sources(kpis=failing_kpis, alerts=fake.alerts), metric="csat", window="1h", group_by=[],
                 filters={}, interval=30, heartbeat_s=0.1)
    got: list[str] = []

    async def consume() -> None:
        async for frame in s.frames(disconnected):
            got.append(frame)
            if sum(f.startswith(": heartbeat") for f in got) >= 1 and calls >= 1:
                stop.set()

    await asyncio.wait_for(consume(), 5)
    assert got[0] == "retry: 3000\n\n" and got[1] == ": connected\n\n"
    errors = [e for e in parse_frames(got[2:]) if e.get("event") == "error"]
    assert errors and errors[0]["data"] == {"detail": "warehouse down"}
