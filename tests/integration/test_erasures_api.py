"""POST / GET /v1/erasures against chDB with a publisher that keeps the commands (no worker answers):
the asynchronous path (202, Location, polling), the command sent to every partition with the pseudonym
only, tenant scoping and scopes."""
from __future__ import annotations

import httpx
import pytest

from api.deps import Services
from api.main import create_api
from core.settings import ApiKey
from ingest.pseudonymize import Pseudonymizer
from notifications import decode_erasure
from tests.conftest import PSEUDONYM_KEY, FakePublisher, make_settings
from warehouse import erasure_queries as eq
from warehouse.client import Warehouse
from warehouse.migrate import migrate

pytestmark = pytest.mark.integration

ADMIN, READER, OTHER = "k-admin", "k-reader", "k-other"


@pytest.fixture
async def api(tmp_path, chdb_dsn):
    settings = make_settings(tmp_path, "unused:9092", chdb_dsn)
    settings.api.keys = {ADMIN: ApiKey(tenant="acme", scopes=["admin"]),
                         READER: ApiKey(tenant="acme", scopes=["read"]),
                         OTHER: ApiKey(tenant="other", scopes=["admin"])}
    settings.erasure.wait_s = 0  # nobody answers: the request must not wait
    wh = Warehouse.open(settings.warehouse_dsn, settings.warehouse.database)
    migrate(wh)
    pub = FakePublisher()
    app = create_api(Services(settings, wh, pub, None))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as client:
        yield client, wh, pub
    wh.command(f"DROP DATABASE IF EXISTS {settings.warehouse.database}")


def _auth(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


def _opt_out_rows(wh: Warehouse) -> list[tuple]:
    """Every stored version of every opt-out, not only the latest (an erasure deletes them all)."""
    return sorted(map(tuple, wh.query("SELECT tenant, customer, opted_out FROM panel_opt_outs").result_rows))


async def test_an_erasure_is_broadcast_and_polled_until_every_shard_reported(api):
    client, wh, pub = api
    pseudo = Pseudonymizer(PSEUDONYM_KEY.encode())
    # The customer opted out, back in, and out again (three versions); another customer and the same
    # id in another tenant opted out too.
    for method in ("put", "delete", "put"):
        assert (await getattr(client, method)("/v1/opt-outs/crm-000123", headers=_auth(ADMIN))).status_code < 300
    assert (await client.put("/v1/opt-outs/crm-000999", headers=_auth(ADMIN))).status_code == 200
    assert (await client.put("/v1/opt-outs/crm-000123", headers=_auth(OTHER))).status_code == 200
    others = sorted([("acme", pseudo("acme", "crm-000999"), True), ("other", pseudo("other", "crm-000123"), True)])
    assert len(_opt_out_rows(wh)) == 5

    resp = await client.post("/v1/erasures", json={"customer_id": "crm-000123"}, headers=_auth(ADMIN))
    assert resp.status_code == 202, resp.text
    body = resp.json()
    assert resp.headers["location"] == f"/v1/erasures/{body['id']}"
    assert (body["status"], body["shards"], body["shards_done"]) == ("running", 4, 0)
    assert body["counts"] == {"case_events": 0, "case_links": 0, "cases": 0, "panel_opt_outs": 1}
    assert _opt_out_rows(wh) == others  # every version of the customer's opt-out is gone, nothing else
    check = await client.get("/v1/invitations/check", params={"customer_id": "crm-000123"}, headers=_auth(ADMIN))
    assert check.status_code == 200 and [r for r in check.json()["rules"] if r["rule"] == "opt_out"][0]["allowed"]

    pseudonym = pseudo("acme", "crm-000123")
    assert sorted(m.partition for m in pub.sent) == [0, 1, 2, 3]
    commands = {decode_erasure(m.value) for m in pub.sent}
    assert len(commands) == 1
    (cmd,) = commands
    assert (cmd.tenant, cmd.erasure_id, cmd.customer, cmd.shards) == ("acme", body["id"], pseudonym, 4)
    assert cmd.actor.startswith("settings:") and not any(b"crm-000123" in m.value for m in pub.sent)

    assert (await client.get(f"/v1/erasures/{body['id']}", headers=_auth(ADMIN))).json() == body
    assert (await client.get(f"/v1/erasures/{body['id']}", headers=_auth(OTHER))).status_code == 404
    assert (await client.get("/v1/erasures/nope", headers=_auth(ADMIN))).status_code == 404

    # The shards report (as stream_processors.erasure does): done once all four are.
    for shard in range(4):
        await eq.record_part(wh, eq.ErasurePart(
            tenant="acme", erasure_id=body["id"], part=shard, shards=4, state="done" if shard < 3 else "deleting",
            requested_at_ms=cmd.requested_at_ms, actor=cmd.actor,
            counts={"survey_invitations": 0, "survey_responses": shard, "touchpoints": 1}))
    polled = (await client.get(f"/v1/erasures/{body['id']}", headers=_auth(ADMIN))).json()
    assert (polled["status"], polled["shards_done"]) == ("running", 3)
    await eq.record_part(wh, eq.ErasurePart(
        tenant="acme", erasure_id=body["id"], part=3, shards=4, state="done", requested_at_ms=cmd.requested_at_ms,
        actor=cmd.actor, counts={"survey_invitations": 0, "survey_responses": 3, "touchpoints": 1}))
    polled = (await client.get(f"/v1/erasures/{body['id']}", headers=_auth(ADMIN))).json()
    assert (polled["status"], polled["shards_done"]) == ("done", 4)
    assert polled["counts"] == {"case_events": 0, "case_links": 0, "cases": 0, "panel_opt_outs": 1,
                                "survey_invitations": 0, "survey_responses": 6, "touchpoints": 4}

    # Erasing again removes nothing more.
    again = await client.post("/v1/erasures", json={"customer_id": "crm-000123"}, headers=_auth(ADMIN))
    assert again.json()["counts"] == {"case_events": 0, "case_links": 0, "cases": 0, "panel_opt_outs": 0}
    assert _opt_out_rows(wh) == others


async def test_erasure_needs_the_admin_scope_and_a_customer_id(api):
    client, _, pub = api
    assert (await client.post("/v1/erasures", json={"customer_id": "x"}, headers=_auth(READER))).status_code == 403
    assert (await client.post("/v1/erasures", json={"customer_id": "x"})).status_code == 401
    for body, loc in (({}, ["body", "customer_id"]), ({"customer_id": ""}, ["body", "customer_id"]),
                      ({"customer_id": "x", "extra": 1}, ["body", "extra"])):
        resp = await client.post("/v1/erasures", json=body, headers=_auth(ADMIN))
        assert resp.status_code == 422 and [e["loc"] for e in resp.json()["detail"]] == [loc], resp.text
    assert pub.sent == []
