"""The egress policy at delivery time (webhooks.egress.EgressTransport) against loopback receivers that count requests.

Every connection goes to 127.0.0.1; the names are resolved by stubs, so a test can make a name
change its address between registration and delivery (DNS rebinding).
"""
from __future__ import annotations

import httpx
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from core.domain_settings import WebhookSettings
from core.metrics import WEBHOOK_EGRESS_REFUSED
from notifications import Notification
from tests.unit.test_webhooks_delivery import Clock, FakeRecorder, _event, _sub
from webhooks.delivery import Deliverer
from webhooks.egress import EgressPolicy, egress_client


class CountingReceiver:
    """A loopback receiver answering ``status`` (and ``headers``) to every request it counts."""

    def __init__(self, status: int = 200, headers: dict[str, str] | None = None) -> None:
        self.status, self.headers = status, headers or {}
        self.requests: list[web.Request] = []

    async def handle(self, request: web.Request) -> web.Response:
        await request.read()
        self.requests.append(request)
        return web.Response(status=self.status, headers=self.headers, text="ok")


@pytest.fixture
async def listen():
    """Start a receiver on 127.0.0.1 and return its port (aiohttp's test server)."""
    servers: list[TestServer] = []

    async def start(receiver: CountingReceiver) -> int:
        app = web.Application()
        app.router.add_post("/hook", receiver.handle)
        servers.append(TestServer(app, host="127.0.0.1"))
        await servers[-1].start_server()
        return servers[-1].port

    yield start
    for server in servers:
        await server.close()


def _answers(*addresses: str):
    """A resolver answering each lookup with the next address (the last one from then on)."""
    script = list(addresses)

    async def resolve(host: str, port: int) -> list[str]:
        return [script.pop(0) if len(script) > 1 else script[0]]
    return resolve


async def _deliver(settings: WebhookSettings, resolve, url: str):
    rec, clock = FakeRecorder(), Clock()
    async with egress_client(settings, resolve=resolve) as client:
        d = Deliverer(client, rec, settings, clock=clock, sleep=clock.sleep)
        result = await d.deliver(Notification.parse(_event()), _sub(url=url))
    return result, rec


async def test_a_name_rebound_to_loopback_after_registration_is_refused_without_connecting(listen) -> None:
    receiver = CountingReceiver()
    port = await listen(receiver)
    url = f"http://rebind.test:{port}/hook"
    settings = WebhookSettings(allow_http=True, max_attempts=3)  # no allowlist: loopback is refused
    resolve = _answers("93.184.215.14", "127.0.0.1")  # public when registered, loopback when delivered
    assert [str(a) for a in await EgressPolicy(settings, resolve).check_url(url)] == ["93.184.215.14"]
    before = WEBHOOK_EGRESS_REFUSED.labels("delivery")._value.get()

    result, rec = await _deliver(settings, resolve, url)

    reason = "egress policy: rebind.test resolves to 127.0.0.1, which is loopback"
    assert (result.status, result.attempts, result.error) == ("dead_lettered", 1, reason)  # permanent: no retry
    [dead] = rec.dead
    assert dead.error == reason and dead.http_status is None and dead.body == _event()
    assert receiver.requests == []
    assert WEBHOOK_EGRESS_REFUSED.labels("delivery")._value.get() == before + 1


async def test_an_allowlisted_address_is_connected_to_with_the_host_name_kept(listen) -> None:
    receiver = CountingReceiver()
    port = await listen(receiver)
    settings = WebhookSettings(allow_http=True, egress_allow=["127.0.0.1/32"])
    result, _ = await _deliver(settings, _answers("127.0.0.1"), f"http://receiver.test:{port}/hook")
    assert result.status == "delivered"
    [request] = receiver.requests
    assert request.headers["Host"] == f"receiver.test:{port}"
    assert orjson.loads(await request.read())["id"] == "alert-1"


async def test_redirects_are_the_receivers_answer_and_never_followed(listen) -> None:
    target = CountingReceiver()
    target_port = await listen(target)
    redirecting = CountingReceiver(302, {"Location": f"http://127.0.0.1:{target_port}/hook"})
    port = await listen(redirecting)
    settings = WebhookSettings(allow_http=True, egress_allow=["127.0.0.1/32"], max_attempts=3)
    result, rec = await _deliver(settings, _answers("127.0.0.1"), f"http://127.0.0.1:{port}/hook")
    assert (result.status, result.attempts, result.http_status) == ("dead_lettered", 1, 302)
    assert "redirects are not followed" in rec.dead[0].error and f":{target_port}/hook" in rec.dead[0].error
    assert len(redirecting.requests) == 1 and target.requests == []


async def test_https_connects_to_the_checked_address_with_sni_and_host_naming_the_host() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    settings = WebhookSettings()
    async with egress_client(settings, httpx.MockTransport(handler), _answers("93.184.215.14")) as client:
        resp = await client.post("https://hooks.example:8443/cx", content=b"{}")
    assert resp.status_code == 204  # a mock: nothing leaves the machine
    [request] = seen
    assert str(request.url) == "https://93.184.215.14:8443/cx"
    assert request.headers["host"] == "hooks.example:8443"
    assert request.extensions["sni_hostname"] == "hooks.example"
