"""Gaming gaps routed like other alerts: ``gap.kind: gaming`` rules through the real evaluator
(``evaluate_once``) on chDB, after a real ``Checkpointer`` commit.

Three days: day 1, 20 honest agents and one planted gamer (a quarter of the contacts surveyed, the
happy ones); day 2, the honest agents only; day 3, everyone honest. Rule ``g1`` tests the trailing
day, ``g2`` the trailing two days. Per round, the test computes each agent's counts over the rule's
period from the generated records, the intersection-union p-value and both one-sided p-values
(``tests.unit.test_gaming``'s reference formulas), and Holm's adjustment, and checks that exactly the
gamer's alert opens, with those values, and how it resolves: ``g1`` once the period moved past the
gamer's data (day 2 holds none of it), ``g2`` once its data stopped deviating (day 3).
"""
from __future__ import annotations

import asyncio
import copy
import math
import random
from collections import defaultdict
from datetime import datetime
from pathlib import Path

import httpx
import orjson
import pytest

from alerts import store as aq
from alerts.evaluator import EVENT_TYPES, evaluate_once
from alerts.rules import Rule, fingerprint
from alerts.state import NotificationKind, Status
from api.deps import Services
from api.main import create_api
from core.settings import ApiKey, Settings
from core.windows import DAY_MS, MINUTE_MS, WindowSize
from kpi.counts import KpiCounts
from stream_processors.checkpoint import Checkpointer
from tests.conftest import FakePublisher, migrated_warehouse
from tests.integration.test_panel_api import GAME_DAY, GAME_PLAN, INV, TENANT, TP, agents_stream
from tests.unit.test_gaming import holm_reference, independent_one_sided

pytestmark = pytest.mark.integration

VIEWS = [[], ["agent_id"]]
HONEST = {a: p for a, p in GAME_PLAN.items() if a != "gamer"}
DAYS = {0: GAME_PLAN, 1: HONEST, 2: HONEST | {"gamer": GAME_PLAN["a00"]}}
MIN_N, ALPHA = 30, 0.01


def rule(rule_id: str, days: int) -> Rule:
    return Rule(id=rule_id, name=f"Gaming over {days}d", metric="nps", condition="gap", min_n=MIN_N,
                gap={"kind": "gaming", "dimensions": ["agent_id"], "period_days": days, "alpha": ALPHA})


def day_counts(records: list[dict]) -> dict[tuple[int, str], KpiCounts]:
    """(day index, agent) -> its counters, from the generated records."""
    out: dict[tuple[int, str], KpiCounts] = defaultdict(KpiCounts)
    for rec in records:
        _, agent, day, _ = rec["interaction_id"].split("-")
        c = out[(int(day), agent)]
        if rec["type"] == TP:
            c.touchpoints += 1
        elif rec["type"] == INV:
            c.invitations += 1
        else:
            c.nps_n += 1
            c.promoters += rec["nps"] >= 9
            c.passives += 7 <= rec["nps"] <= 8
            c.detractors += rec["nps"] <= 6
    return out


def expected(counts: dict[tuple[int, str], KpiCounts], days: range) -> dict[str, dict[str, float]]:
    """Per agent with data in ``days``: p_share, p_score, p (their max) and Holm's adjusted p."""
    agents: dict[str, KpiCounts] = defaultdict(KpiCounts)
    for (day, agent), c in counts.items():
        if day in days:
            agents[agent].add(c)
    total = KpiCounts()
    for c in agents.values():
        total.add(c)
    out = {}
    for agent, c in agents.items():
        rest = total.copy()
        rest.subtract(c)
        assert c.nps_n >= MIN_N and rest.nps_n >= MIN_N  # every agent present is tested
        p_share, p_score = independent_one_sided(c, rest)
        out[agent] = {"p_share": p_share, "p_score": p_score, "p_value": max(p_share, p_score),
                      "surveyed_share": c.invitations / c.touchpoints, "n": c.nps_n}
    for agent, adj in holm_reference({a: e["p_value"] for a, e in out.items()}).items():
        out[agent]["p_adjusted"] = adj
    return out


def test_gaming_rule_opens_one_alert_for_the_planted_agent_and_resolves(chdb_dsn: str, tmp_path: Path) -> None:
    rng = random.Random(14)
    records = [r for day, plan in DAYS.items() for r in agents_stream(rng, GAME_DAY + day * DAY_MS, plan, 160)]
    counts = day_counts(records)
    random.Random(2).shuffle(records)
    settings = Settings(data_dir=tmp_path, pseudonym_key="test-pseudonym-key-0123456789",
                        kafka={"topic_prefix": "tg", "partitions": 4})
    settings.stream.views = VIEWS
    rules = [rule("g1", 1), rule("g2", 2)]
    gamer = {r.id: fingerprint(r.id, {"agent_id": "gamer"}, {}) for r in rules}

    with migrated_warehouse(chdb_dsn, "galerts") as wh:
        ck = Checkpointer(warehouse=wh, views=[tuple(v) for v in VIEWS], sizes=[WindowSize.hour, WindowSize.day],
                          grace_ms=10 * MINUTE_MS)

        async def round_(at_ms: int) -> tuple[dict[tuple[str, str], aq.StateRow], list[dict]]:
            pub = FakePublisher()
            await evaluate_once(settings, wh, pub, at_ms)
            states = {(r.rule.id, r.rule.scope["agent_id"]): r for r in await aq.read_states(wh, TENANT)}
            return states, [orjson.loads(m.value) for m in pub.sent]

        def check_tested(states, rule_id: str, exp: dict[str, dict[str, float]], at_ms: int) -> None:
            for agent, e in exp.items():
                row = states[(rule_id, agent)]
                assert row.state.evaluated_at_ms == at_ms and row.state.n == e["n"], (rule_id, agent)
                ev = row.state.evidence
                for key in ("p_value", "p_adjusted", "p_share", "p_score", "surveyed_share"):
                    assert math.isclose(ev[key], e[key], rel_tol=1e-9, abs_tol=1e-15), (rule_id, agent, key)
                assert ev["comparisons"] == len(exp) and ev["alpha"] == ALPHA
                firing = e["p_adjusted"] < ALPHA
                assert (row.state.status is Status.firing) == firing, (rule_id, agent)

        async def run() -> None:
            for i in range(0, len(records), 1000):
                await ck.commit(copy.deepcopy(records[i:i + 1000]))
            await aq.upsert_rules(wh, TENANT, rules)

            # -- end of day 1: both rules see day 1 only; exactly the gamer's alerts fire
            t1 = GAME_DAY + DAY_MS
            states, sent = await round_(t1)
            exp = expected(counts, range(0, 1))
            assert {a for a, e in exp.items() if e["p_adjusted"] < ALPHA} == {"gamer"}
            for r in rules:
                check_tested(states, r.id, exp, t1)
                assert states[(r.id, "gamer")].fingerprint == gamer[r.id]
            firing = [(e["data"]["rule"]["id"], e["data"]["scope"]) for e in sent
                      if e["type"] == EVENT_TYPES[NotificationKind.firing]]
            assert sorted(firing) == [("g1", {"agent_id": "gamer"}), ("g2", {"agent_id": "gamer"})]
            ev = next(e for e in sent if e["data"]["rule"]["id"] == "g1")["data"]["evidence"]
            assert math.isclose(ev["p_adjusted"], exp["gamer"]["p_adjusted"], rel_tol=1e-9, abs_tol=1e-15)
            assert ev["period_start_ms"] == GAME_DAY and ev["period_end_ms"] == t1
            assert math.isclose(ev["p_share"], exp["gamer"]["p_share"], rel_tol=1e-9, abs_tol=1e-15)
            assert math.isclose(ev["p_score"], exp["gamer"]["p_score"], rel_tol=1e-9, abs_tol=1e-15)
            # the API's current alerts carry the same evidence
            settings.api.keys = {"k-read": ApiKey(tenant=TENANT, scopes=["read"])}
            app = create_api(Services(settings, wh, None, None))  # type: ignore[arg-type]  # reads only
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t",
                                         headers={"Authorization": "Bearer k-read"}) as c:
                body = (await c.get("/v1/alerts", params={"current": "true", "state": "firing"})).json()
            assert sorted(a["rule_id"] for a in body["data"]) == ["g1", "g2"]
            for a in body["data"]:
                assert a["scope"] == {"agent_id": "gamer"} and a["threshold"] is None
                e = a["evidence"]
                period = [datetime.fromisoformat(e[k].replace("Z", "+00:00")).timestamp() * 1000
                          for k in ("period_start", "period_end")]
                days = {r.id: r.gap.period_days for r in rules}[a["rule_id"]]  # the trailing whole days before t1
                assert (period, e["comparisons"], e["alpha"]) == ([t1 - days * DAY_MS, t1], len(exp), ALPHA)
                for key in ("p_value", "p_adjusted", "p_share", "p_score"):
                    assert math.isclose(e[key], exp["gamer"][key], rel_tol=1e-9, abs_tol=1e-15), key

            # -- end of day 2: g1's period (day 2) holds nothing of the gamer: its alert resolves;
            #    g2's (days 1-2) still holds the gamer's day 1: it still fires
            t2 = t1 + DAY_MS
            states, sent = await round_(t2)
            g1 = states[("g1", "gamer")]
            assert g1.state.status is Status.resolved and g1.state.ends_at_ms == t2 and g1.state.value is None
            check_tested(states, "g1", expected(counts, range(1, 2)), t2)
            exp2 = expected(counts, range(0, 2))
            assert {a for a, e in exp2.items() if e["p_adjusted"] < ALPHA} == {"gamer"}
            check_tested(states, "g2", exp2, t2)
            resolved = [(e["data"]["rule"]["id"], e["data"]["scope"]) for e in sent
                        if e["type"] == EVENT_TYPES[NotificationKind.resolved]]
            assert resolved == [("g1", {"agent_id": "gamer"})]
            repeats = [(e["data"]["rule"]["id"], e["data"]["scope"], e["data"]["repeat"]) for e in sent
                       if e["type"] == EVENT_TYPES[NotificationKind.firing]]
            assert repeats == [("g2", {"agent_id": "gamer"}, True)]  # repeat_interval_s (4 h) later

            # -- end of day 3: g2's period (days 2-3) holds the gamer's honest day 3 only: it resolves
            t3 = t2 + DAY_MS
            states, sent = await round_(t3)
            exp3 = expected(counts, range(1, 3))
            assert not [a for a, e in exp3.items() if e["p_adjusted"] < ALPHA]
            check_tested(states, "g2", exp3, t3)
            assert states[("g2", "gamer")].state.status is Status.resolved
            assert states[("g1", "gamer")].state.status is Status.ok  # resolved, then no breach
            resolved = [(e["data"]["rule"]["id"], e["data"]["scope"]) for e in sent
                        if e["type"] == EVENT_TYPES[NotificationKind.resolved]]
            assert resolved == [("g2", {"agent_id": "gamer"})]
            history = await aq.read_history(wh, TENANT, fingerprint=gamer["g2"])
            assert [(h["prev_status"], h["status"]) for h in reversed(history)] == [
                ("ok", "firing"), ("firing", "resolved")]

        asyncio.run(run())
