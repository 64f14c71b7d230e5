"""Webhook delivery against a REAL HTTP receiver (aiohttp on loopback) that verifies signatures with
``standardwebhooks``; and the ``webhook-deliveries`` agent end to end on the real Tansu broker."""
from __future__ import annotations

import asyncio
import uuid

import httpx
import orjson
import pytest
from aiohttp import web
from aiokafka import AIOKafkaProducer
from standardwebhooks import Webhook

from stream_processors.webhook_agent import register_webhook_agent
from warehouse import webhook_queries as q
from notifications import Notification
from webhooks import Deliverer, SubscriptionCache, WarehouseRecorder, generate_secret
from webhooks.signing import delivery_id as q_delivery_id
from tests.integration.conftest import agent_app

pytestmark = [pytest.mark.integration]


class Receiver:
    """Answers from a script (500, "timeout", 200...), then 200; verifies every request it gets."""

    def __init__(self, secret: str, script: list, hang_s: float = 2.0) -> None:
        self.verifier = Webhook(secret)
        self.script = list(script)
        self.hang_s = hang_s
        self.requests: list[dict] = []
        self.verified: list[dict] = []
        self.got = asyncio.Event()

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers = {k.lower(): v for k, v in request.headers.items()}
        self.requests.append(headers)
        self.verified.append(self.verifier.verify(body, headers))  # raises on a bad signature
        step = self.script.pop(0) if self.script else 200
        if step == "timeout":
            await asyncio.sleep(self.hang_s)
            step = 200  # too late: the client gave up
        if step == 200:
            self.got.set()
        return web.Response(status=step, text="ok" if step == 200 else "down")


@pytest.fixture
async def serve():
    runners: list[web.AppRunner] = []

    async def start(receiver: Receiver) -> str:
        app = web.Application()
        app.router.add_post("/hook", receiver.handle)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        port = site._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/hook"

    yield start
    for r in runners:
        await r.cleanup()


def _alert(tenant: str, routes: list[str], event_id: str | None = None) -> bytes:
    return orjson.dumps({
        "specversion": "1.0", "id": event_id or f"alert-{uuid.uuid4().hex[:8]}", "source": "/cxpulse/alerts",
        "type": "cx.alert.firing.v1", "tenant": tenant, "time": "2027-01-15T08:00:00Z",
        "datacontenttype": "application/json",
        "data": {"rule": "nps-chat", "routes": routes, "scope": {"channel": "chat"}, "value": 12.5},
    })


async def test_failing_then_hanging_receiver_recovers_with_one_webhook_id(settings, warehouse, serve) -> None:
    secret = generate_secret()
    receiver = Receiver(secret, [500, "timeout", 200])
    url = await serve(receiver)
    sub = q.SubscriptionRow(tenant="acme", id="wh_flaky", url=url, event_types=("cx.alert.*",), filters={},
                            secret=secret)
    await q.put_subscription(warehouse, sub)
    ws = settings.webhooks.model_copy(update={"timeout_s": 0.5, "backoff_base_s": 0.05, "max_attempts": 5})
    async with httpx.AsyncClient() as client:
        deliverer = Deliverer(client, WarehouseRecorder(warehouse), ws)
        body = _alert("acme", ["wh_flaky"])
        (result,) = await deliverer.deliver_all(Notification.parse(body), [sub])

    assert result.status == "delivered" and result.attempts == 3
    assert len(receiver.requests) == 3
    assert {h["webhook-id"] for h in receiver.requests} == {result.delivery_id}
    assert all(v["type"] == "cx.alert.firing.v1" for v in receiver.verified)
    rows = sorted(await q.list_attempts(warehouse, "acme", "wh_flaky"), key=lambda r: r.attempt)
    assert [(r.attempt, r.status, r.http_status) for r in rows] == [
        (1, "retrying", 500), (2, "retrying", None), (3, "delivered", 200)]
    assert "timeout" in rows[1].error and rows[0].next_attempt_at >= rows[0].attempted_at
    assert {r.delivery_id for r in rows} == {result.delivery_id}
    assert await q.list_dead_letters(warehouse, "acme") == []


async def test_receiver_that_never_recovers_is_dead_lettered_then_gone(settings, warehouse, serve) -> None:
    secret = generate_secret()
    receiver = Receiver(secret, [503, 503, 410])
    url = await serve(receiver)
    sub = q.SubscriptionRow(tenant="acme", id="wh_dying", url=url, event_types=("*",), filters={}, secret=secret)
    await q.put_subscription(warehouse, sub)
    cache = SubscriptionCache(warehouse, ttl_s=60)
    assert [s.id for s in await cache.get("acme")] == ["wh_dying"]
    ws = settings.webhooks.model_copy(update={"backoff_base_s": 0.01, "max_attempts": 2})
    async with httpx.AsyncClient() as client:
        deliverer = Deliverer(client, WarehouseRecorder(warehouse, cache), ws)
        (dead,) = await deliverer.deliver_all(Notification.parse(_alert("acme", [], "e-dead")), [sub])
        (gone,) = await deliverer.deliver_all(Notification.parse(_alert("acme", [], "e-gone")), [sub])
    assert (dead.status, dead.attempts, dead.http_status) == ("dead_lettered", 2, 503)
    assert (gone.status, gone.attempts, gone.http_status) == ("gone", 1, 410)
    letters = {d.delivery_id: d for d in await q.list_dead_letters(warehouse, "acme", "wh_dying")}
    assert set(letters) == {dead.delivery_id, gone.delivery_id}
    assert orjson.loads(letters[dead.delivery_id].body)["id"] == "e-dead"
    current = await q.get_subscription(warehouse, "acme", "wh_dying")
    assert current.enabled is False and "410" in current.disabled_reason
    assert await cache.get("acme") == []  # invalidated: the agent stops delivering at once


async def test_agent_delivers_a_notification_from_the_broker_signed(settings, warehouse, serve) -> None:
    settings.webhooks = settings.webhooks.model_copy(update={"backoff_base_s": 0.05, "agent_concurrency": 2})
    secret = generate_secret()
    receiver = Receiver(secret, [500])
    other = Receiver(generate_secret(), [])
    url, other_url = await serve(receiver), await serve(other)
    await q.put_subscription(warehouse, q.SubscriptionRow(
        tenant="acme", id="wh_ops", url=url, event_types=("cx.alert.*",), filters={"channel": "chat"}, secret=secret))
    await q.put_subscription(warehouse, q.SubscriptionRow(  # not routed: must get nothing
        tenant="acme", id="wh_other", url=other_url, event_types=("*",), filters={}, secret=secret))

    bootstrap = settings.kafka.bootstrap
    app, declared, names = await agent_app(settings)
    register_webhook_agent(app, declared, settings, warehouse)
    await app.start()
    try:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
        await producer.start()
        try:
            body = _alert("acme", ["wh_ops"], "alert-e2e")
            await producer.send_and_wait(names["notifications"], body, key=b"acme")
        finally:
            await producer.stop()
        await asyncio.wait_for(receiver.got.wait(), 90)
        for _ in range(100):  # the outcome is recorded before the message is acked
            rows = sorted(await q.list_attempts(warehouse, "acme", "wh_ops"), key=lambda r: r.attempt)
            if rows and rows[-1].status == "delivered":
                break
            await asyncio.sleep(0.1)
    finally:
        await app.stop()

    assert len(receiver.requests) == 2 and len({h["webhook-id"] for h in receiver.requests}) == 1
    assert receiver.verified[-1]["id"] == "alert-e2e" and receiver.verified[-1]["tenant"] == "acme"
    assert other.requests == []
    assert [(r.status, r.http_status) for r in rows] == [("retrying", 500), ("delivered", 200)]


async def test_alertmanager_subscription_gets_a_signed_alertmanager_body_and_case_events_are_logged_skips(
        settings, warehouse, serve) -> None:
    """Created through the API with ``format: alertmanager``; the agent delivers from the broker."""
    from fastapi import FastAPI

    from api.deps import Services
    from api.routers import webhooks as webhooks_router
    from core.settings import ApiKey

    settings.webhooks = settings.webhooks.model_copy(update={"external_url": "https://cx.example/"})
    settings.api.keys["am-admin-key"] = ApiKey(tenant="acme", scopes=["admin", "read"])
    api = FastAPI()
    api.state.services = Services(settings, warehouse, None, None)  # type: ignore[arg-type]
    api.include_router(webhooks_router.router)
    auth = {"Authorization": "Bearer am-admin-key"}
    secret = generate_secret()
    receiver = Receiver(secret, [])
    url = await serve(receiver)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=api), base_url="http://api") as client:
        bad = await client.post("/v1/webhooks", headers=auth, json={
            "url": url, "event_types": ["cx.case.*"], "format": "alertmanager"})
        assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "event_types"]
        r = await client.post("/v1/webhooks", headers=auth, json={
            "url": url, "event_types": ["*"], "format": "alertmanager", "secret": secret})
        assert r.status_code == 201 and r.json()["format"] == "alertmanager"
        sub_id = r.json()["id"]
        patch = await client.patch(f"/v1/webhooks/{sub_id}", headers=auth, json={"event_types": ["cx.case.*"]})
        assert patch.status_code == 422 and patch.json()["detail"][0]["loc"] == ["body", "event_types"]

    alert = {
        "specversion": "1.0", "id": "am-e2e-1", "source": "/cxpulse/alerts", "type": "cx.alert.firing.v1",
        "subject": "0123456789abcdef", "time": "2026-11-03T10:30:00Z", "tenant": "acme",
        "data": {"rule": {"id": "nps-voice", "name": "NPS voice", "metric": "nps", "window": "1h",
                          "condition": "below"},
                 "fingerprint": "0123456789abcdef", "status": "firing", "scope": {"channel": "voice"},
                 "value": -12.5, "n": 80, "ci": [-30.1, 5.2], "threshold": 10.0, "recovery": 20.0,
                 "severity": "high", "labels": {"team": "cx"}, "routes": None, "starts_at": "2026-11-03T10:30:00Z",
                 "ends_at": None, "repeat": False},
    }
    case = {"specversion": "1.0", "id": "case-e2e-1", "source": "/cxpulse/cases", "type": "cx.case.opened.v1",
            "tenant": "acme", "data": {"case_id": "c1", "routes": None, "scope": {"channel": "voice"}}}
    bootstrap = settings.kafka.bootstrap
    app, declared, names = await agent_app(settings)
    register_webhook_agent(app, declared, settings, warehouse)
    await app.start()
    try:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
        await producer.start()
        try:
            for ev in (case, alert):  # same key and partition: the case event is handled first
                await producer.send_and_wait(names["notifications"], orjson.dumps(ev), key=b"acme", partition=0)
        finally:
            await producer.stop()
        await asyncio.wait_for(receiver.got.wait(), 90)
        for _ in range(100):
            rows = await q.list_attempts(warehouse, "acme", sub_id)
            if {r.status for r in rows} == {"skipped", "delivered"}:
                break
            await asyncio.sleep(0.1)
    finally:
        await app.stop()

    assert len(receiver.requests) == 1  # the alert only
    headers = receiver.requests[0]
    assert headers["content-type"] == "application/json"
    assert headers["webhook-id"] == q_delivery_id("acme", sub_id, "/cxpulse/alerts", "am-e2e-1")
    labels = {"team": "cx", "channel": "voice", "alertname": "NPS voice", "rule_id": "nps-voice", "metric": "nps",
              "severity": "high", "tenant": "acme"}
    notes = {"value": "-12.5", "n": "80", "ci_low": "-30.1", "ci_high": "5.2", "threshold": "10.0",
             "condition": "below", "window": "1h", "recovery": "20.0", "event_id": "am-e2e-1",
             "summary": "NPS voice: nps = -12.5 (n = 80), below 10.0 over 1h"}
    assert receiver.verified[0] == {  # verified by standardwebhooks over the delivered bytes, then parsed
        "version": "4", "groupKey": '{}:{channel="voice", rule_id="nps-voice", team="cx"}', "truncatedAlerts": 0,
        "status": "firing", "receiver": sub_id,
        "groupLabels": {"team": "cx", "channel": "voice", "rule_id": "nps-voice"},
        "commonLabels": labels, "commonAnnotations": notes, "externalURL": "https://cx.example",
        "alerts": [{"status": "firing", "labels": labels, "annotations": notes,
                    "startsAt": "2026-11-03T10:30:00Z", "endsAt": "0001-01-01T00:00:00Z",
                    "generatorURL": "https://cx.example/v1/alert-rules/nps-voice", "fingerprint": "0123456789abcdef"}],
    }
    by_status = {r.status: r for r in rows}
    assert sorted(by_status) == ["delivered", "skipped"] and len(rows) == 2
    skipped = by_status["skipped"]
    assert (skipped.event_id, skipped.event_type, skipped.attempt, skipped.http_status) == (
        "case-e2e-1", "cx.case.opened.v1", 0, None)
    assert "no Alertmanager form" in skipped.error
    assert await q.list_dead_letters(warehouse, "acme") == []  # a skip is not a failure to replay
