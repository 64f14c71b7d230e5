"""Alert rules, states, history and silences on real chDB; the evaluator with a fake clock and publisher."""
from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from alerts.evaluator import evaluate_once
from alerts.rules import Rule
from alerts.silences import Silence
from alerts.state import Status
from core.settings import Settings
from kpi.counts import KpiCounts
from core.dimensions import DIMENSIONS
from alerts import store as aq
from warehouse.client import Warehouse
from warehouse.tables import WINDOW_INSERT_COLUMNS, Table
from tests.conftest import FakePublisher, migrated_warehouse

pytestmark = pytest.mark.integration

TENANT = "acme"
T0 = 1_793_613_600_000  # 2026-11-02T10:00:00Z
MIN = 60_000
HOUR = 60 * MIN


@pytest.fixture
def wh(chdb_dsn: str) -> Warehouse:
    with migrated_warehouse(chdb_dsn, "alerts") as w:
        yield w


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, pseudonym_key="test-pseudonym-key-0123456789",
                    kafka={"topic_prefix": "tx", "partitions": 4})


_version = iter(range(1, 10**9))


def put_window(wh: Warehouse, start_ms: int, dims: dict[str, str], size: str = "1h", **counts: int) -> None:
    view = "*".join(d for d in DIMENSIONS if d in dims) or "overall"
    c = KpiCounts(**counts)
    row = [TENANT, size, view, start_ms // 1000, *[dims.get(d, "") for d in DIMENSIONS], "", {}, 0, *c.as_tuple(),
           next(_version)]
    wh.raw_insert(Table.kpi_windows.value, WINDOW_INSERT_COLUMNS, orjson.dumps(row) + b"\n", fmt="JSONCompactEachRow")


def csat_rule(**kw) -> Rule:
    return Rule(**{"id": "csat-chat", "name": "Chat CSAT", "metric": "csat", "scope": {"channel": "chat"},
                   "condition": "below", "threshold": 80, "min_n": 20, **kw})


async def test_rules_persist_update_delete(wh: Warehouse) -> None:
    r = csat_rule()
    await aq.upsert_rules(wh, TENANT, [r, csat_rule(id="other", threshold=70)])
    await aq.upsert_rules(wh, "globex", [csat_rule()])
    assert [x.id for _, x, _ in await aq.list_rules(wh, TENANT)] == ["csat-chat", "other"]
    await aq.upsert_rules(wh, TENANT, [csat_rule(threshold=75)])
    (_, got, _), = await aq.list_rules(wh, TENANT, "csat-chat")
    assert got.threshold == 75 and got.scope == {"channel": "chat"}
    await aq.delete_rules(wh, TENANT, ["other"])
    assert [x.id for _, x, _ in await aq.list_rules(wh, TENANT)] == ["csat-chat"]
    assert [(t, x.id) for t, x, _ in await aq.list_rules(wh)] == [(TENANT, "csat-chat"), ("globex", "csat-chat")]


async def test_evaluator_pending_firing_resolved_with_fake_clock(wh: Warehouse, settings: Settings) -> None:
    await aq.upsert_rules(wh, TENANT, [csat_rule(for_s=120, recovery=85, routes=["sub-1"], labels={"team": "cx"})])
    fp = csat_rule(labels={"team": "cx"}).fingerprint()
    pub = FakePublisher()
    put_window(wh, T0, {"channel": "chat"}, csat_n=40, csat_top2=20)  # 50 %
    put_window(wh, T0, {"channel": "email"}, csat_n=40, csat_top2=40)  # other scope: ignored

    t = await evaluate_once(settings, wh, pub, T0 + 5 * MIN)
    assert [x.after.status for x in t] == [Status.pending] and pub.sent == []
    await evaluate_once(settings, wh, pub, T0 + 6 * MIN)
    assert pub.sent == []
    t = await evaluate_once(settings, wh, pub, T0 + 7 * MIN)
    assert [x.after.status for x in t] == [Status.firing]
    (msg,) = pub.sent
    assert msg.topic == "tx.notifications.v1" and msg.key == f"{TENANT}:{fp}".encode()
    ev = orjson.loads(msg.value)
    assert ev["type"] == "cx.alert.firing.v1" and ev["tenant"] == TENANT and ev["subject"] == fp
    d = ev["data"]
    assert (d["value"], d["n"], d["threshold"], d["routes"], d["scope"]) == (50.0, 40, 80.0, ["sub-1"],
                                                                            {"channel": "chat"})
    assert d["ci"][0] < 50 < d["ci"][1] and d["starts_at"] == "2026-11-02T10:07:00Z" and d["ends_at"] is None

    (cur,) = await aq.read_states(wh, TENANT)
    assert cur.state.status is Status.firing and cur.state.n == 40 and cur.fingerprint == fp
    # Between threshold and recovery: still firing (hysteresis); no repeat before the interval.
    put_window(wh, T0, {"channel": "chat"}, csat_n=100, csat_top2=82)
    await evaluate_once(settings, wh, pub, T0 + 8 * MIN)
    assert (await aq.read_states(wh, TENANT))[0].state.status is Status.firing and len(pub.sent) == 1
    put_window(wh, T0, {"channel": "chat"}, csat_n=100, csat_top2=90)
    t = await evaluate_once(settings, wh, pub, T0 + 9 * MIN)
    assert [x.after.status for x in t] == [Status.resolved]
    ev = orjson.loads(pub.sent[-1].value)
    assert ev["type"] == "cx.alert.resolved.v1" and ev["data"]["value"] == 90.0
    assert ev["data"]["ends_at"] == "2026-11-02T10:09:00Z"

    hist = await aq.read_history(wh, TENANT)
    assert [(h["status"], h["prev_status"], h["n"]) for h in hist] == [
        ("resolved", "firing", 100), ("firing", "pending", 40), ("pending", "ok", 40)]
    assert [h["at_ms"] for h in await aq.read_history(wh, TENANT, Status.firing)] == [T0 + 7 * MIN]
    # A new hour starts empty: low sample, nothing evaluated, state kept.
    assert await evaluate_once(settings, wh, pub, T0 + HOUR + MIN) == []
    assert (await aq.read_states(wh, TENANT))[0].state.status is Status.resolved


async def test_silence_mutes_notifications_but_not_state(wh: Warehouse, settings: Settings) -> None:
    await aq.upsert_rules(wh, TENANT, [csat_rule()])
    await aq.upsert_silence(wh, TENANT, Silence(id="s1", matchers={"channel": "chat"}, starts_at_ms=T0,
                                                ends_at_ms=T0 + 10 * MIN))
    put_window(wh, T0, {"channel": "chat"}, csat_n=40, csat_top2=20)
    pub = FakePublisher()
    await evaluate_once(settings, wh, pub, T0 + MIN)
    assert pub.sent == [] and (await aq.read_states(wh, TENANT))[0].state.status is Status.firing
    assert (await aq.read_history(wh, TENANT))[0]["silenced"] is True
    await evaluate_once(settings, wh, pub, T0 + 11 * MIN)  # silence over: the firing alert notifies now
    assert [orjson.loads(m.value)["type"] for m in pub.sent] == ["cx.alert.firing.v1"]
    assert [s.id for _, s in await aq.list_silences(wh, TENANT, active_at_ms=T0 + 11 * MIN)] == []


async def test_rolling_window_sums_hourly_buckets(wh: Warehouse, settings: Settings) -> None:
    await aq.upsert_rules(wh, TENANT, [csat_rule(window="24h", min_n=50)])
    put_window(wh, T0 - 23 * HOUR, {"channel": "chat"}, csat_n=30, csat_top2=10)
    put_window(wh, T0 - 24 * HOUR, {"channel": "chat"}, csat_n=500, csat_top2=0)  # outside the 24 h
    put_window(wh, T0, {"channel": "chat"}, csat_n=30, csat_top2=20)
    pub = FakePublisher()
    (t,) = await evaluate_once(settings, wh, pub, T0 + 30 * MIN)
    assert (t.after.value, t.after.n) == (50.0, 60)
