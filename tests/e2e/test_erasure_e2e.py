"""Erasure on the running stack (Tansu broker, worker, API, chDB): POST /v1/erasures and `cxpulse erase`.

Two tenants receive the same generated contact centre (so the erased customer's original id exists in
both). After one customer of ``acme`` is erased, every hourly window per channel equals the counts
computed here from the remaining events (tests/helpers.py), the drill-down reads agree with them, the
ledger holds no row of that customer, the other customers and the other tenant are untouched, the
audit entry has the exact counts, and a repeated erasure (through the CLI) removes nothing more.
"""
from __future__ import annotations

import asyncio
import random
from collections import Counter
from datetime import datetime, timezone

import httpx
import pytest

from clients.simulator import ContactCenterSimulator
from core.settings import ApiKey
from cxpulse.cli import main as cli_main
from ingest.pseudonymize import Pseudonymizer
from tests.conftest import PSEUDONYM_KEY, TEST_TENANT, make_settings
from tests.helpers import expected_kpis, parse_ms
from warehouse.client import Warehouse

pytestmark = [pytest.mark.e2e]

HOUR_MS = 3_600_000
START = datetime(2026, 11, 2, 6, 0, tzinfo=timezone.utc)
END = datetime(2026, 11, 3, 10, 0, tzinfo=timezone.utc)
RANGE = {"from": "2026-11-01T00:00:00Z", "to": "2026-11-05T00:00:00Z"}
ADMIN_KEY, OTHER_KEY, OTHER_TENANT = "test-admin-acme", "test-admin-globex", "globex"
TP, SR, INV = "cx.touchpoint.v1", "cx.survey.response.v1", "cx.survey.invitation.v1"
TABLE = {TP: "touchpoints", SR: "survey_responses", INV: "survey_invitations", "cx.signal.v1": "signals",
         "cx.outcome.v1": "outcomes"}
#: every counter some metric of GET /v1/kpis shows (the CSAT sum is not shown: CSAT is a top-2-box share)
COUNTED = ("touchpoints", "tp_first_contact", "tp_first_contact_resolved", "invitations", "invitations_answered",
           "responses", "nps_n", "promoters", "passives", "detractors", "csat_n", "csat_top2", "ces_n",
           "ces_sum", "ces_sumsq", "fcr_n", "fcr_yes")


@pytest.fixture
def settings(tmp_path, broker, chdb_dsn):
    s = make_settings(tmp_path, broker.bootstrap, chdb_dsn)
    s.api.keys[ADMIN_KEY] = ApiKey(tenant=TEST_TENANT, scopes=["ingest", "read", "admin"])
    s.api.keys[OTHER_KEY] = ApiKey(tenant=OTHER_TENANT, scopes=["ingest", "read", "admin"])
    return s


def _dataset() -> list[dict]:
    sim = ContactCenterSimulator(seed=23, rate_per_hour=60)
    events = list(sim.generate(START, END))
    random.Random(3).shuffle(events)  # answers often arrive before their touchpoint
    return events


def _triggers(e: dict) -> bool:
    """The default case conditions (core.domain_settings.DEFAULT_CASE_CONDITIONS)."""
    a = e["data"].get("answers", {}) if e["type"] == SR else {}
    return a.get("nps", 99) <= 6 or a.get("csat", 99) <= 2 or a.get("ces", 99) <= 3


def _hdr(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


async def _get(client: httpx.AsyncClient, path: str, key: str, **params) -> dict:
    resp = await client.get(path, params=params, headers=_hdr(key))
    assert resp.status_code == 200, (path, resp.text)
    return resp.json()


async def _windows(client, key: str) -> dict:
    """{(window start ms, channel): counters} of every metric's hourly windows per channel."""
    out: dict = {}
    for metric in ("volume", "fcr_operational", "response_rate", "responses", "nps", "csat", "ces", "fcr"):
        body = await _get(client, "/v1/kpis", key, metric=metric, window="1h", group_by="channel", **RANGE)
        for p in body["data"]:
            counts = {f: p["counts"][f] for f in COUNTED if p["counts"].get(f)}
            if counts:
                out.setdefault((parse_ms(p["window_start"]), p["group"].get("channel", "")), {}).update(counts)
    return out


def _expected(events: list[dict]) -> dict:
    out = {k: {f: int(v) for f, v in t.items() if v and f in COUNTED}
           for k, t in expected_kpis(events, HOUR_MS, "channel").items()}
    return {k: t for k, t in out.items() if t}


async def _all(client, path: str, key: str, **params) -> list[dict]:
    rows, cursor = [], None
    while True:
        body = await _get(client, path, key, limit=1000, **params, **({"cursor": cursor} if cursor else {}))
        rows += body["data"]
        cursor = body["next_cursor"]
        if cursor is None:
            return rows


async def _until(check, what: str, timeout: float = 180) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    got = None
    while asyncio.get_running_loop().time() < deadline:
        ok, got = await check()
        if ok:
            return
        await asyncio.sleep(0.5)
    raise AssertionError(f"{what}: {got}")


def _ledger(wh: Warehouse, tenant: str, customer: str) -> dict[str, int]:
    return {t: wh.query(f"SELECT count() FROM {t} FINAL WHERE tenant = {{t:String}} AND customer = {{c:String}}",
                        {"t": tenant, "c": customer}).result_rows[0][0] for t in TABLE.values()}


async def test_erasing_one_customer_recomputes_the_windows_and_leaves_everyone_else(stack, settings, capsys):
    events = _dataset()
    per_customer = Counter(e["data"].get("customer_id") for e in events if e["data"].get("customer_id"))
    answered = {e["data"]["customer_id"] for e in events if _triggers(e) and e["data"].get("customer_id")}
    customer = max(sorted(answered), key=lambda c: per_customer[c])  # the busiest one with a case
    erased = [e for e in events if e["data"].get("customer_id") == customer]
    kept = [e for e in events if e["data"].get("customer_id") != customer]
    assert len(erased) >= 3 and len(kept) > 1000
    for key in (ADMIN_KEY, OTHER_KEY):
        for i in range(0, len(events), 500):
            resp = await stack.post("/v1/events", json=events[i:i + 500], headers={
                **_hdr(key), "Content-Type": "application/cloudevents-batch+json"})
            assert resp.status_code == 202 and resp.json()["accepted"] == len(events[i:i + 500]), resp.text

    everything = _expected(events)
    triggered = sum(_triggers(e) for e in events)

    async def settled():
        got = [await _windows(stack, k) for k in (ADMIN_KEY, OTHER_KEY)]
        cases = (await _get(stack, "/v1/cases", ADMIN_KEY, limit=1000))["data"]
        linked = sum(1 + c["absorbed"] for c in cases)
        diff = sorted((k, got[0].get(k), everything.get(k)) for k in set(got[0]) | set(everything)
                      if got[0].get(k) != everything.get(k))[:3]
        return got == [everything, everything] and linked == triggered, (len(got[0]), linked, triggered, diff)

    await _until(settled, "windows and cases of both tenants")
    pseudonym = Pseudonymizer(PSEUDONYM_KEY.encode())(TEST_TENANT, customer)
    cases = [c for c in (await _get(stack, "/v1/cases", ADMIN_KEY, limit=1000))["data"] if c["customer"] == pseudonym]
    assert cases
    ack = await stack.post(f"/v1/cases/{cases[0]['id']}/ack", json={"by": "lead@example.com"}, headers=_hdr(ADMIN_KEY))
    assert ack.status_code == 200, ack.text
    wh = Warehouse.open(settings.warehouse_dsn, settings.warehouse.database)
    other_pseudonym = Pseudonymizer(PSEUDONYM_KEY.encode())(OTHER_TENANT, customer)
    in_other = _ledger(wh, OTHER_TENANT, other_pseudonym)
    assert sum(in_other.values()) == len(erased)

    # Only an admin key may erase; the body is checked at its path.
    assert (await stack.post("/v1/erasures", json={"customer_id": customer})).status_code == 403
    bad = await stack.post("/v1/erasures", json={}, headers=_hdr(ADMIN_KEY))
    assert bad.status_code == 422 and [e["loc"] for e in bad.json()["detail"]] == [["body", "customer_id"]]

    # The customer opted out in both tenants: only acme's opt-out is erased.
    for key in (ADMIN_KEY, OTHER_KEY):
        assert (await stack.put(f"/v1/opt-outs/{customer}", headers=_hdr(key))).status_code == 200

    resp = await stack.post("/v1/erasures", json={"customer_id": customer}, headers=_hdr(ADMIN_KEY))
    assert resp.status_code == 200, resp.text
    body = resp.json()
    by_type = Counter(TABLE[e["type"]] for e in erased)
    want_counts = {"touchpoints": by_type["touchpoints"], "survey_responses": by_type["survey_responses"],
                   "survey_invitations": by_type["survey_invitations"], "signals": by_type["signals"],
                   "outcomes": by_type["outcomes"], "cases": len(cases),
                   "case_links": sum(1 + c["absorbed"] for c in cases), "case_events": 1, "panel_opt_outs": 1}
    assert (body["status"], body["shards"], body["shards_done"]) == ("done", 4, 4)
    assert body["counts"] == dict(sorted(want_counts.items()))
    assert (await _get(stack, f"/v1/erasures/{body['id']}", ADMIN_KEY)) == body

    # The windows are those of the remaining events, and the drill-down agrees with them.
    remaining = _expected(kept)
    assert await _windows(stack, ADMIN_KEY) == remaining
    answers = await _all(stack, "/v1/responses", ADMIN_KEY, metric="responses", **RANGE)
    touchpoints = await _all(stack, "/v1/touchpoints", ADMIN_KEY, metric="volume", **RANGE)
    assert len(answers) == sum(t.get("responses", 0) for t in remaining.values()) == sum(e["type"] == SR for e in kept)
    assert len(touchpoints) == sum(t.get("touchpoints", 0) for t in remaining.values())
    assert pseudonym not in {r["customer"] for r in answers + touchpoints}
    assert _ledger(wh, TEST_TENANT, pseudonym) == {t: 0 for t in TABLE.values()}
    opted = "SELECT tenant FROM panel_opt_outs WHERE customer IN ({a:String}, {b:String})"
    assert wh.query(opted, {"a": pseudonym, "b": other_pseudonym}).result_rows == [(OTHER_TENANT,)]
    assert [c for c in (await _get(stack, "/v1/cases", ADMIN_KEY, limit=1000))["data"]
            if c["customer"] == pseudonym] == []
    # The other tenant, whose customer has the same original id, is untouched.
    assert await _windows(stack, OTHER_KEY) == everything
    assert _ledger(wh, OTHER_TENANT, other_pseudonym) == in_other

    audit = (await _get(stack, "/v1/audit", ADMIN_KEY, action="erasure.run"))["data"]
    assert [(a["target"], a["details"]) for a in audit] == [(body["id"], body["counts"])]
    assert customer not in str(audit) and pseudonym not in str(audit)
    assert (await _get(stack, "/v1/audit", OTHER_KEY, action="erasure.run"))["data"] == []

    # `cxpulse erase` again: harmless, every count zero, the windows unchanged.
    url = f"http://127.0.0.1:{settings.api.port}"
    with pytest.raises(SystemExit) as exited:
        await asyncio.to_thread(cli_main, ["erase", customer, "--api", url, "--key", ADMIN_KEY])
    assert exited.value.code == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.endswith(": done (4/4 shards): case_events 0, case_links 0, cases 0, outcomes 0, panel_opt_outs 0, signals 0, "
                         "survey_invitations 0, survey_responses 0, touchpoints 0"), line
    assert await _windows(stack, ADMIN_KEY) == remaining
    assert len((await _get(stack, "/v1/audit", ADMIN_KEY, action="erasure.run"))["data"]) == 2
