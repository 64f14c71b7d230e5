"""Any crossing, a custom dimension, a rated aspect and its driver ranking on the real stack (HTTP -> ingest
pool -> Kafka -> Faust -> chDB -> API).

A generated day: touchpoints with a custom dimension (``account``), answers before their
touchpoint and later, some overriding ``account`` or ``segment``, invitations. Checked against
counts computed here: journey step x segment x site (no view holds it: the ledger answers),
account within a channel (a configured ``channel*account`` view answers) and account x segment
(the ledger again). Social and review signals (``cx.signal.v1``) of the same day, with ``brand`` a
custom dimension: their counters by site and by brand x site, and the review rating's value. Answers rate ``wait_time`` (which NPS is built from) and ``friendliness`` (noise):
the aspect's counters per account x segment (ledger) and ``GET /v1/drivers`` (wait_time first, exact n
and r) are checked against the facts too.
"""
from __future__ import annotations

import asyncio
import random
import statistics
from collections import defaultdict

import httpx
import pytest

from core import aspects, dimensions
from core.settings import AspectConfig
from tests.conftest import make_settings

pytestmark = [pytest.mark.e2e]

BATCH = {"Content-Type": "application/cloudevents-batch+json"}
DAY = "2026-11-03"


@pytest.fixture
def settings(tmp_path, broker, chdb_dsn):
    s = make_settings(tmp_path, broker.bootstrap, chdb_dsn)
    s.custom_dimensions = ["account", "brand"]
    s.stream.views = [*s.stream.views, ["channel", "account"]]
    s.aspects = {"wait_time": AspectConfig(label="Wait time", min=1, max=5), "friendliness": AspectConfig()}
    yield s
    dimensions.configure([])  # create_api installed it for this process
    aspects.configure({})


def _day() -> tuple[list[dict], list[dict]]:
    """(CloudEvents to post, the facts: (kind, id, minute, interaction, own dims, answer))."""
    rng = random.Random(12)
    events, facts = [], []
    for i in range(150):
        iid = f"x{i}"
        minute = rng.randrange(1, 23 * 60)
        dims = {"channel": rng.choice(["chat", "phone"]), "journey_step": rng.choice(["buy", "after_sales"]),
                "segment": rng.choice(["vip", "std"]), "site": rng.choice(["lyon", "porto"]),
                "account": rng.choice(["acme", "globex"])}
        tp_data = {"interaction_id": iid, **dims}
        events.append(_event(f"tp-{i}", "cx.touchpoint.v1", minute, tp_data))
        facts.append(("tp", iid, dims))
        if rng.random() < 0.8:
            own = rng.choice([{}, {}, {"account": "initech"}, {"segment": "vip"}])
            wait = rng.randint(1, 5)
            nps = max(0, min(10, 2 * wait + rng.choice([-1, 0, 1])))  # wait_time drives NPS
            rated = {"wait_time": wait, "friendliness": rng.randint(1, 5)}
            at = max(0, minute + rng.choice([-1, 5, 60]))
            events.append(_event(f"sr-{i}", "cx.survey.response.v1", at,
                                 {"interaction_id": iid, "survey_id": "s", "answers": {"nps": nps, "aspects": rated},
                                  **own}))
            facts.append(("sr", iid, own, nps, rated))
    for i in range(60):  # signals: no interaction, their own dimensions (location is the site)
        minute = rng.randrange(1, 23 * 60)
        kind = rng.choice(["review", "review", "mention", "like", "share", "comment"])
        data = {"kind": kind, "platform": rng.choice(["google", "x"]), "brand": rng.choice(["acme", "umbrella"]),
                "location": rng.choice(["lyon", "porto"])}
        if kind == "review":
            data["rating"] = rng.randrange(1, 6)
        elif kind == "mention":
            data["sentiment"] = rng.choice(["positive", "neutral", "negative"])
        events.append(_event(f"sig-{i}", "cx.signal.v1", minute, data))
        facts.append(("sig", "", {"site": data["location"], "brand": data["brand"]}, data))
    rng.shuffle(events)
    return events, facts


def _event(eid: str, type_: str, minute: int, data: dict) -> dict:
    return {"specversion": "1.0", "id": eid, "source": "/e2e", "type": type_,
            "time": f"{DAY}T{minute // 60:02d}:{minute % 60:02d}:00Z", "data": data}


def _expected(facts: list, group: tuple[str, ...], filters: dict[str, str]) -> dict:
    """{group values: [touchpoints, promoters, passives, detractors]} for the day."""
    tp_dims = {f[1]: f[2] for f in facts if f[0] == "tp"}
    out: dict = defaultdict(lambda: [0, 0, 0, 0])
    for f in facts:
        if f[0] == "sig":
            continue
        dims = f[2] if f[0] == "tp" else {**tp_dims[f[1]], **f[2]}
        if any(dims.get(k, "") != v for k, v in filters.items()):
            continue
        c = out[tuple(dims.get(d, "") for d in group)]
        if f[0] == "tp":
            c[0] += 1
        else:
            c[1 if f[3] >= 9 else 2 if f[3] >= 7 else 3] += 1
    return dict(out)


def _expected_signals(facts: list, group: tuple[str, ...]) -> dict:
    """{group values: {counter: n}} of the day's signals, by the documented rules and default bounds:
    a review 1-2 is negative, 4-5 positive; a mention by its label; likes, shares, comments engage."""
    out: dict = defaultdict(lambda: defaultdict(int))
    for _, _, dims, data in (f for f in facts if f[0] == "sig"):
        c = out[tuple(dims.get(d, "") for d in group)]
        c["sig_n"] += 1
        k, rating, sentiment = data["kind"], data.get("rating"), data.get("sentiment")
        if k == "review":
            c["sig_reviews"] += 1
            c["sig_rating_sum"] += rating
            c["sig_rating_sumsq"] += rating * rating
        if k in ("review", "mention"):
            c["sig_polar_n"] += 1
            c["sig_negative"] += (rating or 3) <= 2 if k == "review" else sentiment == "negative"
        if k in ("like", "share", "comment"):
            c["sig_engagement"] += 1
    return {g: dict(c) for g, c in out.items()}


async def _read(client: httpx.AsyncClient, metric: str, group_by: str, **filters) -> tuple[str, dict]:
    r = await client.get("/v1/kpis", params={"metric": metric, "window": "1d", "from": f"{DAY}T00:00:00Z",
                                             "to": "2026-11-04T00:00:00Z", "group_by": group_by, **filters})
    assert r.status_code == 200, r.text
    body = r.json()
    return body["source"], {tuple(p["group"][d] for d in group_by.split(",")): p["counts"] for p in body["data"]}


async def test_a_crossing_no_view_holds_and_a_custom_dimension_are_exact(stack: httpx.AsyncClient) -> None:
    events, facts = _day()
    r = await stack.post("/v1/events", json=events, headers=BATCH)
    assert r.status_code == 202 and r.json()["accepted"] == len(events), r.text
    answers = sum(f[0] == "sr" for f in facts)
    signals = sum(f[0] == "sig" for f in facts)
    for _ in range(150):
        _, overall = await _read(stack, "nps", "channel")
        _, by_site = await _read(stack, "signal_volume", "site")
        if (sum(c["promoters"] + c["passives"] + c["detractors"] for c in overall.values()) == answers
                and sum(c["sig_n"] for c in by_site.values()) == signals):
            break
        await asyncio.sleep(0.2)
    await asyncio.sleep(1.0)  # the last re-attributions of the final batch
    cases = [("journey_step,segment,site", {}, "ledger"), ("account", {"channel": "chat"}, "view:channel*account"),
             ("account,segment", {}, "ledger")]
    for group_by, filters, source in cases:
        want = _expected(facts, tuple(group_by.split(",")), filters)
        got_source, volume = await _read(stack, "volume", group_by, **filters)
        _, nps = await _read(stack, "nps", group_by, **filters)
        assert got_source == source
        got = {g: [volume.get(g, {}).get("touchpoints", 0), *(nps.get(g, {}).get(k, 0)
                                                                for k in ("promoters", "passives", "detractors"))]
               for g in {*volume, *nps}}
        assert {g: c for g, c in got.items() if any(c)} == want and len(want) >= 3, group_by
    assert "initech" in {g[0] for g in _expected(facts, ("account",), {})}  # an override of the custom one

    # Signals, by site (location) and by brand (a custom dimension) x site: every counter, and the
    # mean rating's value from them.
    for group_by in ("site", "brand,site"):
        want = _expected_signals(facts, tuple(group_by.split(",")))
        got: dict = defaultdict(dict)
        for metric in ("signal_volume", "review_rating", "signal_negative_share", "engagement"):
            _, counts = await _read(stack, metric, group_by)
            for g, c in counts.items():
                got[g].update({k: v for k, v in c.items() if v})
        assert {g: c for g, c in got.items() if c} == {g: {k: v for k, v in c.items() if v} for g, c in want.items()}
        assert len(want) >= 2, group_by
    r = await stack.get("/v1/kpis", params={"metric": "review_rating", "window": "1d", "from": f"{DAY}T00:00:00Z",
                                            "to": "2026-11-04T00:00:00Z"})
    [point] = r.json()["data"]
    reviews = [f[3]["rating"] for f in facts if f[0] == "sig" and f[3]["kind"] == "review"]
    assert (point["n"], point["value"]) == (len(reviews), pytest.approx(sum(reviews) / len(reviews)))
    # The rated aspect, from the ledger (no view holds account x segment), and the driver ranking.
    tp_dims = {f[1]: f[2] for f in facts if f[0] == "tp"}
    rated = [({**tp_dims[f[1]], **f[2]}, f[3], f[4]) for f in facts if f[0] == "sr"]
    got_source, means = await _read(stack, "aspect:wait_time", "account,segment")
    want: dict = defaultdict(lambda: {"n": 0, "sum": 0, "sumsq": 0, "top2": 0})
    for dims, _, scores in rated:
        c = want[(dims.get("account", ""), dims.get("segment", ""))]
        w = scores["wait_time"]
        c["n"], c["sum"], c["sumsq"], c["top2"] = c["n"] + 1, c["sum"] + w, c["sumsq"] + w * w, c["top2"] + (w >= 4)
    # Groups no answer rated (the signals' own, here) answer n = 0, as every metric does for a group
    # that holds other events only.
    assert all(c == {"n": 0, "sum": 0, "sumsq": 0, "top2": 0} for g, c in means.items() if g not in want)
    assert got_source == "ledger" and {g: c for g, c in means.items() if g in want} == dict(want) and len(want) >= 3
    r = await stack.get("/v1/drivers", params={"metric": "nps", "from": f"{DAY}T00:00:00Z", "to": "2026-11-04T00:00:00Z"})
    assert r.status_code == 200, r.text
    ranking = r.json()["data"]
    assert [d["aspect"] for d in ranking] == ["wait_time", "friendliness"]
    for d in ranking:
        xs, ys = [s[d["aspect"]] for _, _, s in rated], [nps for _, nps, _ in rated]
        assert d["n"] == len(xs) and abs(d["r"] - statistics.correlation(xs, ys)) < 1e-12
