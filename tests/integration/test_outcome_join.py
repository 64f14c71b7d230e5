"""The experience -> outcome join on the real broker and chDB: raw topic -> agents -> ledgers -> read.

Events go in as CloudEvents on the raw topic (validated and pseudonymized by ``raw-validator``),
the ``kpi-windows`` and ``outcomes-ledger`` agents store them, and the join is read back through
``warehouse.outcome_queries`` and ``GET /v1/outcomes`` / ``/v1/roi``. Planted: an answer that
arrives after the outcome it precedes, an outcome that arrives after later ones, an outcome
delivered twice, answers exactly at and one millisecond past the horizon. Every expected figure
is computed here by a naive join over the events sent.
"""
from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import datetime, timezone
from decimal import Decimal

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaProducer

from api.deps import Services
from api.main import create_api
from core.settings import ApiKey
from core.topics import topic_names
from cxpulse.runtime import RunOptions, run
import random

from core.windows import WindowSize
from kpi import business
from kpi.business import GroupCounts
from stream_processors.checkpoint import Checkpointer
from stream_processors.outcome_ledger import OutcomeLedger
from tests.conftest import migrated_warehouse
from tests.helpers import read_topic
from warehouse.client import Warehouse
from warehouse.outcome_queries import customers_by_group

pytestmark = [pytest.mark.integration]

DAY = 86_400_000
T0 = int(datetime(2026, 9, 1, tzinfo=timezone.utc).timestamp() * 1000)
HORIZON_DAYS = 10
H = HORIZON_DAYS * DAY
FROM, TO = T0, T0 + 60 * DAY
KEY = "k-outcomes"


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def answer(eid: str, t: int, customer: str, **scores: int) -> dict:
    return {"specversion": "1.0", "id": eid, "source": "/surveys", "type": "cx.survey.response.v1", "tenant": "acme",
            "time": _iso(t), "data": {"customer_id": customer, "survey_id": "s", "answers": scores}}


def touchpoint(eid: str, t: int, customer: str, channel: str) -> dict:
    return {"specversion": "1.0", "id": eid, "source": "/pbx", "type": "cx.touchpoint.v1", "tenant": "acme",
            "time": _iso(t), "data": {"interaction_id": f"i-{eid}", "customer_id": customer, "channel": channel}}


def outcome(eid: str, t: int, customer: str, kind: str, amount: float, **data) -> dict:
    return {"specversion": "1.0", "id": eid, "source": "/crm", "type": "cx.outcome.v1", "tenant": "acme",
            "time": _iso(t), "data": {"customer_id": customer, "kind": kind, "amount": amount, "currency": "EUR",
                                      **data}}


FIRST = [  # sent first
    answer("a-prom", T0, "c-prom", nps=10, csat=5),
    touchpoint("t-prom", T0 + DAY, "c-prom", "chat"),
    outcome("o-prom", T0 + 5 * DAY, "c-prom", "renewal", 100.25, segment="smb"),
    outcome("o-late-ans", T0 + 20 * DAY, "c-late-ans", "churn", 80.0, segment="smb"),
    outcome("o-dup", T0 + 25 * DAY, "c-dup", "renewal", 50.0, segment="ent"),
    answer("a-dup", T0 + 24 * DAY, "c-dup", nps=0, ces=2),
    answer("a-edge-in", T0 + 30 * DAY - H, "c-edge-in", nps=9),
    outcome("o-edge-in", T0 + 30 * DAY, "c-edge-in", "purchase", 10.0, segment="ent"),
    answer("a-edge-out", T0 + 30 * DAY - H - 1, "c-edge-out", nps=1),
    outcome("o-edge-out", T0 + 30 * DAY, "c-edge-out", "churn", 7.5, segment="ent"),
    answer("a-det2", T0 + 40 * DAY, "c-det2", nps=5, csat=2),
    outcome("o-det2-buy", T0 + 41 * DAY, "c-det2", "purchase", 300.0, segment="smb"),
    outcome("o-det2-refund", T0 + 42 * DAY, "c-det2", "refund", 20.0, segment="smb"),
    answer("a-prom2", T0 + 43 * DAY, "c-prom2", nps=9),
    outcome("o-prom2", T0 + 44 * DAY, "c-prom2", "upgrade", 40.0, segment="smb"),
    answer("a-pass2", T0 + 49 * DAY, "c-pass2", nps=7),
    outcome("o-pass2", T0 + 50 * DAY, "c-pass2", "churn", 90.0, segment="smb"),
    answer("a-det3", T0 + 51 * DAY, "c-det3", nps=2),
    outcome("o-det3", T0 + 52 * DAY, "c-det3", "churn", 120.0, segment="smb"),
]
SECOND = [  # sent once FIRST is stored: late in arrival, earlier in event time
    answer("a-late-ans", T0 + 15 * DAY, "c-late-ans", nps=3),  # before o-late-ans: a late answer
    outcome("o-dup", T0 + 25 * DAY, "c-dup", "renewal", 50.0, segment="ent"),  # delivered again
    answer("a-late-out", T0 + 2 * DAY, "c-late-out", nps=7),
    outcome("o-late-out", T0 + 3 * DAY, "c-late-out", "renewal", 60.0, segment="ent"),  # a late outcome
]


def naive(events: list[dict], horizon_ms: int) -> dict[str, GroupCounts]:
    """GroupCounts by NPS category, by the definitions, over the distinct events."""
    unique = {(e["source"], e["id"]): e for e in events}.values()
    ms = lambda e: int(datetime.fromisoformat(e["time"].replace("Z", "+00:00")).timestamp() * 1000)  # noqa: E731
    answers = [(e["data"]["customer_id"], ms(e), e["data"]["answers"].get("nps")) for e in unique
               if e["type"] == "cx.survey.response.v1"]
    per_customer: dict[str, list[tuple[int, str, str, float]]] = defaultdict(list)
    for e in unique:
        if e["type"] == "cx.outcome.v1" and FROM <= ms(e) < TO:
            per_customer[e["data"]["customer_id"]].append((ms(e), e["id"], e["data"]["kind"], e["data"]["amount"]))
    out: dict[str, GroupCounts] = defaultdict(GroupCounts)
    for customer, outs in per_customer.items():
        t_last = max(outs)[0]
        before = [(t, nps) for c, t, nps in answers if c == customer and nps is not None and t_last - horizon_ms <= t
                  <= t_last]
        if before:
            nps = max(before)[1]
            category = "detractor" if nps <= 6 else "promoter" if nps >= 9 else "passive"
        else:
            category = "no_answer"
        kinds = {k for _, _, k, _ in outs}
        revenue = Decimal(str(sum(a for _, _, k, a in outs if k in ("purchase", "renewal", "upgrade", "downgrade"))
                              - sum(a for _, _, k, a in outs if k == "refund")))
        out[category] = out[category] + GroupCounts(
            customers=1, churned=int("churn" in kinds), decided=int(bool(kinds & {"renewal", "churn"})),
            retained=int("renewal" in kinds and "churn" not in kinds),
            converted=int(bool(kinds & {"purchase", "upgrade"})), revenue=revenue,
            revenue_sumsq=float(revenue) ** 2,
            lost_revenue=Decimal(str(sum(a for _, _, k, a in outs if k == "churn"))))
    return dict(out)


@pytest.fixture
async def worker(settings):
    settings.api.keys = {KEY: ApiKey(tenant="acme", scopes=["read", "admin"])}
    settings.outcomes.horizon_days = HORIZON_DAYS
    ready, stop = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(run(settings, RunOptions(api=False, worker=True), ready=ready, stop=stop))
    await asyncio.wait_for(ready.wait(), 60)
    yield settings
    stop.set()
    await asyncio.wait_for(task, 30)


async def _send(settings, events: list[dict]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka.bootstrap)
    await producer.start()
    try:
        for e in events:  # one message each: the duplicate is a second delivery, not an in-batch repeat
            await producer.send_and_wait(topic_names(settings.kafka.topic_prefix)["raw"], orjson.dumps(e))
    finally:
        await producer.stop()


async def _stored(wh: Warehouse, outcomes: int, answers: int) -> None:
    for _ in range(240):
        n_o = wh.query("SELECT uniqExact(event_id) FROM outcomes").result_rows[0][0]
        n_a = wh.query("SELECT uniqExact(event_id) FROM survey_responses").result_rows[0][0]
        if (n_o, n_a) == (outcomes, answers):
            return
        await asyncio.sleep(0.25)
    raise AssertionError(f"ledgers hold {n_o} outcomes, {n_a} answers; want {outcomes}, {answers}")


def _distinct(events: list[dict], type_: str) -> int:
    return len({e["id"] for e in events if e["type"] == type_})


async def _by_category(wh: Warehouse) -> dict[str, GroupCounts]:
    got = await customers_by_group(wh, "acme", FROM, TO, H, (), {}, "EUR")
    return {category: c for ((), category), c in got.items()}


async def test_late_answers_and_outcomes_join_and_each_outcome_counts_once(worker) -> None:
    settings = worker
    wh = Warehouse.open(settings.warehouse_dsn, settings.warehouse.database)
    await _send(settings, FIRST)
    await _stored(wh, _distinct(FIRST, "cx.outcome.v1"), _distinct(FIRST, "cx.survey.response.v1"))
    before = await _by_category(wh)
    _assert_same(before, naive(FIRST, H))
    assert before["no_answer"].customers == 2  # c-late-ans (its answer not in yet) and c-edge-out

    await _send(settings, SECOND)
    both = FIRST + SECOND
    await _stored(wh, _distinct(both, "cx.outcome.v1"), _distinct(both, "cx.survey.response.v1"))
    # the duplicate delivery is stored twice or merged, and read once either way
    assert wh.query("SELECT count() FROM outcomes WHERE event_id = 'o-dup'").result_rows[0][0] >= 1
    after = await _by_category(wh)
    want = naive(both, H)
    _assert_same(after, want)
    assert {c: g.customers for c, g in after.items()} == {"promoter": 3, "passive": 2, "detractor": 4,
                                                         "no_answer": 1}
    assert after["detractor"].revenue == Decimal("330")  # c-dup's renewal once (50) + c-det2's 300 − 20
    assert sum(g.customers for g in after.values()) == 10  # every customer once

    # the horizon edge: exactly H before counts, H + 1 ms does not
    edge = await customers_by_group(wh, "acme", T0 + 30 * DAY, T0 + 30 * DAY + 1, H, (), {}, "EUR")
    assert {cat: c.customers for ((), cat), c in edge.items()} == {"promoter": 1, "no_answer": 1}

    # grouped by a dimension of the outcome and the join's own columns
    grouped = await customers_by_group(wh, "acme", FROM, TO, H, ("segment", "last_channel", "ces_band"), {}, "EUR")
    assert grouped[(("smb", "chat", "no_answer"), "promoter")].customers == 1  # c-prom's touchpoint on chat
    assert grouped[(("ent", "none", "high_effort"), "detractor")].customers == 1  # c-dup's CES 2
    filtered = await customers_by_group(wh, "acme", FROM, TO, H, (), {"segment": "ent"}, "EUR")
    assert sum(c.customers for c in filtered.values()) == 4

    # the API reads the same join and states every figure from these counts
    api = create_api(Services(settings, wh, None, None))  # type: ignore[arg-type]  # reads and costs only
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=api), base_url="http://t",
                                 headers={"Authorization": f"Bearer {KEY}"}) as client:
        r = await client.get("/v1/outcomes", params={"from": _iso(FROM), "to": _iso(TO), "group_by": "nps_category"})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["currency"] == "EUR" and body["horizon_days"] == HORIZON_DAYS
        rows = {g["group"]["nps_category"]: g for g in body["data"]}
        for category, counts in want.items():
            k = business.kpis(counts)
            assert rows[category]["customers"] == counts.customers
            assert rows[category]["churn_rate"]["value"] == k.churn_rate.value
            assert rows[category]["churn_rate"]["ci_low"] == k.churn_rate.ci_low
            assert rows[category]["revenue"] == float(counts.revenue)
        (cmp,) = body["comparisons"]
        rar = cmp["revenue_at_risk"]
        p, d = want["promoter"], want["detractor"]
        assert rar["value"] == pytest.approx(330 * max(0.0, d.churned / d.customers - p.churned / p.customers))
        assert {x["metric"] for x in cmp["promoters_vs_detractors"]} == {"churn_rate", "retention", "conversion",
                                                                         "revenue_per_customer"}

        r = await client.get("/v1/outcomes", params={"group_by": "nps,segment"})
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "group_by"]

        # ROI: the period's second month against its first, costs prorated
        r = await client.put("/v1/costs", json={"costs": [{"period": "2026-09", "amount": 300, "currency": "EUR"},
                                                          {"period": "2026-10", "amount": 310, "currency": "EUR"}]})
        assert r.status_code == 200, r.text
        assert [c["period"] for c in r.json()["data"]] == ["2026-09", "2026-10"]
        audit = wh.query("SELECT action, target FROM audit_log WHERE tenant = 'acme'").result_rows
        assert ("program_cost.put", "2026-09,2026-10") in audit
        mid = T0 + 30 * DAY
        r = await client.get("/v1/roi", params={"from": _iso(mid), "to": _iso(TO)})
        assert r.status_code == 200, r.text
        roi = r.json()
        period = {c: g for ((), c), g in (await customers_by_group(wh, "acme", mid, TO, H, (), {}, "EUR")).items()}
        baseline = {c: g for ((), c), g in (await customers_by_group(wh, "acme", FROM, mid, H, (), {}, "EUR")).items()}
        expected = business.retained_revenue(period, baseline)
        assert roi["baseline_from"].startswith("2026-09-01")
        # the period is 2026-10-01 .. 2026-10-31 (exclusive): 30 of October's 31 days
        assert roi["cost"] == pytest.approx(float(business.prorated_cost(
            [("2026-09", Decimal(300)), ("2026-10", Decimal(310))], mid, TO)))
        assert expected is not None and expected.value != 0  # every category has customers in the period
        assert roi["retained_revenue"] == pytest.approx(expected.value)
        assert roi["roi"] == pytest.approx((expected.value - roi["cost"]) / roi["cost"])
        assert roi["customers"] == 5 and roi["baseline_customers"] == 4
        # by hand: shares (P, Pa, D) 2/5, 1/5, 2/5 against 1/4, 1/4, 2/4; lost per customer Pa 90/1, D 120/2
        assert roi["retained_revenue"] == pytest.approx(5 * (1 / 4 - 1 / 5) * 90 + 5 * (2 / 4 - 2 / 5) * 60)
        assert roi["method"] and roi["assumptions"]

    # bad outcomes are dead-lettered with their reason: on the raw topic by field, on the typed topic whole
    names = topic_names(settings.kafka.topic_prefix)
    await _send(settings, [outcome("o-bad", T0, "c-x", "renewal", 1.0) | {"data": {
        "customer_id": "c-x", "kind": "renewal", "amount": "1.0", "currency": "EUR"}}])
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka.bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(names["cx.outcome.v1"], b"\x00garbage", partition=1)
        await producer.send_and_wait(names["cx.outcome.v1"], orjson.dumps([{"type": "cx.outcome.v1", "tenant": "acme",
                                                                           "id": "x", "source": "/s", "time_ms": 1}]),
                                     partition=1)
    finally:
        await producer.stop()
    letters = [orjson.loads(m.value) for m in await read_topic(settings.kafka.bootstrap, names["dead_letter"], 3)]
    assert sorted((b["topic"], b["path"]) for b in letters) == sorted([
        (names["raw"], "data.amount"), (names["cx.outcome.v1"], "undecodable"),
        (names["cx.outcome.v1"], "undecodable")])
    reasons = sorted(b["reason"] for b in letters)
    assert "amount must be a JSON number" in reasons
    assert "not a CX Pulse outcome record (needs kind, amount and currency)" in reasons


def _shuffled_history(rng: random.Random) -> tuple[list[dict], list[dict]]:
    """Records (``schemas/records.py``) of 300 generated customers: answers, touchpoints, outcomes."""
    records: list[dict] = []
    offsets = iter(range(10 ** 6))

    def rec(type_: str, eid: str, t: int, customer: str, **extra) -> dict:
        return {"tenant": "acme", "id": eid, "source": "/gen", "type": type_, "time_ms": t, "subject": None,
                "interaction_id": extra.pop("iid", ""), "customer": customer, "dims": extra.pop("dims", {}),
                "attributes": {}, "_shard": rng.randrange(4), "_offset": next(offsets), **extra}

    for i in range(300):
        c = f"g-{i}"
        for j in range(rng.choice([0, 1, 2, 3])):  # a quarter never answered
            t = T0 - 20 * DAY + rng.randrange(80 * DAY)  # some before the period, within 90 days of it
            nps = rng.randrange(11)
            records.append(rec("cx.survey.response.v1", f"a-{i}-{j}", t, c, iid=f"i-{i}-{j}", survey_id="s",
                               nps=nps, csat=rng.choice([None, 1, 3, 5]), ces=None, fcr=None, comment=None,
                               weight=None))
        for j in range(rng.randrange(1, 4)):
            t = T0 + rng.randrange(60 * DAY)
            kind = rng.choice(["purchase", "renewal", "upgrade", "downgrade", "churn", "refund"])
            amount = f"{rng.randrange(0, 10 ** 6) / 100:.2f}"
            records.append(rec("cx.outcome.v1", f"o-{i}-{j}", t, c, kind=kind, amount=amount, currency="EUR",
                               account="", product=None, dims={"segment": rng.choice(["smb", "ent"])}))
    rng.shuffle(records)
    return [r for r in records if r["type"] != "cx.outcome.v1"], [r for r in records if r["type"] == "cx.outcome.v1"]


def _naive_records(answers: list[dict], outcomes: list[dict], horizon_ms: int) -> dict[str, GroupCounts]:
    """The same definitions as ``naive``, over records."""
    events = [{"source": a["source"], "id": a["id"], "type": a["type"], "time": _iso(a["time_ms"]),
               "data": {"customer_id": a["customer"], "answers": {"nps": a["nps"]}}} for a in answers]
    events += [{"source": o["source"], "id": o["id"], "type": o["type"], "time": _iso(o["time_ms"]),
                "data": {"customer_id": o["customer"], "kind": o["kind"], "amount": Decimal(o["amount"])}}
               for o in outcomes]
    return naive(events, horizon_ms)


def _assert_same(got: dict[str, GroupCounts], want: dict[str, GroupCounts]) -> None:
    """Equal counts and revenue; Σ revenue² up to the float summation order."""
    assert set(got) == set(want)
    for c in want:
        g, w = got[c], want[c]
        assert (g.customers, g.churned, g.decided, g.retained, g.converted, g.revenue, g.lost_revenue) == (
            w.customers, w.churned, w.decided, w.retained, w.converted, w.revenue, w.lost_revenue), c
        assert g.revenue_sumsq == pytest.approx(w.revenue_sumsq, rel=1e-12), c


async def test_generated_customers_in_any_arrival_order_count_exactly_once(chdb_dsn) -> None:
    """300 customers, answers and outcomes committed in shuffled batches (outcomes partly before the
    answers they follow), a third of the outcomes delivered twice: the join equals the naive one."""
    rng = random.Random(14)
    answers, outcomes = _shuffled_history(rng)
    with migrated_warehouse(chdb_dsn, "oj") as wh:
        cp, ledger = Checkpointer(wh, [()], [WindowSize.day], 600_000), OutcomeLedger(wh)
        half = len(outcomes) // 2
        await ledger.commit(outcomes[:half])  # these outcomes arrive before every answer
        for i in range(0, len(answers), 50):
            await cp.commit(answers[i:i + 50])
        await ledger.commit(outcomes[half:])
        await ledger.commit([dict(o) for o in outcomes[::3]])  # delivered again
        for horizon in (H, 90 * DAY):
            got = await customers_by_group(wh, "acme", FROM, TO, horizon, (), {}, "EUR")
            want = _naive_records(answers, outcomes, horizon)
            _assert_same({c: g for ((), c), g in got.items()}, want)
            if horizon == 90 * DAY:  # every category exercised
                assert all(want[c].customers >= 20 for c in business.NPS_CATEGORIES), want
            assert sum(g.customers for g in got.values()) == len({o["customer"] for o in outcomes})
