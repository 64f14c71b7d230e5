"""Panel health through the API over chDB, after a real ``Checkpointer`` commit: flag counts
(``GET /v1/panel/quality``), ``GET /v1/kpis?exclude_flagged=true``, and ``GET /v1/gaps?kind=gaming``
finding the one planted gaming agent among 20 honest ones, with the p-values computed here."""
from __future__ import annotations

import asyncio
import copy
import math
import random
from datetime import datetime, timezone

import httpx
import pytest

from api.deps import Services
from api.main import create_api
from core.panel_settings import PanelSettings
from core.settings import ApiKey, Settings
from core.windows import DAY_MS, MINUTE_MS, WindowSize
from kpi.counts import KpiCounts
from stream_processors.checkpoint import Checkpointer
from tests.conftest import migrated_warehouse
from tests.integration.test_panel_flags import COOLDOWN_DAYS, SR, T0, TENANT, TP, expected_quality, expected_repeats, generate
from tests.unit.test_gaming import independent_p

pytestmark = pytest.mark.integration

KEY = "k-panel"
VIEWS = [[], ["channel"], ["agent_id"]]
GAME_DAY = T0 + 120 * DAY_MS
INV = "cx.survey.invitation.v1"


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


#: agent -> (surveyed share, P(promoter), P(detractor)): 20 honest agents and one gamer.
GAME_PLAN = {f"a{i:02d}": (0.5, 0.45, 0.25) for i in range(20)} | {"gamer": (0.25, 0.8, 0.05)}


def agents_stream(rng: random.Random, day_ms: int = GAME_DAY, plan: dict[str, tuple[float, float, float]] = GAME_PLAN,
                  contacts: int = 200) -> list[dict]:
    """21 agents x 200 contacts on one day: each contact invited with the agent's share, every invited
    customer answers; the gamer invites a quarter of them, the happy ones. Interaction ids are
    ``g-<agent>-<day>-<k>``."""
    out = []
    tag = (day_ms - GAME_DAY) // DAY_MS
    for name, (share, p_pro, p_det) in plan.items():
        for k in range(contacts):
            iid = f"g-{name}-{tag}-{k}"
            t = day_ms + rng.randrange(DAY_MS - 10 * MINUTE_MS)
            base = {"tenant": TENANT, "source": "/game", "subject": None, "interaction_id": iid,
                    "customer": f"gc-{iid}", "attributes": {}, "_shard": rng.randrange(3), "_offset": 0}
            out.append(base | {"type": TP, "id": f"tp-{iid}", "time_ms": t, "dims": {"agent_id": name},
                               "wait_s": None, "handle_s": None, "resolved": None, "first_contact": None,
                               "transferred": None, "abandoned": None, "converted": None})
            if rng.random() < share:
                out.append(base | {"type": INV, "id": f"inv-{iid}", "time_ms": t + MINUTE_MS, "dims": {},
                                   "survey_id": "s2", "via": "email"})
                u = rng.random()
                nps = rng.choice([9, 10]) if u < p_pro else rng.choice(range(0, 7)) if u < p_pro + p_det else rng.choice([7, 8])
                out.append(base | {"type": SR, "id": f"sr-{iid}", "time_ms": t + 2 * MINUTE_MS, "dims": {},
                                   "survey_id": "s2", "nps": nps, "csat": None, "ces": None, "fcr": None,
                                   "comment": None, "weight": None, "duration_s": None})
    return out


def _api(wh):
    settings = Settings()
    settings.api.keys = {KEY: ApiKey(tenant=TENANT, scopes=["read"])}
    settings.stream.views = VIEWS
    settings.gaps.min_n = 30
    return create_api(Services(settings, wh, None, None))  # type: ignore[arg-type]  # reads only


def test_panel_health_api(chdb_dsn: str) -> None:
    panel_records = generate(11)
    game = agents_stream(random.Random(5))
    records = [*panel_records, *game]
    random.Random(3).shuffle(records)
    with migrated_warehouse(chdb_dsn, "papi") as wh:
        ck = Checkpointer(warehouse=wh, views=[tuple(v) for v in VIEWS], sizes=[WindowSize.hour, WindowSize.day],
                          grace_ms=10 * MINUTE_MS, panel=PanelSettings(cooldown_days=COOLDOWN_DAYS, min_duration_s=10))

        async def run() -> None:
            for i in range(0, len(records), 400):
                await ck.commit(copy.deepcopy(records[i:i + 400]))
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=_api(wh)), base_url="http://t",
                                         headers={"Authorization": f"Bearer {KEY}"}) as c:
                # -- quality flags per scope
                answers = [r for r in panel_records if r["type"] == SR]
                repeats = expected_repeats(panel_records)
                r = await c.get("/v1/panel/quality", params={"from": _iso(T0 - DAY_MS), "to": _iso(T0 + 100 * DAY_MS)})
                assert r.status_code == 200, r.text
                (row,) = r.json()["data"]
                assert row["answers"] == len(answers)
                assert row["repeat"]["count"] == len(repeats)
                for flag in ("too_fast", "contradictory", "straight_lining"):
                    assert row[flag]["count"] == sum(flag in expected_quality(a) for a in answers), flag
                flagged = {a["id"] for a in answers if expected_quality(a)}
                assert row["any_quality"]["count"] == len(flagged) > 0
                assert math.isclose(row["any_quality"]["share"], len(flagged) / len(answers))

                # -- drill-down rows carry each answer's duration, flags (names, in bit order) and aspects;
                #    repeats are behind no value, so no row of one
                rows, cursor = [], None
                while True:
                    page = (await c.get("/v1/responses", params={
                        "metric": "responses", "from": _iso(T0 - DAY_MS), "to": _iso(T0 + 100 * DAY_MS), "limit": 9,
                        **({"cursor": cursor} if cursor else {})})).json()
                    rows += page["data"]
                    if not (cursor := page["next_cursor"]):
                        break
                assert sorted(r["id"] for r in rows) == sorted(a["id"] for a in answers if a["id"] not in repeats)
                by_id = {a["id"]: a for a in answers}
                order = ("repeat", "straight_lining", "too_fast", "contradictory")
                for row in rows:
                    a = by_id[row["id"]]
                    assert row["duration_s"] == a["duration_s"] and row["aspects"] == {}, row
                    assert row["flags"] == [f for f in order if f in expected_quality(a)], row
                assert {f for row in rows for f in row["flags"]} == {"too_fast", "contradictory"}

                # -- exclude_flagged: NPS n over the panel's 90 days without repeats, and without flagged too
                params = {"metric": "nps", "window": "28d", "from": _iso(T0 + 27 * DAY_MS), "to": _iso(T0 + 28 * DAY_MS)}
                in_28d = [a for a in answers if T0 <= a["time_ms"] < T0 + 28 * DAY_MS]
                plain = (await c.get("/v1/kpis", params=params)).json()
                unflagged = (await c.get("/v1/kpis", params=params | {"exclude_flagged": "true"})).json()
                assert plain["source"] == "view:overall" and unflagged["source"] == "ledger"
                assert plain["data"][0]["n"] == sum(a["id"] not in repeats for a in in_28d)
                assert unflagged["data"][0]["n"] == sum(a["id"] not in repeats | flagged for a in in_28d)

                # -- gaming: only the planted agent, with its exact p-value
                r = await c.get("/v1/gaps", params={"metric": "nps", "window": "1d", "kind": "gaming",
                                                    "dimension": "agent_id", "significant_only": "false",
                                                    "at": _iso(GAME_DAY + DAY_MS)})
                assert r.status_code == 200, r.text
                gaps = r.json()["data"]
                assert [g["segment"] for g in gaps if g["significant"]] == ["gamer"]
                assert len(gaps) == 21 and all(g["kind"] == "gaming" and g["comparisons"] == 21 for g in gaps)
                counts: dict[str, KpiCounts] = {}
                for rec in game:
                    agent = rec["interaction_id"].split("-")[1]
                    c_ = counts.setdefault(agent, KpiCounts())
                    if rec["type"] == TP:
                        c_.touchpoints += 1
                    elif rec["type"] == INV:
                        c_.invitations += 1
                    else:
                        c_.nps_n += 1
                        c_.promoters += rec["nps"] >= 9
                        c_.passives += 7 <= rec["nps"] <= 8
                        c_.detractors += rec["nps"] <= 6
                total = KpiCounts()
                for v in counts.values():
                    total.add(v)
                for g in gaps:
                    rest = total.copy()
                    rest.subtract(counts[g["segment"]])
                    assert math.isclose(g["p_value"], independent_p(counts[g["segment"]], rest), rel_tol=1e-9,
                                        abs_tol=1e-15), g["segment"]
                # the default kinds do not include gaming
                r = await c.get("/v1/gaps", params={"metric": "nps", "window": "1d", "dimension": "agent_id",
                                                    "significant_only": "false", "at": _iso(GAME_DAY + DAY_MS)})
                assert "gaming" not in r.json()["kinds"]

        asyncio.run(run())


def test_response_rate_targets_per_segment_and_level(chdb_dsn: str) -> None:
    """Issue 14 item 5, response-rate targets: the existing targets already hold them. A target per segment
    (and per segment within a team, the "level") is shown against the observed response rate with its gap."""
    rng = random.Random(9)
    day = T0 + 200 * DAY_MS
    records = []
    for k in range(600):
        iid = f"rr-{k}"
        seg, team = rng.choice(["vip", "std"]), rng.choice(["t1", "t2"])
        t = day + rng.randrange(DAY_MS - 10 * MINUTE_MS)
        base = {"tenant": TENANT, "source": "/rr", "subject": None, "interaction_id": iid, "customer": f"rc-{k}",
                "attributes": {}, "_shard": rng.randrange(3), "_offset": 0}
        records.append(base | {"type": TP, "id": f"tp-{iid}", "time_ms": t, "dims": {"segment": seg, "team": team},
                               "wait_s": None, "handle_s": None, "resolved": None, "first_contact": None,
                               "transferred": None, "abandoned": None, "converted": None})
        records.append(base | {"type": INV, "id": f"inv-{iid}", "time_ms": t + MINUTE_MS, "dims": {},
                               "survey_id": "s3", "via": "sms"})
        if rng.random() < (0.3 if seg == "vip" else 0.6):
            records.append(base | {"type": SR, "id": f"sr-{iid}", "time_ms": t + 2 * MINUTE_MS, "dims": {},
                                   "survey_id": "s3", "nps": 8, "csat": None, "ces": None, "fcr": None,
                                   "comment": None, "weight": None, "duration_s": None})
    invited = {(r["dims"]["segment"], r["dims"]["team"], r["interaction_id"]) for r in records if r["type"] == TP}
    answered = {r["interaction_id"] for r in records if r["type"] == SR}

    def rate(seg: str, team: str | None = None) -> tuple[float, int]:
        inv = [i for s, t, i in invited if s == seg and team in (None, t)]
        return 100.0 * sum(i in answered for i in inv) / len(inv), len(inv)

    with migrated_warehouse(chdb_dsn, "prr") as wh:
        ck = Checkpointer(warehouse=wh, views=[(), ("segment",), ("segment", "team")], sizes=[WindowSize.day],
                          grace_ms=10 * MINUTE_MS)
        settings = Settings()
        settings.api.keys = {KEY: ApiKey(tenant=TENANT, scopes=["read", "admin"])}
        settings.stream.views = [[], ["segment"], ["segment", "team"]]

        async def run() -> None:
            await ck.commit(copy.deepcopy(records))
            app = create_api(Services(settings, wh, None, None))  # type: ignore[arg-type]
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t",
                                         headers={"Authorization": f"Bearer {KEY}"}) as c:
                for scope, value in (({"segment": "vip"}, 50.0), ({"segment": "vip", "team": "t1"}, 45.0),
                                     ({"segment": "std"}, 55.0)):
                    r = await c.put("/v1/targets", json={"metric": "response_rate", "scope": scope, "value": value,
                                                         "valid_from": _iso(day - DAY_MS)})
                    assert r.status_code == 200, r.text
                at = _iso(day + DAY_MS)
                whole = (await c.get("/v1/gaps", params={"metric": "response_rate", "window": "1d", "kind": "target",
                                                         "dimension": "segment", "significant_only": "false",
                                                         "at": at})).json()["data"]
                level = (await c.get("/v1/gaps", params={"metric": "response_rate", "window": "1d", "kind": "target",
                                                         "dimension": "segment", "team": "t1",
                                                         "significant_only": "false", "at": at})).json()["data"]
                got = {tuple(sorted(g["scope"].items())): g for g in [*whole, *level]}
                for scope, target, team in ((("segment", "vip"),), 50.0, None), ((("segment", "std"),), 55.0, None), \
                                           ((("segment", "vip"), ("team", "t1")), 45.0, "t1"):
                    g = got[scope]
                    observed, n = rate(dict(scope)["segment"], team)
                    assert g["reference"] == {"kind": "target", "value": target, "n": None, "ci_low": None,
                                              "ci_high": None, "periods": None}
                    assert g["observed"]["n"] == n and math.isclose(g["observed"]["value"], observed)
                    assert math.isclose(g["gap"], observed - target)
                    assert g["significant"] == (g["observed"]["ci_high"] < target)
                assert got[(("segment", "vip"),)]["significant"]  # 30 % answered against a 50 % target

        asyncio.run(run())


def test_invitation_check_counts_invitations_complaints_and_opt_outs(chdb_dsn: str) -> None:
    """Contact fatigue: each rule's verdict and counts, computed here from the committed events; opt-outs
    are audited, and the customer id is looked up as ingest pseudonymizes it."""
    from ingest.pseudonymize import Pseudonymizer

    settings = Settings(pseudonym_key="panel-test-key-0123456789")
    settings.api.keys = {KEY: ApiKey(tenant=TENANT, scopes=["read", "admin"])}
    settings.panel = PanelSettings(max_invitations=2, invitation_days=30, complaint_quiet_days=14)
    pseudo = Pseudonymizer(settings.pseudonym_key.encode())
    now = T0 + 300 * DAY_MS
    rng = random.Random(4)
    plan = {  # raw id -> (invitation ages in days, complaint ages in days)
        "fresh": ([], []),
        "one": ([3.0], []),
        "tired": ([1.0, 29.5], []),
        "old": ([31.0, 45.0, 60.0], [20.0]),
        "angry": ([2.0], [13.9]),
        "future": ([-1.0, -2.0], [-3.0]),  # after `at`: not counted
    }
    records = []
    for raw, (inv_ages, complaint_ages) in plan.items():
        customer = pseudo(TENANT, raw)
        for k, age in enumerate(inv_ages):
            iid = f"f-{raw}-i{k}"
            records.append({"tenant": TENANT, "source": "/f", "subject": None, "interaction_id": iid,
                            "customer": customer, "attributes": {}, "_shard": rng.randrange(3), "_offset": 0,
                            "type": INV, "id": f"inv-{iid}", "time_ms": int(now - age * DAY_MS), "dims": {},
                            "survey_id": "s4", "via": "email"})
        for k, age in enumerate(complaint_ages):
            iid = f"f-{raw}-c{k}"
            for step in ("complaint", "purchase"):  # only the complaint step counts
                records.append({"tenant": TENANT, "source": "/f", "subject": None, "interaction_id": f"{iid}-{step}",
                                "customer": customer, "attributes": {}, "_shard": rng.randrange(3), "_offset": 0,
                                "type": TP, "id": f"tp-{iid}-{step}", "time_ms": int(now - age * DAY_MS),
                                "dims": {"journey_step": step}, "wait_s": None, "handle_s": None, "resolved": None,
                                "first_contact": None, "transferred": None, "abandoned": None, "converted": None})

    def expect(raw: str, opted: bool) -> tuple[bool, list[tuple]]:
        inv = [a for a in plan[raw][0] if 0 <= a < 30]
        comp = [a for a in plan[raw][1] if 0 <= a < 14]
        rules = [("max_invitations", len(inv) < 2, len(inv)), ("complaint_quiet", not comp, len(comp)),
                 ("opt_out", not opted, None)]
        return all(r[1] for r in rules), rules

    with migrated_warehouse(chdb_dsn, "pfat") as wh:
        ck = Checkpointer(warehouse=wh, views=[()], sizes=[WindowSize.day], grace_ms=10 * MINUTE_MS)

        async def run() -> None:
            await ck.commit(copy.deepcopy(records))
            app = create_api(Services(settings, wh, None, None))  # type: ignore[arg-type]
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t",
                                         headers={"Authorization": f"Bearer {KEY}"}) as c:
                async def check(raw: str, opted: bool) -> None:
                    r = await c.get("/v1/invitations/check", params={"customer_id": raw, "at": _iso(now)})
                    assert r.status_code == 200, r.text
                    body = r.json()
                    allowed, rules = expect(raw, opted)
                    assert body["customer"] == pseudo(TENANT, raw) and body["allowed"] is allowed, raw
                    assert [(x["rule"], x["allowed"], x["count"]) for x in body["rules"]] == rules, raw

                for raw in plan:
                    await check(raw, False)
                assert (await c.put("/v1/opt-outs/fresh")).json()["opted_out"] is True
                await check("fresh", True)
                assert (await c.delete("/v1/opt-outs/fresh")).status_code == 204
                await check("fresh", False)
                assert (await c.delete("/v1/opt-outs/fresh")).status_code == 404
                audit = (await c.get("/v1/audit")).json()
                actions = [(e["action"], e["target"]) for e in audit["data"] if e["action"].startswith("opt_out")]
                assert sorted(actions) == [("opt_out.delete", pseudo(TENANT, "fresh")),
                                           ("opt_out.put", pseudo(TENANT, "fresh"))]
                assert (await c.get("/v1/invitations/check", params={"customer_id": ""})).status_code == 422

        asyncio.run(run())
