"""Delivery logic with httpx.MockTransport: retry schedule, Retry-After, 410, dead letters, signatures."""
from __future__ import annotations

import asyncio
import time
from email.utils import format_datetime
from datetime import datetime, timezone

import httpx
import orjson
import pytest
from standardwebhooks import Webhook

from core.domain_settings import WebhookSettings
from warehouse.webhook_queries import AttemptRow, DeadLetterRow, SubscriptionRow
from notifications import Notification, decode_message, encode_replay
from webhooks.delivery import Deliverer, matching_subscriptions, parse_retry_after
from webhooks.signing import generate_secret

NOW = float(int(time.time()))  # fixed reference for pure date arithmetic


def _event(**data) -> bytes:
    return orjson.dumps({"specversion": "1.0", "id": "alert-1", "source": "/alerts", "type": "cx.alert.firing.v1",
                         "tenant": "acme", "time": "2027-01-15T08:00:00Z", "data": data})


def _sub(sid: str = "wh_a", url: str = "https://hooks.example/a", **kw) -> SubscriptionRow:
    return SubscriptionRow(tenant="acme", id=sid, url=url, event_types=kw.pop("event_types", ("cx.alert.*",)),
                           filters=kw.pop("filters", {}), secret=kw.pop("secret", generate_secret()), **kw)


class FakeRecorder:
    def __init__(self) -> None:
        self.attempts: list[AttemptRow] = []
        self.dead: list[DeadLetterRow] = []
        self.disabled: list[str] = []
        self.delivered_ids: list[str] = []

    async def attempt(self, row: AttemptRow) -> None:
        self.attempts.append(row)

    async def dead_letter(self, row: DeadLetterRow) -> None:
        self.dead.append(row)

    async def delivered(self, tenant: str, delivery_id: str) -> None:
        self.delivered_ids.append(delivery_id)

    async def disable(self, sub: SubscriptionRow, reason: str) -> None:
        self.disabled.append(sub.id)


class Clock:
    def __init__(self) -> None:
        # Real time when the test starts, not when the module was collected: the reference
        # verifier rejects a webhook-timestamp more than 5 minutes old.
        self.now = float(int(time.time()))
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, s: float) -> None:
        self.sleeps.append(s)
        self.now += s


def _deliverer(handler, recorder, clock, rand=lambda: 0.5, **settings) -> tuple[Deliverer, httpx.AsyncClient]:
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    ws = WebhookSettings(**{"max_attempts": 5, "backoff_base_s": 1.0, "max_backoff_s": 60.0, **settings})
    return Deliverer(client, recorder, ws, clock=clock, sleep=clock.sleep, rand=rand), client


def _scripted(*responses):
    """Handler answering the given statuses (or raising exceptions) in order; records the requests."""
    seen: list[httpx.Request] = []
    script = list(responses)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        r = script.pop(0)
        if isinstance(r, Exception):
            raise r
        if isinstance(r, tuple):
            return httpx.Response(r[0], headers=r[1])
        return httpx.Response(r, text="nope" if r >= 300 else "ok")

    return handler, seen


async def test_retries_with_full_jitter_exponential_backoff_then_succeeds() -> None:
    rec, clock = FakeRecorder(), Clock()
    handler, seen = _scripted(500, httpx.ConnectTimeout("slow"), httpx.ConnectError("refused"), 503, 200)
    d, client = _deliverer(handler, rec, clock, rand=lambda: 0.5)
    sub = _sub()
    body = _event(routes=["wh_a"])
    result = await d.deliver(Notification.parse(body), sub)
    await client.aclose()
    assert result.status == "delivered" and result.attempts == 5
    assert clock.sleeps == [0.5, 1.0, 2.0, 4.0]  # 0.5 * min(60, 1 * 2^(n-1))
    assert [a.status for a in rec.attempts] == ["retrying"] * 4 + ["delivered"]
    assert [a.attempt for a in rec.attempts] == [1, 2, 3, 4, 5]
    assert [a.http_status for a in rec.attempts] == [500, None, None, 503, 200]
    assert "timeout" in rec.attempts[1].error and "ConnectError" in rec.attempts[2].error
    ids = {r.headers["webhook-id"] for r in seen}
    assert len(ids) == 1 and rec.attempts[0].delivery_id in ids
    for r in seen:  # every attempt is signed with its own timestamp and verifies
        assert r.content == body and r.headers["content-type"] == "application/cloudevents+json"
        Webhook(sub.secret).verify(r.content, dict(r.headers))
    assert not rec.dead


def test_backoff_is_capped_and_jittered() -> None:
    d = Deliverer(httpx.AsyncClient(), FakeRecorder(), WebhookSettings(backoff_base_s=1, max_backoff_s=10),
                  rand=lambda: 1.0)
    assert [d.backoff(n, None) for n in range(1, 7)] == [1, 2, 4, 8, 10, 10]
    d0 = Deliverer(httpx.AsyncClient(), FakeRecorder(), WebhookSettings(), rand=lambda: 0.0)
    assert d0.backoff(3, None) == 0.0
    assert d.backoff(1, 7.0) == 7.0 and d.backoff(1, 1e6) == 10


async def test_retry_after_seconds_and_http_date_are_honoured() -> None:
    rec, clock = FakeRecorder(), Clock()
    start = clock.now
    date = format_datetime(datetime.fromtimestamp(start + 3 + 42, timezone.utc), usegmt=True)
    handler, _ = _scripted((429, {"Retry-After": "3"}), (503, {"Retry-After": date}), 204)
    d, client = _deliverer(handler, rec, clock, rand=lambda: 0.0)
    result = await d.deliver(Notification.parse(_event()), _sub())
    await client.aclose()
    assert result.status == "delivered"
    assert clock.sleeps == [3.0, 42.0]
    assert rec.attempts[0].next_attempt_at == start + 3


def test_parse_retry_after() -> None:
    assert parse_retry_after("120", NOW) == 120
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", NOW) == 0.0  # in the past
    assert parse_retry_after("soon", NOW) is None and parse_retry_after(None, NOW) is None


async def test_410_disables_subscription_and_dead_letters_without_retry() -> None:
    rec, clock = FakeRecorder(), Clock()
    handler, seen = _scripted(410)
    d, client = _deliverer(handler, rec, clock)
    result = await d.deliver(Notification.parse(_event()), _sub())
    await client.aclose()
    assert result.status == "gone" and len(seen) == 1 and clock.sleeps == []
    assert rec.disabled == ["wh_a"] and [a.status for a in rec.attempts] == ["gone"]
    assert rec.dead[0].http_status == 410 and rec.dead[0].attempts == 1


@pytest.mark.parametrize("code", [400, 401, 404, 413, 302])
async def test_other_4xx_and_redirects_are_not_retried(code: int) -> None:
    rec, clock = FakeRecorder(), Clock()
    handler, seen = _scripted(code)
    d, client = _deliverer(handler, rec, clock)
    result = await d.deliver(Notification.parse(_event()), _sub())
    await client.aclose()
    assert result.status == "dead_lettered" and len(seen) == 1 and not rec.disabled
    assert rec.dead[0].error.startswith(f"HTTP {code}")


async def test_408_is_retried_and_last_attempt_dead_letters_with_body() -> None:
    rec, clock = FakeRecorder(), Clock()
    handler, seen = _scripted(408, 500, 500)
    d, client = _deliverer(handler, rec, clock, max_attempts=3)
    body = _event(routes=["wh_a"])
    result = await d.deliver(Notification.parse(body), _sub())
    await client.aclose()
    assert result.status == "dead_lettered" and result.attempts == 3 and len(seen) == 3
    assert [a.status for a in rec.attempts] == ["retrying", "retrying", "dead_lettered"]
    assert rec.attempts[-1].next_attempt_at is None
    dl = rec.dead[0]
    assert dl.body == body and dl.attempts == 3 and dl.http_status == 500 and dl.delivery_id == result.delivery_id


async def test_slow_receiver_does_not_block_others() -> None:
    rec = FakeRecorder()
    slow_release = asyncio.Event()
    fast_done: list[str] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "slow.example":
            await slow_release.wait()
        else:
            fast_done.append(request.url.host)
        return httpx.Response(200)

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    d = Deliverer(client, rec, WebhookSettings(max_in_flight=4))
    subs = [_sub("wh_slow", "https://slow.example/"), _sub("wh_b", "https://b.example/"),
            _sub("wh_c", "https://c.example/")]
    task = asyncio.create_task(d.deliver_all(Notification.parse(_event()), subs))
    for _ in range(100):
        if len(fast_done) == 2:
            break
        await asyncio.sleep(0.01)
    assert sorted(fast_done) == ["b.example", "c.example"] and not task.done()
    slow_release.set()
    results = await task
    await client.aclose()
    assert [r.status for r in results] == ["delivered"] * 3


async def test_in_flight_requests_are_bounded() -> None:
    active = peak = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        await asyncio.sleep(0.01)
        active -= 1
        return httpx.Response(200)

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    d = Deliverer(client, FakeRecorder(), WebhookSettings(max_in_flight=3))
    subs = [_sub(f"wh_{i}", f"https://h{i}.example/") for i in range(10)]
    await d.deliver_all(Notification.parse(_event()), subs)
    await client.aclose()
    assert peak == 3


def test_matching_uses_routes_types_filters_and_tenant() -> None:
    subs = [
        _sub("wh_a"),
        _sub("wh_b", event_types=("cx.case.*",)),
        _sub("wh_c", filters={"channel": "chat"}),
        _sub("wh_d", filters={"channel": "phone"}),
        _sub("wh_e", enabled=False),
        SubscriptionRow(tenant="other", id="wh_f", url="https://x/", event_types=("*",), filters={}, secret="s"),
    ]
    n = Notification.parse(_event(routes=["wh_a", "wh_b", "wh_c", "wh_d", "wh_e", "wh_f"], scope={"channel": "chat"}))
    assert [s.id for s in matching_subscriptions(n, subs)] == ["wh_a", "wh_c"]
    unrouted = Notification.parse(_event(labels={"channel": "phone"}))
    assert [s.id for s in matching_subscriptions(unrouted, subs)] == ["wh_a", "wh_d"]
    only_a = Notification.parse(_event(routes=["wh_a"]))
    assert [s.id for s in matching_subscriptions(only_a, subs)] == ["wh_a"]


def test_notification_parsing_and_replay_envelope() -> None:
    with pytest.raises(ValueError, match="tenant"):
        Notification.parse(orjson.dumps({"id": "1", "source": "/s", "type": "cx.alert.firing.v1"}))
    with pytest.raises(ValueError):
        Notification.parse(b"{nope")
    with pytest.raises(ValueError, match="routes"):
        Notification.parse(_event(routes="wh_a"))
    body = _event(routes=["wh_x"])
    n, only = decode_message(encode_replay("acme", "msg_1", "wh_a", body))
    assert only == "wh_a" and n.replay_of == "msg_1" and n.body == body
    n2, only2 = decode_message(body)
    assert only2 is None and n2.replay_of is None
    with pytest.raises(ValueError):
        decode_message(encode_replay("other", "msg_1", "wh_a", body))
