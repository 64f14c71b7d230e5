"""The whole loop: an incident in live answers fires an alert rule, and a signed webhook reaches the
receiver, which verifies it with the `standardwebhooks` package. Nothing is called by hand: the
runtime's alert evaluator and webhook agent do it."""
from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import httpx
import orjson
import pytest
from aiohttp import web
from standardwebhooks import Webhook

from cxpulse.config import ApiKey
from tests.conftest import TEST_TENANT, make_settings

pytestmark = [pytest.mark.e2e]

ADMIN_KEY = "incident-admin-key"
BATCH = {"Content-Type": "application/cloudevents-batch+json"}


@pytest.fixture
def settings(tmp_path, broker, chdb_dsn):
    s = make_settings(tmp_path, broker.bootstrap, chdb_dsn)
    s.api.keys[ADMIN_KEY] = ApiKey(tenant=TEST_TENANT, scopes=["ingest", "read", "admin"])
    s.alerts.evaluate_every_s = 0.5
    return s


@pytest.fixture
async def receiver():
    """A real HTTP receiver on loopback: keeps (headers, verified payload) of every call."""
    got: list[tuple[dict, dict]] = []
    secret: list[str] = []
    arrived = asyncio.Event()

    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        headers = {k.lower(): v for k, v in request.headers.items()}
        got.append((headers, Webhook(secret[0]).verify(body, headers)))  # raises on a bad signature
        arrived.set()
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}/hook", secret, got, arrived
    await runner.cleanup()


def _live_answers(n_good: int, n_bad: int) -> list[dict]:
    now = datetime.now(timezone.utc) - timedelta(seconds=5)
    out = []
    for i, score in enumerate([5] * n_good + [1] * n_bad):
        t = (now - timedelta(milliseconds=10 * i)).isoformat().replace("+00:00", "Z")
        out.append({"specversion": "1.0", "id": f"tp-inc-{i}", "source": "/pbx", "type": "cx.touchpoint.v1",
                    "time": t, "data": {"interaction_id": f"inc-{i}", "channel": "chat"}})
        out.append({"specversion": "1.0", "id": f"sr-inc-{i}", "source": "/survey",
                    "type": "cx.survey.response.v1", "time": t,
                    "data": {"interaction_id": f"inc-{i}", "survey_id": "s", "answers": {"csat": score}}})
    return out


async def test_incident_fires_a_signed_webhook(stack: httpx.AsyncClient, receiver) -> None:
    url, secret, got, arrived = receiver
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    sub = await stack.post("/v1/webhooks", json={"url": url, "event_types": ["cx.alert.*"]}, headers=admin)
    assert sub.status_code == 201, sub.text
    secret.append(sub.json()["secret"])
    rule = {"id": "chat-csat", "name": "Chat CSAT collapse", "metric": "csat", "scope": {"channel": "chat"},
            "window": "24h", "condition": "below", "threshold": 80, "min_n": 20, "for_s": 0,
            "severity": "critical", "routes": [sub.json()["id"]]}
    r = await stack.post("/v1/alert-rules", json=rule, headers=admin)
    assert r.status_code == 201, r.text

    # The incident: chat CSAT collapses to 12 top-2-box answers of 40 (30 %).
    resp = await stack.post("/v1/events", json=_live_answers(12, 28), headers=BATCH)
    assert resp.json() == {"accepted": 80, "rejected": []}

    await asyncio.wait_for(arrived.wait(), 90)
    headers, event = got[0]
    assert event["type"] == "cx.alert.firing.v1" and event["tenant"] == TEST_TENANT
    data = event["data"]
    assert (data["value"], data["n"], data["threshold"], data["severity"]) == (30.0, 40, 80.0, "critical")
    assert data["scope"] == {"channel": "chat"} and data["rule"]["id"] == "chat-csat"
    assert headers["webhook-id"] and headers["webhook-signature"].startswith("v1,")
    log = (await stack.get(f"/v1/webhooks/{sub.json()['id']}/deliveries", headers=admin)).json()
    assert [d["status"] for d in log["data"]][:1] == ["delivered"]
    assert orjson.dumps(event)  # the verified payload is the CloudEvent itself
