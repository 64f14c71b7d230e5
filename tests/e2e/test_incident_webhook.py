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

from core.settings import ApiKey
from tests.conftest import TEST_TENANT, make_settings
from tests.e2e.test_sse_stream import SseReader

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
    # The incident: chat CSAT collapses to 12 top-2-box answers of 40 (30 %).
    resp = await stack.post("/v1/events", json=_live_answers(12, 28), headers=BATCH)
    assert resp.json() == {"accepted": 80, "duplicates": 0, "rejected": []}
    # Create the rule once every answer is visible, so its first evaluation sees all 40.
    for _ in range(300):
        series = (await stack.get("/v1/kpis", params={"metric": "csat", "window": "1h", "channel": "chat"})).json()
        if sum(p["n"] for p in series["data"]) == 40:
            break
        await asyncio.sleep(0.2)
    rule = {"id": "chat-csat", "name": "Chat CSAT collapse", "metric": "csat", "scope": {"channel": "chat"},
            "window": "24h", "condition": "below", "threshold": 80, "min_n": 20, "for_s": 0,
            "severity": "critical", "routes": [sub.json()["id"]]}
    r = await stack.post("/v1/alert-rules", json=rule, headers=admin)
    assert r.status_code == 201, r.text

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


def _chat_feed(now: datetime, per_minute: int, silent_for: timedelta) -> list[dict]:
    """Chat touchpoints, ``per_minute`` a minute, around this time of day on the two previous days
    (whole hours, so hourly counts are complete) and today until ``silent_for`` before ``now``'s minute."""
    spans = [(now - timedelta(days=d, hours=3), now - timedelta(days=d) + timedelta(hours=2)) for d in (1, 2)]
    spans.append((now - timedelta(hours=3), now.replace(second=0, microsecond=0) - silent_for))
    out = []
    for s, (a, b) in enumerate(spans):
        t = a.replace(second=0, microsecond=0)
        while t < b:
            for k in range(per_minute):
                at = (t + timedelta(seconds=k * 60 / per_minute)).isoformat().replace("+00:00", "Z")
                out.append({"specversion": "1.0", "id": f"feed-{s}-{at}", "source": "/chat", "time": at,
                            "type": "cx.touchpoint.v1", "data": {"interaction_id": f"c-{s}-{at}", "channel": "chat"}})
            t += timedelta(minutes=1)
    return out


async def test_a_silent_feed_fires_a_gap_rule(stack: httpx.AsyncClient, receiver) -> None:
    """A data-gap rule fanned out per channel: the chat feed stops, the live detector finds it
    (against the same minutes of the previous days), and the alert reaches the receiver."""
    url, secret, got, arrived = receiver
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    sub = await stack.post("/v1/webhooks", json={"url": url, "event_types": ["cx.alert.*"]}, headers=admin)
    secret.append(sub.json()["secret"])
    rule = {"id": "feeds", "name": "Feed gone silent", "metric": "volume", "condition": "gap", "min_n": 1,
            "gap": {"kind": "data", "dimensions": ["channel"], "lengths_min": [5, 15], "baseline_days": 7},
            "severity": "critical", "routes": [sub.json()["id"]]}
    r = await stack.post("/v1/alert-rules", json=rule, headers=admin)
    assert r.status_code == 201, r.text

    now = datetime.now(timezone.utc)
    events = _chat_feed(now, 5, timedelta(minutes=20))
    for i in range(0, len(events), 2000):
        resp = await stack.post("/v1/events", json=events[i:i + 2000], headers=BATCH)
        assert resp.status_code == 202 and resp.json()["rejected"] == []

    # Wait until every contact is counted, then read the same gap through the API (lengths 10-60 min):
    # 0 chat contacts in the last 20 minutes against 5 a minute at this time on both previous days.
    since = (now - timedelta(days=3)).strftime("%Y-%m-%dT00:00:00Z")
    counted = 0
    for _ in range(600):
        series = (await stack.get("/v1/kpis", params={"metric": "volume", "window": "1d", "channel": "chat",
                                                      "from": since})).json()
        counted = sum(p["n"] for p in series["data"])
        if counted == len(events):
            break
        await asyncio.sleep(0.2)
    assert counted == len(events)
    q = {"window": "live", "kind": "data", "dimension": "channel"}
    gaps = [g for g in (await stack.get("/v1/gaps", params=q)).json()["data"] if g["metric"] == "volume"]
    assert [(g["scope"], g["status"], g["observed"]["n"], g["reference"]["value"]) for g in gaps] == [
        ({"channel": "chat"}, "silent", 0, 100.0)]

    # And pushed by the live stream to boards.
    sse = SseReader(stack, {"metric": "nps", "gaps": "true", "gaps_window": "live", "dimension": "channel",
                            "interval": "0.5"})
    try:
        pushed = await sse.wait_for(lambda ev: ev.get("event") == "gap" and ev["data"].get("metric") == "volume",
                                    "a live data gap")
    finally:
        await sse.close()
    assert (pushed["data"]["scope"], pushed["data"]["status"], pushed["data"]["reference"]["value"]) == (
        {"channel": "chat"}, "silent", 100.0)

    await asyncio.wait_for(arrived.wait(), 90)
    _, event = got[0]
    assert event["type"] == "cx.alert.firing.v1"
    data = event["data"]
    assert data["rule"]["id"] == "feeds" and data["scope"] == {"channel": "chat"}
    assert (data["value"], data["n"], data["threshold"]) == (0.0, 0, None)
    alerts = (await stack.get("/v1/alerts", params={"current": "true"}, headers=admin)).json()["data"]
    assert [(a["rule_id"], a["scope"], a["status"]) for a in alerts] == [("feeds", {"channel": "chat"}, "firing")]
