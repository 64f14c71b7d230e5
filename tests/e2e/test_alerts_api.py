"""Threshold alerts on the real stack: rule CRUD over HTTP, firing and resolving on posted answers,
the notification CloudEvents read back from the real broker."""
from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import httpx
import orjson
import pytest

from alerts.evaluator import evaluate_once
from core.settings import ApiKey
from notifications import Publisher
from core.topics import topic_names
from tests.conftest import TEST_KEY, TEST_TENANT, make_settings
from tests.helpers import read_topic
from warehouse.client import Warehouse

pytestmark = [pytest.mark.e2e]

ADMIN_KEY = "test-key-acme-admin"
HOUR = "2026-11-03T10"
NOW_MS = 1_793_700_000_000 + 30 * 60_000  # 2026-11-03T10:30:00Z
BATCH = {"Content-Type": "application/cloudevents-batch+json"}
RULE = {"id": "csat-chat", "name": "Chat CSAT", "metric": "csat", "scope": {"channel": "chat"},
        "condition": "below", "threshold": 80, "min_n": 20, "for_s": 0, "severity": "critical",
        "labels": {"team": "cx"}, "routes": ["sub-ops"]}


@pytest.fixture
def settings(tmp_path, broker, chdb_dsn):
    s = make_settings(tmp_path, broker.bootstrap, chdb_dsn)
    s.api.keys[ADMIN_KEY] = ApiKey(tenant=TEST_TENANT, scopes=["read", "admin"])
    return s


def _answers(prefix: str, scores: list[int], minute: int) -> list[dict]:
    out = []
    for i, score in enumerate(scores):
        iid = f"{prefix}-{i}"
        t = f"{HOUR}:{minute:02d}:{i % 60:02d}Z"
        out.append({"specversion": "1.0", "id": f"tp-{iid}", "source": "/pbx", "type": "cx.touchpoint.v1",
                    "time": t, "data": {"interaction_id": iid, "channel": "chat"}})
        out.append({"specversion": "1.0", "id": f"sr-{iid}", "source": "/survey", "type": "cx.survey.response.v1",
                    "time": t, "data": {"interaction_id": iid, "survey_id": "s", "answers": {"csat": score}}})
    return out


async def _wait_csat_n(client: httpx.AsyncClient, n: int, timeout: float = 60) -> dict:
    deadline = asyncio.get_running_loop().time() + timeout
    point = None
    while asyncio.get_running_loop().time() < deadline:
        body = (await client.get("/v1/kpis", params={"metric": "csat", "window": "1h", "channel": "chat",
                                                     "from": f"{HOUR}:00:00Z", "to": f"{HOUR}:59:00Z"})).json()
        point = body["data"][0] if body["data"] else None
        if point and point["n"] == n:
            return point
        await asyncio.sleep(0.3)
    raise AssertionError(f"chat csat n never reached {n}: {point}")



async def test_rule_crud_validation_and_auth(stack: httpx.AsyncClient) -> None:
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    r = await stack.post("/v1/alert-rules", json=RULE)
    assert r.status_code == 403  # the read key cannot change rules
    r = await stack.post("/v1/alert-rules", json={**RULE, "metric": "happiness"}, headers=admin)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "metric"]
    r = await stack.post("/v1/alert-rules", json={**RULE, "scope": {"planet": "mars"}}, headers=admin)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "scope"]
    r = await stack.post("/v1/alert-rules", json={**RULE, "scope": {"site": "x"}}, headers=admin)
    assert r.status_code == 422 and "no stored view" in r.json()["detail"][0]["msg"]
    r = await stack.post("/v1/alert-rules", json=RULE, headers=admin)
    assert r.status_code == 201 and r.json()["fingerprint"]
    assert (await stack.post("/v1/alert-rules", json=RULE, headers=admin)).status_code == 409
    body = {k: v for k, v in RULE.items() if k != "id"}
    r = await stack.put("/v1/alert-rules/csat-chat", json={**body, "threshold": 70}, headers=admin)
    assert r.status_code == 200 and r.json()["threshold"] == 70
    r = await stack.put("/v1/alert-rules/second", json=body, headers=admin)
    assert r.status_code == 201
    r = await stack.get("/v1/alert-rules")
    assert [x["id"] for x in r.json()["data"]] == ["csat-chat", "second"] and r.json()["count"] == 2
    assert (await stack.get("/v1/alert-rules/csat-chat")).json()["threshold"] == 70
    assert (await stack.delete("/v1/alert-rules/second", headers=admin)).status_code == 204
    assert (await stack.get("/v1/alert-rules/second")).status_code == 404
    assert (await stack.delete("/v1/alert-rules/second", headers=admin)).status_code == 404

    r = await stack.post("/v1/silences", json={"rule_id": "csat-chat", "ends_at": "2099-01-01T00:00:00Z"},
                         headers=admin)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "ends_at"]  # time-boxed
    in_an_hour = (datetime.now(timezone.utc) + timedelta(hours=1)).isoformat()
    r = await stack.post("/v1/silences", json={"rule_id": "csat-chat", "ends_at": in_an_hour}, headers=admin)
    assert r.status_code == 201 and r.json()["active"] is True
    sid = r.json()["id"]
    assert [s["id"] for s in (await stack.get("/v1/silences", params={"active": True})).json()["data"]] == [sid]
    assert (await stack.post("/v1/silences", json={"ends_at": in_an_hour},
                             headers=admin)).status_code == 422
    assert (await stack.delete(f"/v1/silences/{sid}", headers=admin)).status_code == 204
    assert (await stack.get("/v1/silences", params={"active": True})).json()["data"] == []
    assert (await stack.get("/v1/silences")).json()["data"][0]["active"] is False


async def test_alert_fires_and_resolves_on_posted_answers(stack: httpx.AsyncClient, settings) -> None:
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    r = await stack.post("/v1/alert-rules", json=RULE, headers=admin)
    assert r.status_code == 201
    fp = r.json()["fingerprint"]
    # Chat CSAT 50 %: 20 top-2-box answers out of 40.
    resp = await stack.post("/v1/events", json=_answers("bad", [5] * 20 + [1] * 20, 5), headers=BATCH)
    assert resp.json()["accepted"] == 80
    await _wait_csat_n(stack, 40)

    wh = Warehouse.open(settings.warehouse_dsn, settings.warehouse.database)
    publisher = Publisher(settings.kafka.bootstrap, settings.kafka.max_record_bytes)
    await publisher.start()
    try:
        (t,) = await evaluate_once(settings, wh, publisher, NOW_MS)
        assert t.after.status.value == "firing"
        alerts = (await stack.get("/v1/alerts", params={"current": True, "state": "firing"})).json()["data"]
        assert [(a["fingerprint"], a["value"], a["n"]) for a in alerts] == [(fp, 50.0, 40)]
        hist = (await stack.get("/v1/alerts", params={"state": "firing"})).json()["data"]
        assert [(h["fingerprint"], h["value"], h["n"], h["prev_status"]) for h in hist] == [(fp, 50.0, 40, "ok")]

        # 60 more good answers: 80 / 100 = 80 %, no longer below 80.
        resp = await stack.post("/v1/events", json=_answers("good", [5] * 60, 10), headers=BATCH)
        assert resp.json()["accepted"] == 120
        await _wait_csat_n(stack, 100)
        (t,) = await evaluate_once(settings, wh, publisher, NOW_MS + 60_000)
        assert t.after.status.value == "resolved"
    finally:
        await publisher.stop()
    hist = (await stack.get("/v1/alerts")).json()["data"]
    assert [(h["status"], h["value"], h["n"]) for h in hist] == [("resolved", 80.0, 100), ("firing", 50.0, 40)]
    assert (await stack.get("/v1/alerts", params={"state": "resolved"})).json()["count"] == 1

    topic = topic_names(settings.kafka.topic_prefix)["notifications"]
    msgs = await read_topic(settings.kafka.bootstrap, topic, 2, timeout=30,  # cases share the topic
                           keep=lambda m: orjson.loads(m.value)["type"].startswith("cx.alert."))
    events = [orjson.loads(m.value) for m in sorted(msgs, key=lambda m: m.offset)]
    assert {m.key for m in msgs} == {f"{TEST_TENANT}:{fp}".encode()} and len({m.partition for m in msgs}) == 1
    assert [e["type"] for e in events] == ["cx.alert.firing.v1", "cx.alert.resolved.v1"]
    firing, resolved = (e["data"] for e in events)
    assert (firing["value"], firing["n"], firing["threshold"], firing["severity"]) == (50.0, 40, 80.0, "critical")
    assert firing["routes"] == ["sub-ops"] and firing["labels"] == {"team": "cx"}
    assert firing["scope"] == {"channel": "chat"} and firing["starts_at"] == "2026-11-03T10:30:00Z"
    assert (resolved["value"], resolved["n"], resolved["ends_at"]) == (80.0, 100, "2026-11-03T10:31:00Z")
    assert all(e["tenant"] == TEST_TENANT and e["subject"] == fp for e in events)
    assert TEST_KEY  # the read key of the stack fixture is the default client key
