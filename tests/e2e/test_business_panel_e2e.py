"""Issue 14 end to end on the real stack (HTTP -> ingest pool -> Kafka -> Faust -> chDB -> API), one stack.

Generated with a seeded RNG and pinned event times (never the wall clock):

* 240 customers answering NPS (some with CSAT, rated aspects, ``duration_s``) on one day of August
  (baseline) or September (period), then business outcomes in September or October with churn and
  revenue by NPS category; a tenth never answer (``no_answer``);
* under the respondent rule (``panel.cooldown_days`` = 30) a fifth answer the same survey again three
  hours later with another score: a repeat, counted in no KPI and not the experience an outcome links to;
* quality flags: too fast (``duration_s`` < 10), contradictory (NPS >= 9 with CSAT 1, NPS <= 1 with CSAT 5),
  straight-lining (>= 3 configured aspects, one score);
* social and review signals on the period's answer day;
* customers with invitations and complaints at known ages, one opted out: ``/v1/invitations/check``;
* 15 honest agents and one planted gaming agent (surveys few contacts, the happy ones) on one day.

Every figure is computed here in plain Python over the generated facts: ``/v1/outcomes`` by NPS category
(values, intervals and n), revenue at risk, ``/v1/roi`` with a cost, the signal KPIs and the
positive:negative ratio, ``/v1/panel/quality``, ``/v1/kpis`` with and without ``exclude_flagged``,
the invitation verdicts, and ``/v1/gaps?kind=gaming`` (p-values by ``tests.unit.test_gaming.independent_p``).
"""
from __future__ import annotations

import asyncio
import math
import random
from collections import defaultdict
from datetime import datetime, timezone
from decimal import Decimal
from statistics import NormalDist

import httpx
import pytest
from scipy import stats as sps

from core import aspects, dimensions
from core.panel_settings import PanelSettings
from core.settings import ApiKey, AspectConfig
from ingest.pseudonymize import Pseudonymizer
from kpi.counts import KpiCounts
from tests.conftest import PSEUDONYM_KEY, TEST_KEY, TEST_TENANT, make_settings
from tests.unit.test_gaming import independent_p

pytestmark = [pytest.mark.e2e]

BATCH = {"Content-Type": "application/cloudevents-batch+json"}
DAY_MS = 86_400_000
HOUR_MS = 3_600_000


def _ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp() * 1000)


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


ANSWER_DAY = {"baseline": _ms("2026-08-20"), "period": _ms("2026-09-20")}
PERIOD = {"baseline": (_ms("2026-09-01"), _ms("2026-10-01")), "period": (_ms("2026-10-01"), _ms("2026-10-31"))}
GAME_DAY = _ms("2026-10-05")
CHECK_AT = _ms("2026-11-20T12:00:00")
ASPECTS = ("speed", "clarity", "politeness")
COST = Decimal("3100")  # October 2026: the period holds 30 of its 31 days
Z = NormalDist().inv_cdf(0.975)


@pytest.fixture
def settings(tmp_path, broker, chdb_dsn):
    s = make_settings(tmp_path, broker.bootstrap, chdb_dsn)
    s.api.keys = {TEST_KEY: ApiKey(tenant=TEST_TENANT, scopes=["ingest", "read", "admin"])}
    s.panel = PanelSettings(cooldown_days=30, min_duration_s=10, max_invitations=3, invitation_days=30,
                            complaint_quiet_days=14)
    s.aspects = {a: AspectConfig(min=1, max=5) for a in ASPECTS}
    s.gaps.min_n = 30
    yield s
    dimensions.configure([])
    aspects.configure({})


def _event(eid: str, type_: str, t: int, data: dict) -> dict:
    return {"specversion": "1.0", "id": eid, "source": "/e2e14", "type": type_, "time": _iso(t), "data": data}


# -- the generated facts ------------------------------------------------------------------------

CHURN_P = {"promoter": 0.1, "passive": 0.25, "detractor": 0.45, "no_answer": 0.3}


def _category(nps: int) -> str:
    return "promoter" if nps >= 9 else "passive" if nps >= 7 else "detractor"


def _answer(rng: random.Random, nps: int) -> dict:
    """An answer's scores with random CSAT, aspects and duration (the flags follow from them)."""
    answers: dict = {"nps": nps}
    u = rng.random()
    if u < 0.1:  # a contradiction
        answers["csat"] = 1 if nps >= 9 else 5 if nps <= 1 else rng.randint(1, 5)
    elif u < 0.6:
        answers["csat"] = rng.randint(1, 5)
    if rng.random() < 0.35:
        names = rng.sample(ASPECTS, rng.choice([2, 3, 3]))
        one = rng.randint(1, 5)
        answers["aspects"] = {a: (one if rng.random() < 0.5 else rng.randint(1, 5)) for a in names}
    data: dict = {"answers": answers}
    if rng.random() < 0.35:
        data["duration_s"] = float(rng.randrange(2, 60))
    return data


def _customers(rng: random.Random) -> tuple[list[dict], list[dict], list[dict]]:
    """(events, answers, outcomes): answers as {id, customer, t, nps, csat, aspects, duration_s};
    outcomes as {id, customer, t, kind, amount (Decimal)}."""
    events, answers, outcomes = [], [], []
    for i in range(240):
        half = "baseline" if i % 2 else "period"
        c = f"cust-{i}"
        answered = rng.random() >= 0.1
        category = "no_answer"
        if answered:
            nps = rng.choice(range(11))
            category = _category(nps)
            for k in range(2 if rng.random() < 0.2 else 1):  # the second one is a repeat
                t = ANSWER_DAY[half] + rng.randrange(2 * HOUR_MS, 12 * HOUR_MS) if k == 0 else answers[-1]["t"] + 3 * HOUR_MS
                data = _answer(rng, nps if k == 0 else rng.choice(range(11)))
                eid = f"ans-{i}-{k}"
                events.append(_event(eid, "cx.survey.response.v1", t,
                                     {"customer_id": c, "survey_id": "relationship", **data}))
                answers.append({"id": eid, "customer": c, "t": t, **data["answers"],
                                "duration_s": data.get("duration_s"), "repeat": k == 1})
        start, end = PERIOD[half]
        kinds = []
        if rng.random() < CHURN_P[category]:
            kinds.append("churn")
        elif rng.random() < 0.7:
            kinds.append("renewal")
        if rng.random() < 0.4:
            kinds.append("purchase")
            if rng.random() < 0.25:
                kinds.append("refund")
        if rng.random() < 0.15:
            kinds.append(rng.choice(["upgrade", "downgrade"]))
        if not kinds:
            kinds.append("renewal")
        times = sorted(rng.sample(range(start + DAY_MS, end - DAY_MS, 60_000), len(kinds)))
        for j, (kind, t) in enumerate(zip(kinds, times)):
            amount = Decimal(rng.randrange(100, 90_000)) / 100
            eid = f"out-{i}-{j}"
            events.append(_event(eid, "cx.outcome.v1", t, {"customer_id": c, "kind": kind, "amount": float(amount),
                                                          "currency": "EUR"}))
            outcomes.append({"id": eid, "customer": c, "t": t, "kind": kind, "amount": amount})
    return events, answers, outcomes


def _signals(rng: random.Random) -> tuple[list[dict], list[dict]]:
    events, facts = [], []
    for i in range(80):
        kind = rng.choice(["review", "review", "mention", "like", "share", "comment"])
        data = {"kind": kind, "platform": rng.choice(["google", "x"]), "brand": "acme"}
        if kind == "review":
            data["rating"] = rng.randint(1, 5)
        elif kind == "mention":
            data["sentiment"] = rng.choice(["positive", "neutral", "negative"])
        events.append(_event(f"sig-{i}", "cx.signal.v1", ANSWER_DAY["period"] + rng.randrange(DAY_MS), data))
        facts.append(data)
    return events, facts


FATIGUE = {  # raw customer id -> (invitation ages in days before CHECK_AT, complaint ages)
    "f-fresh": ([], []),
    "f-two": ([2.0, 20.0], []),
    "f-three": ([0.5, 10.0, 29.0], []),
    "f-old": ([31.0, 35.0, 40.0, 44.0], []),
    "f-angry": ([3.0], [13.0]),
    "f-calm": ([3.0], [15.0, 20.0]),
    "f-both": ([1.0, 2.0, 3.0], [1.5]),
    "f-opted": ([5.0], []),
}


def _fatigue() -> list[dict]:
    events = []
    for raw, (inv, complaints) in FATIGUE.items():
        for k, age in enumerate(inv):
            events.append(_event(f"finv-{raw}-{k}", "cx.survey.invitation.v1", int(CHECK_AT - age * DAY_MS),
                                 {"interaction_id": f"fi-{raw}-{k}", "customer_id": raw, "survey_id": "relationship"}))
        for k, age in enumerate(complaints):
            for step in ("complaint", "buy"):  # only the complaint step counts
                events.append(_event(f"ftp-{raw}-{k}-{step}", "cx.touchpoint.v1", int(CHECK_AT - age * DAY_MS),
                                     {"interaction_id": f"ft-{raw}-{k}-{step}", "customer_id": raw, "channel": "phone",
                                      "journey_step": step}))
    return events


def _agents(rng: random.Random) -> tuple[list[dict], dict[str, KpiCounts]]:
    """15 honest agents and one gamer, 160 contacts each on GAME_DAY; each invited contact answers."""
    plan = {f"ag{i:02d}": (0.5, 0.45, 0.25) for i in range(15)} | {"gamer": (0.25, 0.8, 0.05)}
    events, counts = [], {}
    for name, (share, p_pro, p_det) in plan.items():
        c = counts[name] = KpiCounts()
        for k in range(160):
            iid, customer = f"gi-{name}-{k}", f"gc-{name}-{k}"
            t = GAME_DAY + rng.randrange(DAY_MS - HOUR_MS)
            events.append(_event(f"gtp-{name}-{k}", "cx.touchpoint.v1", t,
                                 {"interaction_id": iid, "customer_id": customer, "channel": "chat", "agent_id": name}))
            c.touchpoints += 1
            if rng.random() < share:
                events.append(_event(f"ginv-{name}-{k}", "cx.survey.invitation.v1", t + 60_000,
                                     {"interaction_id": iid, "customer_id": customer, "survey_id": "transactional"}))
                u = rng.random()
                nps = rng.choice([9, 10]) if u < p_pro else rng.choice(range(7)) if u < p_pro + p_det else rng.choice([7, 8])
                events.append(_event(f"gsr-{name}-{k}", "cx.survey.response.v1", t + 120_000,
                                     {"interaction_id": iid, "customer_id": customer, "survey_id": "transactional",
                                      "answers": {"nps": nps}}))
                c.invitations += 1
                c.nps_n += 1
                c.promoters += nps >= 9
                c.passives += 7 <= nps <= 8
                c.detractors += nps <= 6
    return events, counts


# -- independent computations -------------------------------------------------------------------

def _wilson(x: int, n: int) -> tuple[float, float]:
    p, z2 = x / n, Z * Z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = Z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def _quality(a: dict) -> set[str]:
    out = set()
    if a["duration_s"] is not None and a["duration_s"] < 10:
        out.add("too_fast")
    csat = a.get("csat")
    if csat is not None and ((a["nps"] >= 9 and csat == 1) or (a["nps"] <= 1 and csat == 5)):
        out.add("contradictory")
    rated = a.get("aspects") or {}
    if len(rated) >= 3 and len(set(rated.values())) == 1:
        out.add("straight_lining")
    return out


def _by_category(answers: list[dict], outcomes: list[dict], half: str) -> dict[str, dict]:
    """Per NPS category (of the latest counted answer before the customer's latest outcome of the
    period, within 90 days): customers and their churn, decision, retention, conversion, revenue."""
    start, end = PERIOD[half]
    per: dict[str, list[dict]] = defaultdict(list)
    for o in outcomes:
        if start <= o["t"] < end:
            per[o["customer"]].append(o)
    out: dict[str, dict] = {}
    for customer, outs in per.items():
        last = max(o["t"] for o in outs)
        before = [a for a in answers if a["customer"] == customer and not a["repeat"]
                  and last - 90 * DAY_MS <= a["t"] <= last]
        category = _category(max(before, key=lambda a: a["t"])["nps"]) if before else "no_answer"
        kinds = {o["kind"] for o in outs}
        g = out.setdefault(category, {"n": 0, "churned": 0, "decided": 0, "retained": 0, "converted": 0,
                                      "revenues": [], "lost": Decimal(0)})
        g["n"] += 1
        g["churned"] += "churn" in kinds
        g["decided"] += bool(kinds & {"renewal", "churn"})
        g["retained"] += "renewal" in kinds and "churn" not in kinds
        g["converted"] += bool(kinds & {"purchase", "upgrade"})
        g["revenues"].append(sum((o["amount"] for o in outs if o["kind"] in ("purchase", "renewal", "upgrade",
                                                                              "downgrade")), Decimal(0))
                             - sum((o["amount"] for o in outs if o["kind"] == "refund"), Decimal(0)))
        g["lost"] += sum((o["amount"] for o in outs if o["kind"] == "churn"), Decimal(0))
    return out


def _close(a: float | None, b: float) -> bool:
    return a is not None and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


async def _kpi(client: httpx.AsyncClient, metric: str, day: int, **extra) -> dict:
    r = await client.get("/v1/kpis", params={"metric": metric, "window": "1d", "from": _iso(day),
                                             "to": _iso(day + DAY_MS), **extra})
    assert r.status_code == 200, r.text
    [point] = r.json()["data"]
    return point


async def _n(client: httpx.AsyncClient, metric: str, day: int) -> int:
    """The day's n, 0 before anything is counted."""
    r = await client.get("/v1/kpis", params={"metric": metric, "window": "1d", "from": _iso(day),
                                             "to": _iso(day + DAY_MS)})
    assert r.status_code == 200, r.text
    return sum(p["n"] for p in r.json()["data"])


async def test_outcomes_signals_and_panel_health_end_to_end(stack: httpx.AsyncClient) -> None:
    rng = random.Random(1414)
    c_events, answers, outcomes = _customers(rng)
    s_events, signals = _signals(rng)
    g_events, agents = _agents(rng)
    events = [*c_events, *s_events, *_fatigue(), *g_events]
    rng.shuffle(events)
    for i in range(0, len(events), 1000):
        r = await stack.post("/v1/events", json=events[i:i + 1000], headers=BATCH)
        assert r.status_code == 202 and r.json()["accepted"] == len(events[i:i + 1000]), r.text

    # -- everything stored: the ledgers (quality, outcomes) and the stream's counters (views)
    all_range = {"from": _iso(_ms("2026-08-01")), "to": _iso(_ms("2026-12-01"))}
    game_answers = sum(c.nps_n for c in agents.values())
    want_outcome_customers = {h: sum(g["n"] for g in _by_category(answers, outcomes, h).values()) for h in PERIOD}
    repeats = sum(a["repeat"] for a in answers)
    want_counted = [sum(day <= a["t"] < day + DAY_MS and not a["repeat"] for a in answers) for day in ANSWER_DAY.values()]
    for _ in range(400):
        q = (await stack.get("/v1/panel/quality", params=all_range)).json()["data"]
        o = (await stack.get("/v1/outcomes", params={"from": _iso(PERIOD["baseline"][0]),
                                                     "to": _iso(PERIOD["period"][1])})).json()["data"]
        game = await _n(stack, "nps", GAME_DAY)
        sig = await _n(stack, "signal_volume", ANSWER_DAY["period"])
        counted = [await _n(stack, "nps", day) for day in ANSWER_DAY.values()]
        if (q and q[0]["answers"] == len(answers) + game_answers and q[0]["repeat"]["count"] == repeats
                and counted == want_counted and o
                and o[0]["customers"] == sum(want_outcome_customers.values())
                and game == game_answers and sig == len(signals)):
            break
        await asyncio.sleep(0.25)
    else:
        raise AssertionError("the stack did not store every event in time")
    await asyncio.sleep(1.0)  # the last repeat corrections of the final batch

    # -- /v1/outcomes by NPS category, per period: every figure and n
    for half, (start, end) in PERIOD.items():
        want = _by_category(answers, outcomes, half)
        assert set(want) == {"promoter", "passive", "detractor", "no_answer"}, half
        r = await stack.get("/v1/outcomes", params={"from": _iso(start), "to": _iso(end), "group_by": "nps_category"})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["currency"] == "EUR" and body["horizon_days"] == 90
        rows = {g["group"]["nps_category"]: g for g in body["data"]}
        assert set(rows) == set(want)
        for category, g in want.items():
            row, n = rows[category], g["n"]
            assert row["customers"] == n, category
            for metric, x, m in (("churn_rate", g["churned"], n), ("retention", g["retained"], g["decided"]),
                                 ("conversion", g["converted"], n)):
                est = row[metric]
                low, high = _wilson(x, m)
                assert est["n"] == m and _close(est["value"], x / m), (category, metric)
                assert _close(est["ci_low"], low) and _close(est["ci_high"], high), (category, metric)
            revs = [float(v) for v in g["revenues"]]
            total = sum(g["revenues"], Decimal(0))
            assert row["revenue"] == float(total), category
            rpc = row["revenue_per_customer"]
            mean = float(total) / n
            sd = math.sqrt(sum((v - mean) ** 2 for v in revs) / (n - 1))
            half_width = sps.t.ppf(0.975, n - 1) * sd / math.sqrt(n)
            assert rpc["n"] == n and _close(rpc["value"], mean), category
            assert math.isclose(rpc["ci_low"], mean - half_width, rel_tol=1e-6, abs_tol=1e-6), category
            assert math.isclose(rpc["ci_high"], mean + half_width, rel_tol=1e-6, abs_tol=1e-6), category
        # revenue at risk = R_D × max(0, c_D − c_P)
        p, d = want["promoter"], want["detractor"]
        r_d = float(sum(d["revenues"], Decimal(0)))
        (cmp,) = body["comparisons"]
        rar = cmp["revenue_at_risk"]
        excess = d["churned"] / d["n"] - p["churned"] / p["n"]
        assert (rar["n_promoters"], rar["n_detractors"]) == (p["n"], d["n"])
        assert _close(rar["excess_churn"], excess) and _close(rar["detractor_revenue"], r_d)
        assert _close(rar["value"], r_d * max(0.0, excess)), half
        # its interval: R_D × max(0, ·) of the Newcombe hybrid score interval of c_D − c_P
        (c_d, c_p), (ld, ud), (lp, up) = (d["churned"] / d["n"], p["churned"] / p["n"]), \
            _wilson(d["churned"], d["n"]), _wilson(p["churned"], p["n"])
        low = excess - math.sqrt((c_d - ld) ** 2 + (up - c_p) ** 2)
        high = excess + math.sqrt((ud - c_d) ** 2 + (c_p - lp) ** 2)
        assert _close(rar["ci_low"], r_d * max(0.0, low)) and _close(rar["ci_high"], r_d * max(0.0, high)), half
        # promoters − detractors on churn: the difference, its Newcombe interval, the pooled z p-value
        churn_diff = next(x for x in cmp["promoters_vs_detractors"] if x["metric"] == "churn_rate")
        pooled = (p["churned"] + d["churned"]) / (p["n"] + d["n"])
        z = -excess / math.sqrt(pooled * (1 - pooled) * (1 / p["n"] + 1 / d["n"]))
        p_value = 2 * (1 - NormalDist().cdf(abs(z)))
        assert _close(churn_diff["difference"], -excess)
        assert _close(churn_diff["ci_low"], -excess - math.sqrt((c_p - lp) ** 2 + (ud - c_d) ** 2))
        assert _close(churn_diff["ci_high"], -excess + math.sqrt((up - c_p) ** 2 + (c_d - ld) ** 2))
        assert math.isclose(churn_diff["p_value"], p_value, rel_tol=1e-9, abs_tol=1e-12)
        assert churn_diff["significant"] == (p_value < 0.05)
        assert (churn_diff["n_promoters"], churn_diff["n_detractors"]) == (p["n"], d["n"])

    # -- ROI of the period (October) against its default baseline (September), with a cost
    r = await stack.put("/v1/costs", json={"costs": [{"period": "2026-10", "amount": float(COST), "currency": "EUR"}]})
    assert r.status_code == 200, r.text
    r = await stack.get("/v1/roi", params={"from": _iso(PERIOD["period"][0]), "to": _iso(PERIOD["period"][1])})
    assert r.status_code == 200, r.text
    roi = r.json()
    period, baseline = _by_category(answers, outcomes, "period"), _by_category(answers, outcomes, "baseline")
    cats = ("promoter", "passive", "detractor")
    n, n_b = sum(period[k]["n"] for k in cats), sum(baseline[k]["n"] for k in cats)
    retained = sum(n * (baseline[k]["n"] / n_b - period[k]["n"] / n) * (period[k]["churned"] / period[k]["n"])
                   * (float(period[k]["lost"]) / period[k]["churned"]) for k in cats)
    cost = float(COST) * 30 / 31
    assert roi["baseline_from"].startswith("2026-09-01") and roi["currency"] == "EUR"
    assert (roi["customers"], roi["baseline_customers"]) == (n, n_b)
    assert math.isclose(roi["retained_revenue"], retained, rel_tol=1e-9) and retained != 0
    assert math.isclose(roi["cost"], cost, rel_tol=1e-12)
    assert math.isclose(roi["roi"], (retained - cost) / cost, rel_tol=1e-9)

    # -- /v1/panel/quality over the customers' answers (repeats included in n, flagged as such)
    r = await stack.get("/v1/panel/quality", params={"from": _iso(ANSWER_DAY["baseline"]),
                                                    "to": _iso(ANSWER_DAY["period"] + DAY_MS)})
    assert r.status_code == 200, r.text
    (row,) = r.json()["data"]
    assert row["answers"] == len(answers)
    assert row["repeat"]["count"] == sum(a["repeat"] for a in answers) > 0
    for flag in ("too_fast", "contradictory", "straight_lining"):
        count = sum(flag in _quality(a) for a in answers)
        assert row[flag]["count"] == count > 0, flag
        low, high = _wilson(count, len(answers))
        assert _close(row[flag]["share"], count / len(answers)) and _close(row[flag]["ci_low"], low), flag
    flagged = {a["id"] for a in answers if _quality(a)}
    assert row["any_quality"]["count"] == len(flagged)

    # -- /v1/kpis NPS per answer day: repeats never counted; exclude_flagged leaves the flagged out too
    for day in ANSWER_DAY.values():
        in_day = [a for a in answers if day <= a["t"] < day + DAY_MS and not a["repeat"]]
        for exclude, kept in ((False, in_day), (True, [a for a in in_day if a["id"] not in flagged])):
            point = await _kpi(stack, "nps", day, **({"exclude_flagged": "true"} if exclude else {}))
            pro, det = sum(a["nps"] >= 9 for a in kept), sum(a["nps"] <= 6 for a in kept)
            assert point["n"] == len(kept) and _close(point["value"], 100.0 * (pro - det) / len(kept)), (day, exclude)

    # -- signal KPIs of the period's answer day, and the positive:negative ratio (answers and signals)
    day = ANSWER_DAY["period"]
    reviews = [s["rating"] for s in signals if s["kind"] == "review"]
    polar = [s for s in signals if s["kind"] in ("review", "mention")]
    negative = sum((s["rating"] <= 2) if s["kind"] == "review" else s["sentiment"] == "negative" for s in polar)
    positive = sum((s["rating"] >= 4) if s["kind"] == "review" else s["sentiment"] == "positive" for s in polar)
    point = await _kpi(stack, "signal_volume", day)
    assert point["n"] == len(signals)
    point = await _kpi(stack, "review_rating", day)
    assert point["n"] == len(reviews) and _close(point["value"], sum(reviews) / len(reviews))
    point = await _kpi(stack, "signal_negative_share", day)
    assert point["n"] == len(polar) and _close(point["value"], 100.0 * negative / len(polar))
    point = await _kpi(stack, "engagement", day)
    assert point["n"] == sum(s["kind"] in ("like", "share", "comment") for s in signals)
    counted = [a for a in answers if day <= a["t"] < day + DAY_MS and not a["repeat"]]

    def polarity(a: dict) -> str:
        neg = a["nps"] <= 6 or (a.get("csat") is not None and a["csat"] <= 2)
        pos = a["nps"] >= 9 or (a.get("csat") is not None and a["csat"] >= 4)
        return "negative" if neg else "positive" if pos else ""

    a_pos, a_neg = sum(polarity(a) == "positive" for a in counted), sum(polarity(a) == "negative" for a in counted)
    point = await _kpi(stack, "pos_neg_ratio", day)
    assert point["n"] == a_pos + a_neg + positive + negative
    assert _close(point["value"], (a_pos + positive) / (a_neg + negative))

    # -- contact fatigue: each verdict and count from the ages planted
    pseudo = Pseudonymizer(PSEUDONYM_KEY.encode())
    assert (await stack.put("/v1/opt-outs/f-opted")).json()["opted_out"] is True
    for raw, (inv, complaints) in FATIGUE.items():
        r = await stack.get("/v1/invitations/check", params={"customer_id": raw, "at": _iso(CHECK_AT)})
        assert r.status_code == 200, r.text
        body = r.json()
        recent, angry = sum(0 <= a < 30 for a in inv), sum(0 <= a < 14 for a in complaints)
        rules = [("max_invitations", recent < 3, recent), ("complaint_quiet", angry == 0, angry),
                 ("opt_out", raw != "f-opted", None)]
        assert body["customer"] == pseudo(TEST_TENANT, raw)
        assert [(x["rule"], x["allowed"], x["count"]) for x in body["rules"]] == rules, raw
        assert body["allowed"] is all(x[1] for x in rules), raw
    allowed = {raw for raw in FATIGUE if (await stack.get("/v1/invitations/check", params={
        "customer_id": raw, "at": _iso(CHECK_AT)})).json()["allowed"]}
    assert allowed == {"f-fresh", "f-two", "f-old", "f-calm"}

    # -- gaming: the planted agent is the only one found, every p-value computed here
    r = await stack.get("/v1/gaps", params={"metric": "nps", "window": "1d", "kind": "gaming", "dimension": "agent_id",
                                            "significant_only": "false", "at": _iso(GAME_DAY + DAY_MS)})
    assert r.status_code == 200, r.text
    gaps = r.json()["data"]
    assert [g["segment"] for g in gaps if g["significant"]] == ["gamer"], r.text[:3000]
    assert sorted(g["segment"] for g in gaps) == sorted(agents) and all(g["comparisons"] == 16 for g in gaps)
    total_counts = KpiCounts()
    for c in agents.values():
        total_counts.add(c)
    raw_p = {}
    for name, c in agents.items():
        rest = total_counts.copy()
        rest.subtract(c)
        raw_p[name] = independent_p(c, rest)
    holm, running = {}, 0.0
    for k, name in enumerate(sorted(raw_p, key=raw_p.get)):
        running = max(running, min(1.0, (len(raw_p) - k) * raw_p[name]))
        holm[name] = running
    for g in gaps:
        assert math.isclose(g["p_value"], raw_p[g["segment"]], rel_tol=1e-9, abs_tol=1e-15), g["segment"]
        assert math.isclose(g["p_adjusted"], holm[g["segment"]], rel_tol=1e-9, abs_tol=1e-15), g["segment"]
