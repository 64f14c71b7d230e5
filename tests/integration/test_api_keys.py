"""/v1/api-keys and stored keys on the real API app and chDB, with pinned clocks (no broker: the
replay publisher is a fake): expiry, 429 with Retry-After, the cache's revocation bound between two
API processes, batched last use, and the audit entries of dead-letter replays and cases."""
from __future__ import annotations

import httpx
import pytest

from api.deps import Services
from api.keys import KeyRegistry
from api.main import create_api
from cases import Case
from core import metrics
from core.settings import ApiKey
from core.api_keys import settings_key_id
from tests.conftest import FakePublisher, make_settings
from warehouse import case_queries as cq
from warehouse import webhook_queries as q
from warehouse.audit_queries import audit_entries
from warehouse.client import Warehouse
from warehouse.migrate import migrate

ADMIN = "k-admin-acme"
T0 = 1_793_700_000.0  # 2026-11-03T10:00:00Z
T0_ISO = "2026-11-03T10:00:00Z"


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def _auth(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


class Process:
    """One API process: its own registry (cache, buckets, last use) over the shared warehouse."""

    def __init__(self, settings, wh: Warehouse, wall: Clock, mono: Clock) -> None:
        self.keys = KeyRegistry(settings.api, wh, clock=wall, monotonic=mono)
        self.publisher = FakePublisher()
        app = create_api(Services(settings, wh, self.publisher, None, keys=self.keys))
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api")


@pytest.fixture
async def stack(tmp_path, chdb_dsn):
    settings = make_settings(tmp_path, "unused:9092", chdb_dsn)
    settings.api.keys = {ADMIN: ApiKey(tenant="acme", scopes=["admin"])}
    settings.api.key_cache_ttl_s = 5
    wh = Warehouse.open(settings.warehouse_dsn, settings.warehouse.database)
    migrate(wh)
    wall, mono = Clock(T0), Clock(50.0)
    a, b = Process(settings, wh, wall, mono), Process(settings, wh, wall, mono)
    yield a, b, wh, wall, mono
    for p in (a, b):
        await p.client.aclose()
    wh.command(f"DROP DATABASE IF EXISTS {wh.database}")


async def _create(p: Process, **body) -> dict:
    r = await p.client.post("/v1/api-keys", headers=_auth(ADMIN), json={"name": "n", "scopes": ["read"], **body})
    assert r.status_code == 201, r.text
    return r.json()


async def test_a_key_expires_at_its_time_on_the_pinned_clock(stack) -> None:
    a, _, _, wall, _ = stack
    r = await a.client.post("/v1/api-keys", headers=_auth(ADMIN),
                            json={"name": "n", "scopes": ["read"], "expires_at": "2026-11-03T09:59:59Z"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "expires_at"]
    key = await _create(a, expires_at="2026-11-03T10:01:00Z")
    assert key["expires_at"] == "2026-11-03T10:01:00Z" and key["created_at"] == T0_ISO and key["state"] == "active"
    wall.t = T0 + 59.999
    assert (await a.client.get("/v1/whoami", headers=_auth(key["key"]))).status_code == 200
    wall.t = T0 + 60
    r = await a.client.get("/v1/whoami", headers=_auth(key["key"]))
    assert (r.status_code, r.json(), r.headers["www-authenticate"]) == (401, {"detail": "API key expired"}, "Bearer")
    listed = (await a.client.get("/v1/api-keys", headers=_auth(ADMIN))).json()["data"]
    assert [(k["key_id"], k["state"]) for k in listed] == [(key["key_id"], "expired")]
    r = await a.client.post(f"/v1/api-keys/{key['key_id']}/rotate", headers=_auth(ADMIN))
    assert (r.status_code, r.json()["detail"]) == (409, "API key expired: create a new key instead")


async def test_over_its_rate_a_key_gets_429_with_retry_after_and_the_metric_counts_it(stack) -> None:
    a, _, _, _, mono = stack
    key = (await _create(a, rate_per_s=0.5, burst=2))["key"]
    before = metrics.API_RATE_LIMITED._value.get()
    assert [(await a.client.get("/v1/whoami", headers=_auth(key))).status_code for _ in range(2)] == [200, 200]
    r = await a.client.get("/v1/whoami", headers=_auth(key))
    assert r.status_code == 429 and r.headers["retry-after"] == "2"  # one token at 0.5/s: 2 s
    assert r.json() == {"detail": "rate limit of this API key exceeded; retry after 2 s"}
    assert metrics.API_RATE_LIMITED._value.get() == before + 1
    assert (await a.client.get("/v1/whoami", headers=_auth(ADMIN))).status_code == 200  # other keys unaffected
    mono.t += 1.5
    r = await a.client.get("/v1/whoami", headers=_auth(key))
    assert r.status_code == 429 and r.headers["retry-after"] == "1"  # 0.25 token missing: 0.5 s, rounded up
    mono.t += 0.5
    assert (await a.client.get("/v1/whoami", headers=_auth(key))).status_code == 200
    assert metrics.API_RATE_LIMITED._value.get() == before + 2


async def test_a_revocation_is_immediate_here_and_within_the_cache_ttl_in_another_process(stack) -> None:
    a, b, _, _, mono = stack
    key = await _create(a)
    assert (await b.client.get("/v1/whoami", headers=_auth(key["key"]))).status_code == 200  # b caches it
    assert (await a.client.delete(f"/v1/api-keys/{key['key_id']}", headers=_auth(ADMIN))).status_code == 204
    r = await a.client.get("/v1/whoami", headers=_auth(key["key"]))
    assert (r.status_code, r.json()["detail"]) == (401, "API key revoked")
    mono.t += 4.9  # b trusts what it read for api.key_cache_ttl_s = 5 s ...
    assert (await b.client.get("/v1/whoami", headers=_auth(key["key"]))).status_code == 200
    mono.t += 0.1  # ... and no longer
    r = await b.client.get("/v1/whoami", headers=_auth(key["key"]))
    assert (r.status_code, r.json()["detail"]) == (401, "API key revoked")


async def test_last_use_is_written_in_batches_by_flush(stack, monkeypatch) -> None:
    a, b, wh, wall, _ = stack
    key = await _create(a)
    inserts: list[str] = []
    real = wh.ainsert
    monkeypatch.setattr(wh, "ainsert", lambda table, *args, **kw: inserts.append(table) or real(table, *args, **kw))
    for i in range(5):
        wall.t = T0 + i
        assert (await a.client.get("/v1/whoami", headers=_auth(key["key"]))).status_code == 200
    wall.t = T0 + 10
    assert (await b.client.get("/v1/whoami", headers=_auth(key["key"]))).status_code == 200
    assert inserts == []  # no warehouse write per request
    listed = (await a.client.get("/v1/api-keys", headers=_auth(ADMIN))).json()["data"]
    assert listed[0]["last_used_at"] is None
    assert await b.keys.flush() == 1 and await a.keys.flush() == 1  # b's later use first: the latest still wins
    assert inserts == ["api_key_usage", "api_key_usage"]
    listed = (await a.client.get("/v1/api-keys", headers=_auth(ADMIN))).json()["data"]
    assert listed[0]["last_used_at"] == "2026-11-03T10:00:10Z"
    assert await a.keys.flush() == 0


async def test_dead_letter_replay_and_case_actions_are_audited(stack) -> None:
    a, _, wh, _, _ = stack
    actor = settings_key_id(ADMIN)
    r = await a.client.post("/v1/webhooks", headers=_auth(ADMIN), json={
        "url": "http://127.0.0.1:9/hook", "event_types": ["cx.alert.firing.v1"]})
    wid = r.json()["id"]
    await q.put_dead_letter(wh, q.DeadLetterRow("acme", "msg_1", wid, "e1", "cx.alert.firing.v1", b"{}", 2, 500,
                                                "HTTP 500", T0, "dead"))
    assert (await a.client.post("/v1/webhooks/deliveries/msg_1/replay", headers=_auth(ADMIN))).status_code == 202
    await cq.insert_case(wh, Case(tenant="acme", id="case-1", response_key="rk", response_id="r1", customer="c",
                                  scope={}, owner="", severity="high", reasons=("nps",), opened_at_ms=1, due_at_ms=2))
    assert (await a.client.post("/v1/cases/case-1/ack", headers=_auth(ADMIN), json={"by": "ann"})).status_code == 200
    r = await a.client.post("/v1/cases/case-1/close", headers=_auth(ADMIN),
                            json={"resolution": "called Jane Doe back", "by": "ann"})
    assert r.status_code == 200, r.text
    got = [(e.actor, e.action, e.target, e.details) for e in reversed(await audit_entries(wh, "acme"))]
    assert got == [
        (actor, "webhook.create", wid, {"host": "127.0.0.1", "event_types": ["cx.alert.firing.v1"],
                                        "format": "cloudevents"}),
        (actor, "dead_letter.replay", "msg_1", {"subscription_id": wid}),
        (actor, "case.ack", "case-1", {}),
        (actor, "case.close", "case-1", {}),
    ]


async def test_a_rotation_grace_keeps_the_old_key_until_its_end(stack) -> None:
    a, _, _, wall, _ = stack
    old = await _create(a, rate_per_s=3.0, burst=4, expires_at="2026-12-01T00:00:00Z")
    r = await a.client.post(f"/v1/api-keys/{old['key_id']}/rotate", headers=_auth(ADMIN), json={"grace_s": 30})
    assert r.status_code == 201
    new = r.json()
    assert new["key_id"] != old["key_id"] and new["key"] != old["key"]
    assert {k: new[k] for k in ("name", "scopes", "expires_at", "rate_per_s", "burst", "state", "revoked_at")} == \
        {"name": "n", "scopes": ["read"], "expires_at": "2026-12-01T00:00:00Z", "rate_per_s": 3.0, "burst": 4,
         "state": "active", "revoked_at": None}
    wall.t = T0 + 29.999
    assert (await a.client.get("/v1/whoami", headers=_auth(old["key"]))).status_code == 200
    wall.t = T0 + 30
    r = await a.client.get("/v1/whoami", headers=_auth(old["key"]))
    assert (r.status_code, r.json()["detail"]) == (401, f"API key revoked (rotated to {new['key_id']})")
    assert (await a.client.get("/v1/whoami", headers=_auth(new["key"]))).status_code == 200
    listed = {k["key_id"]: k for k in (await a.client.get("/v1/api-keys", headers=_auth(ADMIN))).json()["data"]}
    assert (listed[old["key_id"]]["revoked_at"], listed[old["key_id"]]["rotated_to"]) == \
        ("2026-11-03T10:00:30Z", new["key_id"])
    r = await a.client.post("/v1/api-keys/0123456789abcdef/rotate", headers=_auth(ADMIN))
    assert (r.status_code, r.json()["detail"]) == (404, "no API key '0123456789abcdef'")
    r = await a.client.post(f"/v1/api-keys/{new['key_id']}/rotate", headers=_auth(ADMIN), json={"grace_s": -1})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "grace_s"]


async def test_the_flusher_writes_on_its_interval_and_once_more_when_cancelled(stack) -> None:
    import asyncio

    a, _, wh, wall, _ = stack
    key = await _create(a)
    a.keys.api.key_last_used_flush_s = 3600  # only the final flush can write
    task = asyncio.create_task(a.keys.run_flusher())
    await asyncio.sleep(0)
    wall.t = T0 + 7
    assert (await a.client.get("/v1/whoami", headers=_auth(key["key"]))).status_code == 200
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    rows = wh.query("SELECT tenant, key_id, last_used_at_ms FROM api_key_usage").result_rows
    assert rows == [("acme", key["key_id"], int((T0 + 7) * 1000))]


async def test_settings_keys_still_work_even_shaped_like_stored_ones(stack) -> None:
    a, _, _, _, _ = stack
    lookalike = "cxp_globex_" + "0" * 16 + "_" + "f" * 64
    a.keys.api.keys[lookalike] = ApiKey(tenant="globex", scopes=["read"])
    r = await a.client.get("/v1/whoami", headers=_auth(lookalike))
    assert r.json() == {"tenant": "globex", "scopes": ["read"]}
    r = await a.client.get("/v1/whoami", headers=_auth(lookalike[:-1] + "e"))
    assert (r.status_code, r.json()["detail"]) == (401, "unknown API key")
    r = await a.client.get("/v1/whoami", headers=_auth(ADMIN))
    assert r.json() == {"tenant": "acme", "scopes": ["admin"]}
    r = await a.client.get("/v1/whoami")
    assert (r.status_code, r.json()["detail"]) == (401, "missing bearer API key")


async def test_a_tenant_has_at_most_max_keys_per_tenant_usable_keys(stack) -> None:
    a, _, _, wall, _ = stack
    a.keys.api.max_keys_per_tenant = 2
    first = await _create(a)
    await _create(a, expires_at="2026-11-03T10:00:01Z")
    r = await a.client.post("/v1/api-keys", headers=_auth(ADMIN), json={"name": "n", "scopes": ["read"]})
    assert (r.status_code, r.json()["detail"]) == (
        409, "this tenant has 2 usable API keys, the most api.max_keys_per_tenant allows; revoke one first")
    assert (await a.client.delete(f"/v1/api-keys/{first['key_id']}", headers=_auth(ADMIN))).status_code == 204
    await _create(a)
    r = await a.client.post("/v1/api-keys", headers=_auth(ADMIN), json={"name": "n", "scopes": ["read"]})
    assert r.status_code == 409
    wall.t = T0 + 1  # the second one expired: it no longer counts
    await _create(a)
