"""Tenant isolation, route by route: tenant A's key never reaches tenant B's data.

Two tenants get the same data through the real pipeline (events posted and counted, a case
opened by a detractor, an alert rule fired by the evaluator, its notification delivered to a
webhook receiver that refuses it, so there are attempts and a dead letter) plus a silence, a
target and audit entries. Then every operation of the OpenAPI document is called with A's key
on B's ids and filters (``ROUTES`` says how; a route missing from it fails the test, so a new
route must say how it is scoped): no response to A holds anything of B (``bbeta`` marks every
value of B, and B's generated ids are collected), B's ids answer 404, B's filters give zero rows,
writes with B's ids create A's own resources and leave B's as they were. A's own data is read
back through the same routes, so an empty answer cannot pass for isolation.
"""
from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import orjson
import pytest
from aiohttp import web

from core.settings import ApiKey, AspectConfig
from tests.e2e.test_sse_stream import SseReader
from tests.e2e.two_tenants import A, B, BATCH, KEYS, Tenant, auth, collect, iso_time, populate, tenant_events

pytestmark = pytest.mark.e2e


@pytest.fixture
def settings(settings):
    for tenant, key in KEYS.items():
        settings.api.keys[key] = ApiKey(tenant=tenant, scopes=["ingest", "read", "admin"])
    settings.alerts.evaluate_every_s = 0.5
    settings.cases.batch_within_s = 0.2
    settings.webhooks.subscription_cache_ttl_s = 0.1  # deliveries see a new subscription at once
    settings.aspects = {"wait_time": AspectConfig(label="Wait time")}  # the deployment's, listed to every tenant
    return settings


@pytest.fixture
async def refusing_receiver():
    """A webhook receiver on loopback that refuses everything (400): each delivery becomes a dead letter."""
    calls: list[bytes] = []

    async def handle(request: web.Request) -> web.Response:
        calls.append(await request.read())
        return web.Response(status=400, text="no")

    app = web.Application()
    app.router.add_post("/{tenant}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}", calls
    await runner.cleanup()


@dataclass
class Call:
    method: str
    url: str
    params: dict[str, str] | None = None
    json: Any = None
    expect: int = 200
    #: a check of the JSON answer (A's own data, B's filter giving no rows)
    check: Callable[[Any], bool] | None = None
    #: the answer is A's own resource named with B's id (a write): no marker check
    own: bool = False
    content: bytes | None = None
    headers: dict[str, str] | None = None


def _none(body: dict) -> bool:
    return body["count"] == 0 and body["data"] == []


def _no_n(body: dict) -> bool:
    return all(p["n"] == 0 for p in body["data"])


def _has(count: int) -> Callable[[dict], bool]:
    return lambda body: body["count"] == count


def _csv_rows(text: str) -> int:
    return len([line for line in text.splitlines() if line]) - 1  # minus the header


#: How to call each operation of the document with A's key on B's ids and filters. ``a`` is A, ``b`` is B.
ROUTES: dict[tuple[str, str], Callable[[Tenant, Tenant], list[Call]]] = {
    ("POST", "/v1/events"): lambda a, b: [  # B's event ids are A's own: not duplicates of B's
        Call("POST", "/v1/events", content=orjson.dumps(tenant_events(b.tag, datetime.now(timezone.utc))[:1]),
             headers=BATCH, expect=202, own=True,
             check=lambda r: r == {"accepted": 1, "duplicates": 0, "rejected": []})],
    ("GET", "/v1/kpis"): lambda a, b: [
        Call("GET", "/v1/kpis", {"metric": "volume", "window": "1h", "team": b.team}, check=_no_n),
        Call("GET", "/v1/kpis", {"metric": "volume", "window": "1h", "group_by": "team"},
             check=lambda r: {p["group"]["team"] for p in r["data"] if p["n"]} == {a.team})],
    ("GET", "/v1/kpis/weighted"): lambda a, b: [
        Call("GET", "/v1/kpis/weighted", {"metric": "nps", "window": "1h", "team": b.team}, check=_no_n),
        Call("GET", "/v1/kpis/weighted", {"metric": "nps", "window": "1h", "group_by": "team"},
             check=lambda r: sum(p["n"] for p in r["data"]) == 3)],
    # The deployment's configured aspects: the same list for every tenant, nothing of B's.
    ("GET", "/v1/aspects"): lambda a, b: [
        Call("GET", "/v1/aspects", check=lambda r: [x["name"] for x in r["data"]] == ["wait_time"])],
    # The two tenants' answers rate no aspect (one is configured, none rated): B's filter gives no driver, and
    # the driver SQL is scoped like the weighted read (tests/integration/test_drivers_api.py checks its values).
    ("GET", "/v1/drivers"): lambda a, b: [
        Call("GET", "/v1/drivers", {"metric": "nps", "team": b.team}, check=_none)],
    ("GET", "/v1/responses"): lambda a, b: [
        Call("GET", "/v1/responses", {"team": b.team}, check=_none),
        Call("GET", "/v1/responses", {"metric": "nps"}, check=_has(3))],
    ("GET", "/v1/touchpoints"): lambda a, b: [
        Call("GET", "/v1/touchpoints", {"team": b.team}, check=_none),
        Call("GET", "/v1/touchpoints", check=_has(3))],
    ("GET", "/v1/responses/export"): lambda a, b: [
        Call("GET", "/v1/responses/export", {"team": b.team}, check=lambda t: _csv_rows(t) == 0),
        Call("GET", "/v1/responses/export", check=lambda t: _csv_rows(t) == 3)],
    ("GET", "/v1/touchpoints/export"): lambda a, b: [
        Call("GET", "/v1/touchpoints/export", {"team": b.team, "format": "csv"}, check=lambda t: _csv_rows(t) == 0),
        Call("GET", "/v1/touchpoints/export", {"format": "csv"}, check=lambda t: _csv_rows(t) == 3)],
    ("GET", "/v1/gaps"): lambda a, b: [
        Call("GET", "/v1/gaps", {"metric": "nps", "team": b.team, "significant_only": "false"},
             check=lambda r: all(g["observed"]["n"] == 0 for g in r["data"])),
        Call("GET", "/v1/gaps", {"metric": "nps", "dimension": "team", "significant_only": "false"})],
    ("GET", "/v1/panel/quality"): lambda a, b: [
        Call("GET", "/v1/panel/quality", {"team": b.team}, check=lambda r: [g["answers"] for g in r["data"]] == [0]),
        Call("GET", "/v1/panel/quality", {"group_by": "team"},
             check=lambda r: [(g["group"], g["answers"]) for g in r["data"]] == [({"team": a.team}, 3)])],
    ("GET", "/v1/invitations/check"): lambda a, b: [  # B's customer id is another pseudonym in A
        Call("GET", "/v1/invitations/check", {"customer_id": f"{b.tag}-cust-1"},
             check=lambda r: [x["count"] for x in r["rules"]] == [0, 0, None] and r["allowed"]),
        Call("GET", "/v1/invitations/check", {"customer_id": f"{a.tag}-cust-1"},
             check=lambda r: r["rules"][0]["count"] == 1)],
    ("PUT", "/v1/opt-outs/{customer_id}"): lambda a, b: [
        Call("PUT", f"/v1/opt-outs/{b.tag}-cust-2", own=True, check=lambda r: r["opted_out"] is True)],
    ("DELETE", "/v1/opt-outs/{customer_id}"): lambda a, b: [
        Call("DELETE", f"/v1/opt-outs/{b.tag}-cust-3", expect=404)],
    ("GET", "/v1/targets"): lambda a, b: [
        Call("GET", "/v1/targets", check=lambda r: [t["scope"] for t in r["data"]] == [{"team": a.team}])],
    ("PUT", "/v1/targets"): lambda a, b: [
        Call("PUT", "/v1/targets", json={"metric": "nps", "scope": {"team": b.team}, "value": 10,
                                         "valid_from": "2026-01-01T00:00:00Z"}, own=True)],
    ("DELETE", "/v1/targets"): lambda a, b: [
        Call("DELETE", "/v1/targets", {"metric": "nps", "team": b.team, "valid_from": "2020-01-01T00:00:00Z"},
             expect=404)],
    ("GET", "/v1/alert-rules"): lambda a, b: [
        Call("GET", "/v1/alert-rules", check=lambda r: [x["id"] for x in r["data"]] == [a.rule])],
    ("POST", "/v1/alert-rules"): lambda a, b: [  # not 409: B's rule id is free in A
        Call("POST", "/v1/alert-rules", json={"id": b.rule, "name": "mine", "metric": "nps", "condition": "below",
                                              "threshold": 0}, expect=201, own=True),
        Call("DELETE", f"/v1/alert-rules/{b.rule}", expect=204, own=True)],
    ("GET", "/v1/alert-rules/{rule_id}"): lambda a, b: [Call("GET", f"/v1/alert-rules/{b.rule}", expect=404)],
    ("PUT", "/v1/alert-rules/{rule_id}"): lambda a, b: [  # 201, not 200: A has no rule of that id
        Call("PUT", f"/v1/alert-rules/{b.rule}", {"dry_run": "true"}, expect=201, own=True,
             json={"name": "mine", "metric": "nps", "condition": "below", "threshold": 0})],
    ("DELETE", "/v1/alert-rules/{rule_id}"): lambda a, b: [Call("DELETE", f"/v1/alert-rules/{b.rule}", expect=404)],
    ("GET", "/v1/alerts"): lambda a, b: [
        Call("GET", "/v1/alerts", check=lambda r: {x["rule_id"] for x in r["data"]} == {a.rule}),
        Call("GET", "/v1/alerts", {"rule_id": b.rule}, check=_none),
        Call("GET", "/v1/alerts", {"current": "true"}, check=lambda r: {x["rule_id"] for x in r["data"]} == {a.rule}),
        Call("GET", "/v1/alerts", {"current": "true", "rule_id": b.rule}, check=_none)],
    ("POST", "/v1/silences"): lambda a, b: [
        Call("POST", "/v1/silences", json={"rule_id": b.rule, "ends_at": iso_time(datetime.now(timezone.utc)
                                                                              + timedelta(minutes=5))},
             expect=201, own=True)],
    ("GET", "/v1/silences"): lambda a, b: [
        Call("GET", "/v1/silences", check=lambda r: [s["id"] for s in r["data"]] == [a.silence])],
    ("DELETE", "/v1/silences/{silence_id}"): lambda a, b: [Call("DELETE", f"/v1/silences/{b.silence}", expect=404)],
    ("GET", "/v1/webhooks"): lambda a, b: [
        Call("GET", "/v1/webhooks", check=lambda r: [w["id"] for w in r["data"]] == [a.webhook])],
    ("POST", "/v1/webhooks"): lambda a, b: [
        Call("POST", "/v1/webhooks", json={"url": "http://127.0.0.1:9/x", "event_types": ["cx.case.*"]},
             expect=201, own=True)],
    ("GET", "/v1/webhooks/{webhook_id}"): lambda a, b: [Call("GET", f"/v1/webhooks/{b.webhook}", expect=404)],
    ("PATCH", "/v1/webhooks/{webhook_id}"): lambda a, b: [
        Call("PATCH", f"/v1/webhooks/{b.webhook}", json={"enabled": False}, expect=404)],
    ("DELETE", "/v1/webhooks/{webhook_id}"): lambda a, b: [Call("DELETE", f"/v1/webhooks/{b.webhook}", expect=404)],
    ("GET", "/v1/webhooks/{webhook_id}/deliveries"): lambda a, b: [
        Call("GET", f"/v1/webhooks/{b.webhook}/deliveries", expect=404),
        Call("GET", f"/v1/webhooks/{a.webhook}/deliveries", {"delivery_id": b.deliveries[0]}, check=_none)],
    ("GET", "/v1/webhooks/{webhook_id}/dead-letters"): lambda a, b: [
        Call("GET", f"/v1/webhooks/{b.webhook}/dead-letters", expect=404),
        Call("GET", f"/v1/webhooks/{a.webhook}/dead-letters", check=_has(len(a.dead)))],
    ("POST", "/v1/webhooks/deliveries/{delivery_id}/replay"): lambda a, b: [
        Call("POST", f"/v1/webhooks/deliveries/{d}/replay", expect=404) for d in b.dead],
    ("GET", "/v1/stream"): lambda a, b: [],  # read as a stream: _probe_stream
    ("GET", "/v1/cases"): lambda a, b: [
        Call("GET", "/v1/cases", check=lambda r: sorted(c["id"] for c in r["data"]) == sorted(a.cases)),
        Call("GET", "/v1/cases", {"state": "open"}, check=_has(len(a.cases)))],
    ("GET", "/v1/cases/stats"): lambda a, b: [
        Call("GET", "/v1/cases/stats", check=lambda r: r["opened"] == len(a.cases))],
    ("GET", "/v1/cases/{case_id}"): lambda a, b: [Call("GET", f"/v1/cases/{c}", expect=404) for c in b.cases],
    ("POST", "/v1/cases/{case_id}/ack"): lambda a, b: [
        Call("POST", f"/v1/cases/{c}/ack", json={"by": "a-admin"}, expect=404) for c in b.cases],
    ("POST", "/v1/cases/{case_id}/close"): lambda a, b: [
        Call("POST", f"/v1/cases/{c}/close", json={"resolution": "not yours", "by": "a-admin"}, expect=404)
        for c in b.cases],
    ("GET", "/v1/audit"): lambda a, b: [  # A's own admin actions of populate(), each audited by its route
        Call("GET", "/v1/audit", check=lambda r: {a.webhook, a.rule, a.silence, a.api_key, a.erasure}
             <= {e["target"] for e in r["data"]}),
        Call("GET", "/v1/audit", {"target": b.rule}, check=_none)],
    ("GET", "/v1/api-keys"): lambda a, b: [
        Call("GET", "/v1/api-keys", check=lambda r: [k["key_id"] for k in r["data"]] == [a.api_key])],
    ("POST", "/v1/api-keys"): lambda a, b: [
        Call("POST", "/v1/api-keys", json={"name": "mine", "scopes": ["read"]}, expect=201, own=True),
        Call("POST", "/v1/api-keys", json={"name": "theirs", "scopes": ["read"], "tenant": b.tag}, expect=403)],
    ("POST", "/v1/api-keys/{key_id}/rotate"): lambda a, b: [
        Call("POST", f"/v1/api-keys/{b.api_key}/rotate", expect=404)],
    ("DELETE", "/v1/api-keys/{key_id}"): lambda a, b: [Call("DELETE", f"/v1/api-keys/{b.api_key}", expect=404)],
    ("POST", "/v1/erasures"): lambda a, b: [  # B's customer id is another pseudonym in A: nothing of B goes
        # (cust-1: POST /v1/events above gave A an event of its own with B's cust-0)
        Call("POST", "/v1/erasures", json={"customer_id": f"{b.tag}-cust-1"}, own=True,
             check=lambda r: r["status"] == "done" and set(r["counts"].values()) == {0})],
    ("GET", "/v1/erasures/{erasure_id}"): lambda a, b: [Call("GET", f"/v1/erasures/{b.erasure}", expect=404)],
    ("GET", "/v1/outcomes"): lambda a, b: [
        Call("GET", "/v1/outcomes", {"team": b.team}, check=_none),
        Call("GET", "/v1/outcomes", {"group_by": "team,product,nps_category"},
             check=lambda r: [(g["group"], g["customers"]) for g in r["data"]] == [
                 ({"team": a.team, "product": f"{a.tag}-product", "nps_category": "detractor"}, 3)])],
    ("GET", "/v1/costs"): lambda a, b: [
        Call("GET", "/v1/costs", check=lambda r: [c["note"] for c in r["data"]] == [f"{a.tag} program"])],
    ("PUT", "/v1/costs"): lambda a, b: [  # a month of A's own, named like nothing of B's
        Call("PUT", "/v1/costs", json={"costs": [{"period": "2020-01", "amount": 1, "currency": "EUR"}]},
             check=lambda r: {c["period"] for c in r["data"]} >= {"2020-01"} and len(r["data"]) == 2)],
    ("GET", "/v1/roi"): lambda a, b: [
        Call("GET", "/v1/roi", {"from": iso_time(datetime.now(timezone.utc) - timedelta(days=1)),
                                "to": iso_time(datetime.now(timezone.utc) + timedelta(minutes=5))},
             check=lambda r: r["customers"] == 3 and r["cost"] > 0)],
    ("GET", "/healthz"): lambda a, b: [Call("GET", "/healthz")],
    ("GET", "/readyz"): lambda a, b: [Call("GET", "/readyz")],
    ("GET", "/metrics"): lambda a, b: [Call("GET", "/metrics")],
    ("GET", "/v1/status"): lambda a, b: [
        Call("GET", "/v1/status", check=lambda r: [t["tenant"] for t in r["tenants"]] == [a.tag])],
    ("GET", "/v1/whoami"): lambda a, b: [Call("GET", "/v1/whoami", check=lambda r: r["tenant"] == a.tag)],
}


def _leaks(text: str, b: Tenant, sent: set[str] = frozenset()) -> list[str]:
    """B's markers in ``text`` once the values A sent are cut out (404 messages and `filters` echo them)."""
    for value in sorted(sent, key=len, reverse=True):
        text = text.replace(value, "")
    return [m for m in b.markers() if m and m in text]


def _sent(call: Call) -> set[str]:
    def leaves(v: Any):
        if isinstance(v, dict):
            for x in v.values():
                yield from leaves(x)
        elif isinstance(v, list):
            for x in v:
                yield from leaves(x)
        elif isinstance(v, str):
            yield v
    return {x for x in [*call.url.split("/"), *leaves(call.params or {}), *leaves(call.json)] if x}


async def _call(client: httpx.AsyncClient, a: Tenant, b: Tenant, call: Call, problems: list[str]) -> None:
    resp = await client.request(call.method, call.url, params=call.params, json=call.json, content=call.content,
                                headers={**auth(a.tag), **(call.headers or {})})
    what = f"{call.method} {call.url} {call.params or ''}"
    if resp.status_code != call.expect:
        problems.append(f"{what}: {resp.status_code} (expected {call.expect}) {resp.text[:300]}")
        return
    if not call.own and (leaked := _leaks(resp.text, b, _sent(call))):
        problems.append(f"{what}: B's {leaked} in {resp.text[:500]}")
    if call.check is not None:
        body = resp.json() if "json" in resp.headers.get("content-type", "") else resp.text
        if not call.check(body):
            problems.append(f"{what}: unexpected answer {resp.text[:500]}")


async def _probe_stream(client: httpx.AsyncClient, a: Tenant, b: Tenant, problems: list[str]) -> None:
    """A's stream, unfiltered and on B's team: A's own alert and KPIs, nothing of B."""
    for params, own in (({"metric": "volume", "window": "1h", "interval": "0.5"}, True),
                        ({"metric": "volume", "window": "1h", "interval": "0.5", "team": b.team}, False)):
        sse = SseReader(client, params, headers=auth(a.tag))
        try:
            if own:  # the first poll pushes every non-empty bucket; its `id` is A's newest alert
                first = await sse.wait_for(lambda ev: ev.get("event") == "kpi", "a kpi frame", timeout=30)
                if first["id"].split(":")[1] not in a.fingerprints:
                    problems.append(f"GET /v1/stream {params}: event id {first['id']} is not A's alert")
            await asyncio.sleep(2)  # a few more polls
        finally:
            await sse.close()
        text = orjson.dumps([sse.events, sse.comments]).decode()
        if leaked := _leaks(text, b, set(params.values())):
            problems.append(f"GET /v1/stream {params}: B's {leaked} in {text[:500]}")
        kpi_n = sum(p.get("n", 0) for ev in sse.events if ev.get("event") == "kpi"
                    for p in (ev["data"].get("data") or [ev["data"]]))
        if not own and kpi_n:
            problems.append(f"GET /v1/stream {params}: KPI frames with n={kpi_n} on B's team")


async def test_every_route_keeps_tenants_apart(stack: httpx.AsyncClient, settings, refusing_receiver) -> None:
    receiver_url, _ = refusing_receiver
    now = datetime.now(timezone.utc)
    a, b = Tenant(A), Tenant(B)
    for t in (a, b):
        await populate(stack, settings, t, receiver_url, now)
    for t in (a, b):
        await collect(stack, t)
    before = {path: (await stack.get(path, headers=auth(B))).json() for path in (
        "/v1/alert-rules", "/v1/silences", "/v1/webhooks", "/v1/targets", "/v1/cases", "/v1/api-keys",
        f"/v1/webhooks/{b.webhook}/dead-letters")}

    doc = (await stack.get("/openapi.json")).json()
    operations = {(m.upper(), p) for p, methods in doc["paths"].items() for m in methods}
    assert operations - set(ROUTES) == set(), "routes the isolation table does not know: add them to ROUTES"
    assert set(ROUTES) - operations == set(), "ROUTES names operations the document no longer has"

    problems: list[str] = []
    # Reads first: A's writes below create A's own resources (and events) under B's ids and values.
    for key in [k for k in ROUTES if k[0] == "GET"]:
        for call in ROUTES[key](a, b):
            await _call(stack, a, b, call, problems)
    await _probe_stream(stack, a, b, problems)
    for key in [k for k in ROUTES if k[0] != "GET"]:
        for call in ROUTES[key](a, b):
            await _call(stack, a, b, call, problems)
    board = await stack.get("/board/", headers=auth(A))  # static: the bundle, or 503 when it is not built
    if _leaks(board.text, b):
        problems.append("/board/ shows B's data")
    assert problems == [], "\n".join(problems)

    after = {path: (await stack.get(path, headers=auth(B))).json() for path in before}
    for path, body in before.items():
        if path == "/v1/webhooks" or path == "/v1/alert-rules":
            assert [x["id"] for x in after[path]["data"]] == [x["id"] for x in body["data"]], path
        else:
            assert after[path] == body, f"A's calls changed B's {path}"
