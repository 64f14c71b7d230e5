"""/v1/webhooks against chDB (no broker: the replay publisher is a fake)."""
from __future__ import annotations

import httpx
import orjson
import pytest

from api.deps import Services
from api.main import create_api
from core.settings import ApiKey
from tests.conftest import FakePublisher, make_settings
from warehouse import webhook_queries as q
from warehouse.client import Warehouse
from warehouse.migrate import migrate
from notifications import decode_message

ADMIN, READER, OTHER = "k-admin", "k-read", "k-other"


@pytest.fixture
async def api(tmp_path, chdb_dsn):
    settings = make_settings(tmp_path, "unused:9092", chdb_dsn)
    settings.api.keys = {ADMIN: ApiKey(tenant="acme", scopes=["admin"]),
                         READER: ApiKey(tenant="acme", scopes=["read"]),
                         OTHER: ApiKey(tenant="other", scopes=["admin"])}
    wh = Warehouse.open(settings.warehouse_dsn, settings.warehouse.database)
    migrate(wh)
    pub = FakePublisher()
    app = create_api(Services(settings, wh, pub, None))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as client:
        yield client, wh, pub


def _auth(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


async def test_crud_is_tenant_scoped_and_hides_the_secret(api) -> None:
    client, _, _ = api
    r = await client.post("/v1/webhooks", headers=_auth(ADMIN), json={
        "url": "https://hooks.example/cx", "event_types": ["cx.alert.*"], "filters": {"channel": "chat"}})
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["secret"].startswith("whsec_") and created["enabled"] is True
    wid = created["id"]

    got = (await client.get(f"/v1/webhooks/{wid}", headers=_auth(READER))).json()
    assert "secret" not in got and got["filters"] == {"channel": "chat"}
    listed = (await client.get("/v1/webhooks", headers=_auth(READER))).json()
    assert listed["count"] == 1 and "secret" not in listed["data"][0]
    assert (await client.get(f"/v1/webhooks/{wid}", headers=_auth(OTHER))).status_code == 404
    assert (await client.get("/v1/webhooks", headers=_auth(OTHER))).json()["count"] == 0
    assert (await client.post("/v1/webhooks", headers=_auth(READER), json={
        "url": "https://x.example", "event_types": ["*"]})).status_code == 403

    r = await client.patch(f"/v1/webhooks/{wid}", headers=_auth(ADMIN),
                           json={"event_types": ["cx.case.opened.v1"], "enabled": False})
    assert r.status_code == 200 and r.json()["event_types"] == ["cx.case.opened.v1"]
    assert r.json()["enabled"] is False and r.json()["disabled_reason"]
    r = await client.patch(f"/v1/webhooks/{wid}", headers=_auth(ADMIN), json={"enabled": True})
    assert r.json()["enabled"] is True and r.json()["disabled_reason"] == ""

    assert (await client.delete(f"/v1/webhooks/{wid}", headers=_auth(ADMIN))).status_code == 204
    assert (await client.get(f"/v1/webhooks/{wid}", headers=_auth(READER))).status_code == 404
    assert (await client.get("/v1/webhooks", headers=_auth(READER))).json()["count"] == 0


async def test_validation_errors_name_the_field(api) -> None:
    client, _, _ = api
    cases = [
        ({"url": "ftp://x.example/h", "event_types": ["cx.alert.*"]}, ["body", "url"]),
        ({"url": "https://x.example/h", "event_types": ["Not A Type"]}, ["body", "event_types"]),
        ({"url": "https://x.example/h", "event_types": []}, ["body", "event_types"]),
        ({"url": "https://x.example/h", "event_types": ["*"], "filters": {"planet": "x"}}, ["body", "filters"]),
        ({"url": "https://x.example/h", "event_types": ["*"], "secret": "whsec_short"}, ["body", "secret"]),
        ({"url": "https://x.example/h", "event_types": ["*"], "colour": "red"}, ["body", "colour"]),
    ]
    for body, loc in cases:
        r = await client.post("/v1/webhooks", headers=_auth(ADMIN), json=body)
        assert r.status_code == 422, body
        assert r.json()["detail"][0]["loc"] == loc, r.json()
    r = await client.post("/v1/webhooks", headers=_auth(ADMIN), json={"url": "https://x.example/h", "event_types": ["*"]})
    r = await client.patch(f"/v1/webhooks/{r.json()['id']}", headers=_auth(ADMIN), json={"url": "mailto:a@b"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "url"]


async def test_delivery_log_dead_letters_and_replay(api) -> None:
    client, wh, pub = api
    secret = "whsec_" + "A" * 43 + "="
    r = await client.post("/v1/webhooks", headers=_auth(ADMIN), json={
        "url": "https://hooks.example/cx", "event_types": ["*"], "secret": secret})
    assert r.json()["secret"] == secret
    wid = r.json()["id"]
    body = orjson.dumps({"specversion": "1.0", "id": "e1", "source": "/alerts", "type": "cx.alert.firing.v1",
                         "tenant": "acme", "data": {}})
    for n, status in ((1, "retrying"), (2, "dead_lettered")):
        await q.record_attempts(wh, [q.AttemptRow("acme", wid, "msg_1", "e1", "cx.alert.firing.v1", n, status,
                                                  500, "HTTP 500", 1_700_000_000.0 + n, 12,
                                                  1_700_000_010.0 if n == 1 else None)])
    await q.put_dead_letter(wh, q.DeadLetterRow("acme", "msg_1", wid, "e1", "cx.alert.firing.v1", body, 2, 500,
                                                "HTTP 500", 1_700_000_002.0))
    log = (await client.get(f"/v1/webhooks/{wid}/deliveries", headers=_auth(READER))).json()
    assert [(d["attempt"], d["status"], d["http_status"]) for d in log["data"]] == [(2, "dead_lettered", 500),
                                                                                   (1, "retrying", 500)]
    assert log["data"][1]["next_attempt_at"] is not None
    dead = (await client.get(f"/v1/webhooks/{wid}/dead-letters", headers=_auth(READER))).json()
    assert dead["count"] == 1 and dead["data"][0]["state"] == "dead"

    assert (await client.post("/v1/webhooks/deliveries/msg_1/replay", headers=_auth(OTHER))).status_code == 404
    r = await client.post("/v1/webhooks/deliveries/msg_1/replay", headers=_auth(ADMIN))
    assert r.status_code == 202 and r.json() == {"delivery_id": "msg_1", "subscription_id": wid,
                                                 "state": "replay_requested"}
    (msg,) = pub.sent
    assert msg.topic.endswith(".notifications.v1")
    n, only = decode_message(msg.value)
    assert only == wid and n.body == body and n.replay_of == "msg_1"
    assert (await q.get_dead_letter(wh, "acme", "msg_1")).state == "replay_requested"
