"""API keys as data on the real stack (Tansu + chDB + worker + API in this process): the lifecycle
through `cxpulse keys` and the API, tenant isolation, the audit entry of every admin action, and the
plaintext of a key never reaching the warehouse."""
from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from core.api_keys import settings_key_id
from core.settings import ApiKey
from cxpulse.cli import main
from tests.conftest import TEST_TENANT, make_settings
from warehouse.client import Warehouse

pytestmark = [pytest.mark.e2e]

ADMIN_KEY = "test-key-acme-admin"
OTHER_ADMIN_KEY = "test-key-globex-admin"
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
OTHER = {"Authorization": f"Bearer {OTHER_ADMIN_KEY}"}
ACTOR = settings_key_id(ADMIN_KEY)


@pytest.fixture
def settings(tmp_path, broker, chdb_dsn):
    s = make_settings(tmp_path, broker.bootstrap, chdb_dsn)
    s.api.keys[ADMIN_KEY] = ApiKey(tenant=TEST_TENANT, scopes=["read", "admin"])
    s.api.keys[OTHER_ADMIN_KEY] = ApiKey(tenant="globex", scopes=["read", "admin"])
    s.api.key_last_used_flush_s = 0.2
    return s


def _auth(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


async def _cli(capsys: pytest.CaptureFixture[str], url: str, *argv: str, token: str = ADMIN_KEY
               ) -> tuple[int, str, str]:
    """`cxpulse keys ...` in a worker thread (the API serves on this test's event loop)."""
    capsys.readouterr()
    try:
        await asyncio.to_thread(main, ["keys", *argv, "--api-url", url, "--token", token])
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


async def _listed(client: httpx.AsyncClient, key_id: str, headers=ADMIN) -> dict:
    return next(k for k in (await client.get("/v1/api-keys", headers=headers)).json()["data"] if k["key_id"] == key_id)


async def test_key_lifecycle_through_the_cli_and_the_api(stack: httpx.AsyncClient, settings, capsys) -> None:
    url = str(stack.base_url).rstrip("/")
    code, out, err = await _cli(capsys, url, "create", "--name", "ingest bot", "--scope", "ingest", "--scope", "read")
    assert code == 0, err
    key = out.strip()
    assert out.count("\n") == 1 and key.startswith("cxp_acme_") and len(key) == len("cxp_acme_") + 16 + 1 + 64
    key_id = key.split("_")[2]
    assert f"created key {key_id} 'ingest bot' (tenant acme, scopes ingest,read, no expiry)" in err

    # use: the key acts for its tenant with its scopes, and its last use is written within the flush interval
    before = datetime.now(timezone.utc).replace(microsecond=0)
    r = await stack.get("/v1/whoami", headers=_auth(key))
    assert r.json() == {"tenant": "acme", "scopes": ["ingest", "read"]}
    assert (await stack.post("/v1/alert-rules", headers=_auth(key), json={})).status_code == 403  # not admin
    deadline = time.monotonic() + 15
    while (listed := await _listed(stack, key_id))["last_used_at"] is None and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    used = datetime.fromisoformat(listed["last_used_at"])
    assert before <= used <= datetime.now(timezone.utc)
    assert (listed["name"], listed["scopes"], listed["state"], listed["created_by"], listed["expires_at"]) == \
        ("ingest bot", ["ingest", "read"], "active", ACTOR, None)
    code, out, _ = await _cli(capsys, url, "list")
    assert code == 0 and out.splitlines()[0].split() == ["key_id", "name", "scopes", "state", "created_at",
                                                         "last_used_at", "expires_at", "revoked_at"]
    assert [line.split()[:2] for line in out.splitlines()[1:]] == [[key_id, "ingest"]]

    # rotate: the old key is refused at once (this process), the new one works
    code, out, err = await _cli(capsys, url, "rotate", key_id)
    assert code == 0, err
    new = out.strip()
    new_id = new.split("_")[2]
    assert new_id != key_id and f"rotated {key_id} (refused now) to key {new_id}" in err
    r = await stack.get("/v1/whoami", headers=_auth(key))
    assert (r.status_code, r.json()["detail"]) == (401, f"API key revoked (rotated to {new_id})")
    assert (await stack.get("/v1/whoami", headers=_auth(new))).json()["scopes"] == ["ingest", "read"]
    old = await _listed(stack, key_id)
    assert (old["state"], old["rotated_to"]) == ("revoked", new_id)

    # another tenant's admin sees none of it and gets 404 for its ids, through the API and the CLI
    assert (await stack.get("/v1/api-keys", headers=OTHER)).json() == {"data": [], "count": 0}
    assert (await stack.post(f"/v1/api-keys/{new_id}/rotate", headers=OTHER)).status_code == 404
    assert (await stack.delete(f"/v1/api-keys/{new_id}", headers=OTHER)).status_code == 404
    code, _, err = await _cli(capsys, url, "revoke", new_id, token=OTHER_ADMIN_KEY)
    assert code == 1 and f"HTTP 404: no API key '{new_id}'" in err
    assert (await stack.get("/v1/whoami", headers=_auth(new))).status_code == 200

    # revoke
    code, _, err = await _cli(capsys, url, "revoke", new_id)
    assert code == 0 and f"revoked key {new_id}" in err
    r = await stack.get("/v1/whoami", headers=_auth(new))
    assert (r.status_code, r.json()["detail"]) == (401, "API key revoked")
    assert (await stack.get("/v1/whoami", headers=_auth(new[:-1] + ("1" if new[-1] == "0" else "0")))).json()["detail"] == "unknown API key"

    # usage errors
    code, _, err = await _cli(capsys, url, "rotate", new_id, "--grace", "soon")
    assert code == 2 and "'soon' is not a duration" in err
    code, _, err = await _cli(capsys, url, "list", token="nope")
    assert code == 1 and "HTTP 401: unknown API key" in err

    # the warehouse holds neither key, nor their secret parts, anywhere
    wh = Warehouse.open(settings.warehouse_dsn, settings.warehouse.database)
    for table in ("api_keys", "api_key_usage", "audit_log"):
        text = repr(wh.query(f"SELECT * FROM {table}").result_rows)
        for secret in (key, new, key.rsplit("_", 1)[1], new.rsplit("_", 1)[1]):
            assert secret not in text, table
    assert len(wh.query("SELECT * FROM api_keys FINAL").result_rows) == 2


async def test_a_stored_admin_key_acts_for_its_tenant_only(stack: httpx.AsyncClient) -> None:
    r = await stack.post("/v1/api-keys", headers=ADMIN, json={"name": "ops", "scopes": ["admin"]})
    assert r.status_code == 201
    ops, ops_id = r.json()["key"], r.json()["key_id"]
    r = await stack.post("/v1/api-keys", headers=_auth(ops), json={"name": "x", "scopes": ["read"], "tenant": "globex"})
    assert (r.status_code, r.json()["detail"]) == (403, "an admin key creates keys for its own tenant only")
    r = await stack.post("/v1/api-keys", headers=_auth(ops), json={"name": "x", "scopes": ["read", "admin"],
                                                                   "tenant": "acme"})
    assert r.status_code == 201 and (r.json()["tenant"], r.json()["created_by"]) == ("acme", ops_id)
    made_by_ops = r.json()["key_id"]
    r = await stack.post("/v1/api-keys", headers=_auth(ops), json={"name": "x", "scopes": ["root"]})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "scopes", 0]
    r = await stack.post("/v1/api-keys", headers=_auth(ops), json={"name": "x", "scopes": ["read"], "secret": "s"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "secret"]
    entries = (await stack.get("/v1/audit", headers=ADMIN, params={"action": "api_key.*"})).json()["data"]
    assert [(e["actor"], e["action"], e["target"]) for e in entries] == [
        (ops_id, "api_key.create", made_by_ops),
        (ACTOR, "api_key.create", ops_id)]
    assert entries[0]["details"] == {"name": "x", "scopes": ["admin", "read"], "expires_at_ms": None}


async def test_every_admin_action_leaves_its_audit_entry(stack: httpx.AsyncClient) -> None:
    rule = {"name": "Chat CSAT", "metric": "csat", "condition": "below", "threshold": 80, "severity": "critical"}
    assert (await stack.post("/v1/alert-rules", headers=ADMIN, json={**rule, "id": "r1"})).status_code == 201
    assert (await stack.put("/v1/alert-rules/r1", headers=ADMIN, json={**rule, "threshold": 70})).status_code == 200
    assert (await stack.put("/v1/alert-rules/r2", headers=ADMIN, json=rule)).status_code == 201
    assert (await stack.put("/v1/alert-rules/r3", headers=ADMIN, json=rule, params={"dry_run": True})).status_code == 201
    assert (await stack.delete("/v1/alert-rules/r2", headers=ADMIN)).status_code == 204
    ends = (datetime.now(timezone.utc) + timedelta(hours=1)).replace(microsecond=0)
    r = await stack.post("/v1/silences", headers=ADMIN, json={"rule_id": "r1", "ends_at": ends.isoformat()})
    sid = r.json()["id"]
    assert (await stack.delete(f"/v1/silences/{sid}", headers=ADMIN)).status_code == 204
    target = {"metric": "csat", "scope": {}, "value": 85, "valid_from": "2026-11-01T00:00:00Z"}
    assert (await stack.put("/v1/targets", headers=ADMIN, json=target)).status_code == 200
    assert (await stack.delete("/v1/targets", headers=ADMIN, params={
        "metric": "csat", "valid_from": "2026-11-01T00:00:00Z"})).status_code == 204
    r = await stack.post("/v1/webhooks", headers=ADMIN, json={
        "url": "http://127.0.0.1:9/hook?token=receiver-secret", "event_types": ["cx.alert.firing.v1"]})
    wid, hook_secret = r.json()["id"], r.json()["secret"]
    assert (await stack.patch(f"/v1/webhooks/{wid}", headers=ADMIN, json={"enabled": False})).status_code == 200
    assert (await stack.delete(f"/v1/webhooks/{wid}", headers=ADMIN)).status_code == 204
    r = await stack.post("/v1/api-keys", headers=ADMIN, json={"name": "k", "scopes": ["read"]})
    kid = r.json()["key_id"]
    r = await stack.post(f"/v1/api-keys/{kid}/rotate", headers=ADMIN, json={"grace_s": 60})
    kid2 = r.json()["key_id"]
    assert (await stack.get("/v1/whoami", headers=_auth(r.json()["key"]))).status_code == 200
    assert (await stack.delete(f"/v1/api-keys/{kid2}", headers=ADMIN)).status_code == 204
    assert (await stack.delete(f"/v1/api-keys/{kid2}", headers=ADMIN)).status_code == 204  # again: no entry

    body = (await stack.get("/v1/audit", headers=ADMIN, params={"limit": 1000})).json()
    got = [(e["actor"], e["action"], e["target"], e["details"]) for e in reversed(body["data"])]
    assert [g[:3] for g in got] == [(ACTOR, action, target) for action, target in [
        ("alert_rule.create", "r1"), ("alert_rule.replace", "r1"), ("alert_rule.create", "r2"),
        ("alert_rule.delete", "r2"), ("silence.create", sid), ("silence.expire", sid),
        ("target.put", "csat||1793491200000"), ("target.delete", "csat||1793491200000"),
        ("webhook.create", wid), ("webhook.update", wid), ("webhook.delete", wid),
        ("api_key.create", kid), ("api_key.rotate", kid), ("api_key.revoke", kid2)]]
    details = {g[1] + ":" + g[2]: g[3] for g in got}
    assert details["alert_rule.replace:r1"] == {"metric": "csat", "severity": "critical"}
    assert details[f"silence.create:{sid}"]["ends_at_ms"] == int(ends.timestamp() * 1000)
    assert details["target.put:csat||1793491200000"] == {"value": 85.0, "valid_to_ms": None}
    assert details[f"webhook.create:{wid}"] == {"host": "127.0.0.1", "event_types": ["cx.alert.firing.v1"],
                                                "format": "cloudevents"}
    assert details[f"webhook.update:{wid}"] == {"fields": ["disabled_reason", "enabled"], "enabled": False}
    assert details[f"api_key.rotate:{kid}"] == {"new_key_id": kid2, "grace_s": 60}
    assert "receiver-secret" not in repr(body) and hook_secret not in repr(body)
    assert (await stack.get("/v1/audit", headers=OTHER)).json() == {"data": [], "count": 0}
