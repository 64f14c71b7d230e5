"""Two tenants with the same data, made through the running stack (``tests/e2e/test_tenant_isolation.py``)."""
from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
import orjson


KEYS = {"aacme": "isolation-key-aacme", "bbeta": "isolation-key-bbeta"}
A, B = "aacme", "bbeta"
BATCH = {"Content-Type": "application/cloudevents-batch+json"}


def auth(tenant: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {KEYS[tenant]}"}


def iso_time(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def tenant_events(tag: str, now: datetime) -> list[dict]:
    """Three contacts on chat in team ``{tag}-team``, an invitation and a detractor answer for each."""
    out = []
    for i in range(3):
        t = iso_time(now - timedelta(minutes=10, seconds=i))
        dims = {"channel": "chat", "team": f"{tag}-team", "queue": f"{tag}-queue"}
        out += [
            {"specversion": "1.0", "id": f"{tag}-tp-{i}", "source": f"/{tag}/pbx", "type": "cx.touchpoint.v1",
             "time": t, "subject": f"{tag}-subject", "data": {"interaction_id": f"{tag}-int-{i}",
                                                              "customer_id": f"{tag}-cust-{i}", **dims}},
            {"specversion": "1.0", "id": f"{tag}-si-{i}", "source": f"/{tag}/survey", "time": t,
             "type": "cx.survey.invitation.v1",
             "data": {"interaction_id": f"{tag}-int-{i}", "customer_id": f"{tag}-cust-{i}", "survey_id": f"{tag}-s"}},
            {"specversion": "1.0", "id": f"{tag}-sr-{i}", "source": f"/{tag}/survey", "time": t,
             "type": "cx.survey.response.v1",
             "data": {"interaction_id": f"{tag}-int-{i}", "customer_id": f"{tag}-cust-{i}", "survey_id": f"{tag}-s",
                      "answers": {"nps": 2, "csat": 1}, "comment": f"{tag} was not happy", "weight": 1.5}},
        ]
    return out


def tenant_outcomes(tag: str, now: datetime) -> list[dict]:
    """A renewal of each of the three customers of ``tenant_events``, after their answer."""
    return [{"specversion": "1.0", "id": f"{tag}-o-{i}", "source": f"/{tag}/crm", "type": "cx.outcome.v1",
             "time": iso_time(now - timedelta(minutes=5, seconds=i)),
             "data": {"customer_id": f"{tag}-cust-{i}", "kind": "renewal", "amount": 100 + i, "currency": "EUR",
                      "product": f"{tag}-product", "team": f"{tag}-team"}} for i in range(3)]


def cost_month(now: datetime) -> str:
    return f"{now.year:04d}-{now.month:02d}"


@dataclass
class Tenant:
    """What one tenant created, and its ids that the server generated."""

    tag: str
    webhook: str = ""
    rule: str = ""
    silence: str = ""
    cases: list[str] = field(default_factory=list)
    deliveries: list[str] = field(default_factory=list)
    dead: list[str] = field(default_factory=list)
    fingerprints: set[str] = field(default_factory=set)
    api_key: str = ""
    erasure: str = ""

    @property
    def team(self) -> str:
        return f"{self.tag}-team"

    def markers(self) -> list[str]:
        return [self.tag, self.webhook, self.silence, *self.cases, *self.deliveries, *self.dead, *self.fingerprints,
                self.api_key, self.erasure]


async def _until(what: str, probe: Callable[[], Any], timeout: float = 180) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    seen: list = []
    while True:
        got = await probe(seen)
        if got:
            return got
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}; last seen {seen[-1:]}"
        await asyncio.sleep(0.3)


async def populate(client: httpx.AsyncClient, settings, tenant: Tenant, receiver_url: str, now: datetime) -> None:
    tag, h = tenant.tag, auth(tenant.tag)
    sub = await client.post("/v1/webhooks", headers=h, json={
        "url": f"{receiver_url}/{tag}", "event_types": ["*"], "description": f"{tag} hook"})
    assert sub.status_code == 201, sub.text
    tenant.webhook = sub.json()["id"]
    r = await client.put(f"/v1/alert-rules/{tag}-rule", headers=h, json={
        "name": f"{tag} volume", "metric": "volume", "scope": {"team": tenant.team}, "window": "24h",
        "condition": "above", "threshold": 0, "min_n": 1, "for_s": 0, "routes": [tenant.webhook],
        "labels": {"owner": f"{tag}-owner"}})
    assert r.status_code == 201, r.text
    tenant.rule = f"{tag}-rule"
    s = await client.post("/v1/silences", headers=h, json={
        "matchers": {"team": f"{tag}-other-team"}, "ends_at": iso_time(now + timedelta(hours=1)),
        "comment": f"{tag} maintenance", "created_by": f"{tag}-admin"})
    assert s.status_code == 201, s.text
    tenant.silence = s.json()["id"]
    t = await client.put("/v1/targets", headers=h, json={
        "metric": "nps", "scope": {"team": tenant.team}, "value": 40, "valid_from": iso_time(now - timedelta(days=1))})
    assert t.status_code == 200, t.text
    k = await client.post("/v1/api-keys", headers=h, json={"name": f"{tag} bot", "scopes": ["read"]})
    assert k.status_code == 201, k.text
    tenant.api_key = k.json()["key_id"]
    e = await client.post("/v1/erasures", headers=h, json={"customer_id": f"{tag}-nobody"})
    assert e.status_code == 200 and e.json()["status"] == "done", e.text
    tenant.erasure = e.json()["id"]
    # Last: the subscription exists when the cases these events open are notified.
    resp = await client.post("/v1/events", content=orjson.dumps(tenant_events(tag, now)), headers={**h, **BATCH})
    assert resp.json() == {"accepted": 9, "duplicates": 0, "rejected": []}, resp.text
    resp = await client.post("/v1/events", content=orjson.dumps(tenant_outcomes(tag, now)), headers={**h, **BATCH})
    assert resp.json() == {"accepted": 3, "duplicates": 0, "rejected": []}, resp.text
    c = await client.put("/v1/costs", headers=h, json={"costs": [
        {"period": cost_month(now), "amount": 1000, "currency": "EUR", "note": f"{tag} program"}]})
    assert c.status_code == 200, c.text


async def collect(client: httpx.AsyncClient, tenant: Tenant) -> None:
    """Wait until the pipeline made everything of the tenant, and note the ids it generated."""
    h = auth(tenant.tag)

    async def counted(seen):
        r = (await client.get("/v1/touchpoints", headers=h)).json()
        seen.append(r["count"])
        return r["count"] == 3

    async def cases(seen):
        r = (await client.get("/v1/cases", headers=h)).json()
        seen.append(r["count"])
        return [c["id"] for c in r["data"]] if r["count"] == 3 else None

    async def dead(seen):  # three cases opened and one alert fired, each refused by the receiver
        r = (await client.get(f"/v1/webhooks/{tenant.webhook}/dead-letters", headers=h)).json()
        types = sorted(d["event_type"] for d in r["data"])
        seen.append(types)
        assert len(types) <= 4, types
        return [d["delivery_id"] for d in r["data"]] if types == ["cx.alert.firing.v1"] + ["cx.case.opened.v1"] * 3 \
            else None

    async def outcomes(seen):
        r = (await client.get("/v1/outcomes", headers=h)).json()
        seen.append(r["data"])
        return sum(g["customers"] for g in r["data"]) == 3

    await _until(f"{tenant.tag}'s events", counted)
    await _until(f"{tenant.tag}'s outcomes", outcomes)
    tenant.cases = await _until(f"{tenant.tag}'s cases", cases)
    tenant.dead = await _until(f"{tenant.tag}'s dead letters", dead)
    log = (await client.get(f"/v1/webhooks/{tenant.webhook}/deliveries", headers=h)).json()
    tenant.deliveries = sorted({d["delivery_id"] for d in log["data"]})
    alerts = (await client.get("/v1/alerts", headers=h)).json()
    assert [a["rule_id"] for a in alerts["data"]][:1] == [tenant.rule], alerts
    tenant.fingerprints = {a["fingerprint"] for a in alerts["data"]}
