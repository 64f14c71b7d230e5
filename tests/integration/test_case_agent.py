"""The ``case-opener`` agent on the real Tansu broker + chDB, escalation with a fake clock, and the cases
API (ack / close / stats) over ASGI; notifications are read back from the notifications topic."""
from __future__ import annotations

import asyncio
import time

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from fastapi import FastAPI

from api.deps import Services
from api.routers import cases as cases_router
from cases import CaseState, case_id
from core.settings import ApiKey
from notifications import Notification, Publisher
from schemas.records import encode_records, message_key
from stream_processors.case_agent import CaseOpener, escalate_once, register_case_agent
from warehouse import case_queries as cq
from warehouse.client import Warehouse
from warehouse.tables import Table
from warehouse.webhook_queries import SubscriptionRow
from webhooks.delivery import matching_subscriptions
from tests.integration.conftest import agent_app

pytestmark = [pytest.mark.integration]

TENANT = "acme"
SOURCE = "/surveys/web"
HOUR = 3_600_000
ADMIN_KEY = "test-key-cases-admin"


def response(rid: str, customer: str, team: str = "billing", **answers) -> dict:
    return {"tenant": TENANT, "id": rid, "source": SOURCE, "type": "cx.survey.response.v1", "time_ms": T0 - 60_000,
            "subject": None, "interaction_id": f"i-{rid}", "customer": customer,
            "dims": {"team": team, "channel": "voice"}, "attributes": {}, "survey_id": "post-call",
            "nps": None, "csat": None, "ces": None, "fcr": None, "comment": "slow", "weight": None, **answers}


T0 = (int(time.time() * 1000) // 1000) * 1000  # the agent's fake clock: cases open "now"


async def read_topic(bootstrap: str, topic: str, count: int, timeout: float) -> list[dict]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False, group_id=None)
    await consumer.start()
    out: list[dict] = []
    try:
        deadline = asyncio.get_running_loop().time() + timeout
        while len(out) < count and asyncio.get_running_loop().time() < deadline:
            for msgs in (await consumer.getmany(timeout_ms=500)).values():
                out.extend(orjson.loads(m.value) for m in msgs)
    finally:
        await consumer.stop()
    return out


async def wait_for_case(wh: Warehouse, cid: str, timeout: float = 90):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = await cq.get_case(wh, TENANT, cid)
        if found is not None:
            return found
        await asyncio.sleep(0.2)
    raise AssertionError(f"case {cid} never opened")


async def test_agent_opens_suppresses_escalates_and_the_api_closes(settings, warehouse) -> None:
    settings.cases = settings.cases.model_copy(update={
        "owners": {"team": {"billing": "lead-billing"}}, "default_owner": "cx-ops"})
    settings.api.keys[ADMIN_KEY] = ApiKey(tenant=TENANT, scopes=["admin"])
    bootstrap = settings.kafka.bootstrap
    app, declared, names = await agent_app(settings)
    register_case_agent(app, declared, settings, warehouse, clock=lambda: T0)
    first = encode_records([response("r1", "cust-1", nps=2), response("r2", "cust-2", nps=10)])
    later = encode_records([response("r3", "cust-1", nps=4),            # same customer & scope: suppressed
                            response("r4", "cust-1", team="sales", nps=8),  # passive: nothing
                            response("r5", "cust-3", ces=2, nps=None)])     # CES <= 3: medium case
    key = message_key(TENANT, 0)  # one partition: the messages are handled in order
    await app.start()
    try:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
        await producer.start()
        try:
            for value in (first, first):  # a replay right behind the original
                await producer.send_and_wait(names["cx.survey.response.v1"], value, key=key, partition=0)
            opened = await wait_for_case(warehouse, case_id(TENANT, SOURCE, "r1"))
            for value in (later, first):  # ... and one after the case exists
                await producer.send_and_wait(names["cx.survey.response.v1"], value, key=key, partition=0)
            sentinel = encode_records([response("r6", "cust-4", csat=2, nps=None) | {"dims": {"team": "vip"}}])
            await producer.send_and_wait(names["cx.survey.response.v1"], sentinel, key=key, partition=0)
        finally:
            await producer.stop()
        await wait_for_case(warehouse, case_id(TENANT, SOURCE, "r6"))
    finally:
        await app.stop()

    cases = {c.response_id: c for c in await cq.list_cases(warehouse, TENANT)}
    assert set(cases) == {"r1", "r5", "r6"}  # one case for r1 despite 3 copies; r2 promoter, r3 absorbed, r4 passive
    c1 = cases["r1"]
    assert (c1.state, c1.owner, c1.severity, c1.reasons, c1.absorbed) == (CaseState.open, "lead-billing", "high",
                                                                          ("detractor",), 1)
    assert c1.scope == {"channel": "voice", "team": "billing"} and c1.opened_at_ms == T0 == opened.opened_at_ms
    assert c1.due_at_ms == T0 + 4 * HOUR and cases["r5"].due_at_ms == T0 + 24 * HOUR
    assert cases["r5"].severity == "medium" and cases["r5"].owner == "lead-billing"
    assert (cases["r6"].severity, cases["r6"].reasons, cases["r6"].owner) == ("high", ("low_csat",), "cx-ops")

    note = await read_topic(bootstrap, names["notifications"], 4, timeout=5)
    assert sorted(n["data"]["response_id"] for n in note) == ["r1", "r5", "r6"]  # no duplicate for the replays
    ev = next(n for n in note if n["data"]["response_id"] == "r1")
    assert ev["type"] == "cx.case.opened.v1" and ev["tenant"] == TENANT and ev["subject"] == c1.id
    assert ev["data"]["routes"] is None and ev["data"]["scope"] == c1.scope and ev["data"]["answers"] == {"nps": 2}
    assert Notification.parse(orjson.dumps(ev)).tenant == TENANT  # the webhook agent can deliver it ...
    subs = [SubscriptionRow(tenant=TENANT, id=f"wh_{t}", url="https://h.example/", event_types=(t,), filters={},
                            secret="s") for t in ("cx.case.*", "cx.alert.*")]
    assert [s.id for s in matching_subscriptions(Notification.parse(orjson.dumps(ev)), subs)] == ["wh_cx.case.*"]

    # Escalation with a fake clock: nothing before the SLA, r1 (4 h) once at it, r5 (24 h) not yet.
    publisher = Publisher(bootstrap, settings.kafka.max_record_bytes)
    await publisher.start()
    try:
        assert await escalate_once(settings, warehouse, publisher, T0 + 4 * HOUR - 1) == []
        esc = await escalate_once(settings, warehouse, publisher, T0 + 4 * HOUR)
        assert sorted(c.response_id for c in esc) == ["r1", "r6"]
        assert {c.escalated_at_ms for c in esc} == {T0 + 4 * HOUR}
        assert await escalate_once(settings, warehouse, publisher, T0 + 5 * HOUR) == []
        got = await cq.get_case(warehouse, TENANT, c1.id)
        assert got.escalated and got.state is CaseState.open

        # The API: ack, ack again (409), close without a note (422), close, stats.
        api = FastAPI()  # the cases router alone (api.main is wired by the lead)
        api.state.services = Services(settings, warehouse, publisher, None)  # type: ignore[arg-type]
        api.include_router(cases_router.router)
        auth = {"Authorization": f"Bearer {ADMIN_KEY}"}
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=api), base_url="http://api") as client:
            r = await client.get("/v1/cases", params={"state": "open", "owner": "lead-billing"}, headers=auth)
            assert r.status_code == 200 and {c["response_id"] for c in r.json()["data"]} == {"r1", "r5"}
            r = await client.get("/v1/cases", params={"escalated": "true"}, headers=auth)
            assert {c["response_id"] for c in r.json()["data"]} == {"r1", "r6"}
            r = await client.post(f"/v1/cases/{c1.id}/ack", json={"by": "lead@acme"}, headers=auth)
            assert r.status_code == 200 and r.json()["state"] == "acknowledged" and r.json()["escalated"] is True
            assert (await client.post(f"/v1/cases/{c1.id}/ack", headers=auth)).status_code == 409
            assert (await client.post(f"/v1/cases/{c1.id}/close", json={"resolution": ""},
                                      headers=auth)).status_code == 422
            r = await client.post(f"/v1/cases/{c1.id}/close", json={"resolution": "called back, refunded"},
                                  headers=auth)
            assert r.status_code == 200 and r.json()["state"] == "closed"
            assert r.json()["breached"] is False  # closed seconds after opening (the 4 h passed on the fake clock only)
            assert (await client.post(f"/v1/cases/{c1.id}/close", json={"resolution": "again"},
                                      headers=auth)).status_code == 409
            r = await client.get(f"/v1/cases/{c1.id}", headers=auth)
            assert r.json()["resolution"] == "called back, refunded" and r.json()["acknowledged_by"] == "lead@acme"
            assert (await client.get("/v1/cases/nope", headers=auth)).status_code == 404
            assert (await client.get("/v1/cases", params={"state": "bogus"}, headers=auth)).status_code == 422
            r = await client.get("/v1/cases/stats", headers=auth, params={
                "from": "2000-01-01T00:00:00Z", "to": "2100-01-01T00:00:00Z"})
            s = r.json()
            assert r.status_code == 200 and (s["opened"], s["closed"], s["escalated"]) == (3, 1, 2)
            assert s["time_to_acknowledge"]["n"] == 1 and s["time_to_close"]["n"] == 1
            assert s["time_to_close"]["p50_s"] >= s["time_to_acknowledge"]["p50_s"] >= 0
            assert (s["breached"], s["acknowledged"], s["open"]) == (0, 0, 2)
        # Breaches by the clock of the stats: at +25 h r5 (24 h) and r6 (4 h) are open past their SLA.
        late = await cq.case_stats(warehouse, TENANT, T0 - HOUR, T0 + HOUR, now_ms=T0 + 25 * HOUR)
        assert (late.breached, late.breached_open, late.opened) == (2, 2, 3)
    finally:
        await publisher.stop()

    note = await read_topic(bootstrap, names["notifications"], 7, timeout=5)
    kinds = sorted((n["type"], n["data"]["response_id"]) for n in note)
    assert kinds == [("cx.case.closed.v1", "r1"), ("cx.case.escalated.v1", "r1"), ("cx.case.escalated.v1", "r6"),
                     ("cx.case.opened.v1", "r1"), ("cx.case.opened.v1", "r5"), ("cx.case.opened.v1", "r6")]
    closed = next(n for n in note if n["type"] == "cx.case.closed.v1")
    assert closed["data"]["resolution"] == "called back, refunded" and closed["data"]["status"] == "closed"


async def test_opener_routes_with_the_touchpoint_dims_and_the_response_overrides_win(settings, warehouse) -> None:
    settings.cases = settings.cases.model_copy(update={
        "owners": {"team": {"billing": "lead-billing", "sales": "lead-sales"}, "queue": {"vip": "vip-owner"}}})
    sent: list = []

    async def publish(messages) -> None:
        sent.extend(messages)

    async def lookup(wh, keys):
        assert keys == [(TENANT, "i-t1"), (TENANT, "i-t2")], keys
        return {(TENANT, "i-t1"): {"team": "billing", "queue": "vip"}, (TENANT, "i-t2"): {"team": "billing"}}

    opener = CaseOpener(settings, warehouse, publish, clock=lambda: T0, lookup_dims=lookup)
    r1 = {**response("t1", "cust-9", nps=0), "dims": {}}
    r2 = {**response("t2", "cust-8", csat=1), "dims": {"team": "sales"}}
    got = await opener.handle([r1, r2])
    assert [(kind, c.response_id, c.owner, c.scope) for kind, c in got] == [
        ("opened", "t1", "lead-billing", {"queue": "vip", "team": "billing"}),
        ("opened", "t2", "lead-sales", {"team": "sales"})]
    assert len(sent) == 2
    assert await opener.handle([r1, r2]) == [] and len(sent) == 2  # replayed: nothing, not even a lookup


class SimulatedCrash(RuntimeError):
    pass


class CrashOnInsert:
    """The real warehouse, except that the next insert into ``table`` fails, as if the process died there:
    ``case_links`` = after the batch's cases are stored and before their links (inside step 7 of
    ``CaseOpener.handle``); ``cases`` = after the publish, before anything is stored (between 6 and 7)."""

    def __init__(self, wh: Warehouse, table: str) -> None:
        self.wh, self.table, self.armed = wh, table, True

    def __getattr__(self, name: str):
        return getattr(self.wh, name)

    async def ainsert(self, table, data, column_names, column_oriented: bool = False) -> None:
        if table == self.table and self.armed:
            self.armed = False
            raise SimulatedCrash(f"killed before the insert into {table}")
        await self.wh.ainsert(table, data, column_names, column_oriented)


def expected_cases(responses: list[dict]) -> dict[str, int]:
    """Reference model, written from the spec rather than from ``cases``: a detractor (NPS <= 6),
    CSAT <= 2 or CES <= 3 opens a case unless the same known customer already has one open with the
    same (channel, queue, team) scope, which absorbs it. Returns opening response id -> absorbed count."""
    opened: dict[str, int] = {}
    by_scope: dict[tuple, str] = {}
    seen: set[str] = set()
    for r in responses:
        if r["id"] in seen:
            continue
        seen.add(r["id"])
        hit = ((r["nps"] is not None and r["nps"] <= 6) or (r["csat"] is not None and r["csat"] <= 2)
               or (r["ces"] is not None and r["ces"] <= 3))
        if not hit:
            continue
        scope = tuple(sorted((d, v) for d, v in r["dims"].items() if d in ("channel", "queue", "team") and v))
        key = (r["customer"], scope)
        if r["customer"] and key in by_scope:
            opened[by_scope[key]] += 1
        else:
            opened[r["id"]] = 0
            if r["customer"]:
                by_scope[key] = r["id"]
    return opened


async def test_replayed_and_crashed_batches_open_exactly_the_expected_cases(settings, warehouse) -> None:
    import random

    rng = random.Random(20261122)
    responses = []
    for i in range(120):
        r = response(f"b{i:03d}", rng.choice(["cust-a", "cust-b", "cust-c", "cust-d", ""]),
                     team=rng.choice(["billing", "sales"]), nps=rng.choice([None, *range(11)]),
                     csat=rng.choice([None, 1, 2, 3, 4, 5]), ces=rng.choice([None, 2, 4, 6, 7]))
        r["dims"]["channel"] = rng.choice(["voice", "chat"])
        r["interaction_id"] = None  # no touchpoint lookup: the scope is the response's own dims
        responses.append(r)
    responses.append(responses[7])  # the same response twice in one batch
    batches = [responses[i:i + 30] for i in range(0, len(responses), 30)]
    sent: list = []

    async def publish(messages) -> None:
        sent.extend(messages)

    def crashing(table: str) -> CaseOpener:
        return CaseOpener(settings, CrashOnInsert(warehouse, table), publish, clock=lambda: T0)  # type: ignore[arg-type]

    opener = CaseOpener(settings, warehouse, publish, clock=lambda: T0)
    await opener.handle(batches[0])
    assert await opener.handle(batches[0]) == []  # replayed whole: nothing at all
    with pytest.raises(SimulatedCrash):
        await crashing(Table.case_links.value).handle(batches[1])  # cases stored, links lost
    published = len(sent)
    replay = await opener.handle(batches[1])  # the restart replays the batch
    assert replay and [kind for kind, _ in replay] == ["absorbed"] * len(replay)  # its cases exist: none reopened
    assert len(sent) == published  # ... and none published again
    with pytest.raises(SimulatedCrash):
        await crashing(Table.cases.value).handle(batches[2])  # published, nothing stored
    republished = len(sent) - published
    await opener.handle(batches[2])  # the replay publishes the same events again (same ids) and stores them
    await opener.handle([*batches[1], *batches[2]])  # an older offset replayed with a newer one
    await opener.handle(batches[3])
    await opener.handle(batches[3])

    want = expected_cases(responses)
    got = {c.response_id: c.absorbed for c in await cq.list_cases(warehouse, TENANT, limit=10_000)}
    assert got == want
    assert 10 < len(want) < 100 and sum(want.values()) > 5  # the data exercises both opening and absorbing
    events = [orjson.loads(m.value) for m in sent]
    assert sorted({e["data"]["response_id"] for e in events}) == sorted(want)
    assert republished > 0 and len(events) == len(want) + republished  # only batch 2's opening events twice
    assert len({e["id"] for e in events}) == len(want)  # ... with the same event ids (receivers dedupe)
    open_now = [c for c in await cq.list_cases(warehouse, TENANT, limit=10_000) if c.customer]
    scopes = [(c.customer, c.scope_key) for c in open_now]
    assert len(scopes) == len(set(scopes))  # at most one open case per customer and scope


async def test_acknowledged_cases_still_absorb_and_closed_ones_do_not(settings, warehouse) -> None:
    async def publish(messages) -> None:
        pass

    opener = CaseOpener(settings, warehouse, publish, clock=lambda: T0)
    first = [response("k1", "cust-k", nps=1), response("k2", "cust-l", nps=1)]
    assert [kind for kind, _ in await opener.handle(first)] == ["opened", "opened"]
    k1, k2 = case_id(TENANT, SOURCE, "k1"), case_id(TENANT, SOURCE, "k2")
    await cq.append_event(warehouse, TENANT, k1, cq.EventKind.acknowledged, T0 + 1, "lead")
    await cq.append_event(warehouse, TENANT, k2, cq.EventKind.closed, T0 + 2, "lead", "called back")
    got = await opener.handle([response("k3", "cust-k", csat=1), response("k4", "cust-l", csat=1)])
    assert [(kind, c.id) for kind, c in got] == [("absorbed", k1), ("opened", case_id(TENANT, SOURCE, "k4"))]
    assert (await cq.get_case(warehouse, TENANT, k1)).absorbed == 1
