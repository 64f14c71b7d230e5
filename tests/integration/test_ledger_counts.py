"""Ledger-answered counters equal view-answered ones (``warehouse.ledger_counts``).

The same stream is committed through the real ``Checkpointer`` (dedup, attribution, late
answers, answers before their touchpoint, overrides, invitations, restarts, replays) into chDB;
then every view and every grouping of its dimensions, with and without filters, is read both
from the stored windows and from the ledger, for every window size: the rows must be equal,
counter for counter. Crossings no view holds are checked against a naive computation here.
"""
from __future__ import annotations

import copy
import itertools
import random
from collections import defaultdict

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.experience import DEFAULT_BOUNDS
from core.windows import DAY_MS, HOUR_MS, MINUTE_MS, WindowSize
from kpi.counts import FIELDS, KpiCounts, configure_experience
from schemas.records import EventType
from stream_processors.checkpoint import Checkpointer
from tests.conftest import migrated_warehouse
from tests.helpers import DEFAULT_EXPERIENCE, count_record
from warehouse.client import Warehouse
from warehouse.count_sources import LEDGER, CountSource, choose_source, read_counts
from warehouse.ledger_counts import counter_sql, ledger_windows

pytestmark = pytest.mark.integration

TP, SR, INV = EventType.touchpoint.value, EventType.survey_response.value, EventType.survey_invitation.value
SIG = EventType.signal.value
TENANT = "acme"
T0 = 1_793_577_600_000  # 2026-11-02T00:00:00Z
GRACE_MS = 10 * MINUTE_MS
SIZES = [WindowSize.minute, WindowSize.hour, WindowSize.day]
VIEWS = [(), ("channel",), ("channel", "team"), ("journey_step", "segment"),
         ("channel", "journey_step", "segment", "team")]
FROM_S, TO_S = (T0 - 7 * DAY_MS) // 1000, (T0 + 30 * DAY_MS) // 1000
VALUES = {"channel": ["chat", "voice"], "team": ["t1", "t2"], "segment": ["vip", "std"],
          "journey_step": ["buy", "after_sales"], "site": ["lyon", "porto"]}

_offsets = itertools.count()


def _base(type_: str, eid: str, t: int, iid: str, dims: dict, shard: int) -> dict:
    return {"tenant": TENANT, "id": eid, "source": "/test", "type": type_, "time_ms": t, "subject": None,
            "interaction_id": iid, "customer": "", "dims": dict(dims), "attributes": {}, "_shard": shard,
            "_offset": next(_offsets)}


def tp(eid, t, iid, dims, *, first_contact=None, resolved=None, shard=0, wait_s=None, handle_s=None,
       transferred=None, abandoned=None, converted=None) -> dict:
    return _base(TP, eid, t, iid, dims, shard) | {
        "wait_s": wait_s, "handle_s": handle_s, "resolved": resolved, "first_contact": first_contact,
        "transferred": transferred, "abandoned": abandoned, "converted": converted}


def answer(eid, t, iid, overrides=None, *, nps=None, csat=None, ces=None, fcr=None, shard=0) -> dict:
    return _base(SR, eid, t, iid, overrides or {}, shard) | {
        "survey_id": "s1", "nps": nps, "csat": csat, "ces": ces, "fcr": fcr, "comment": None, "weight": None}


def invitation(eid, t, iid, *, shard=0) -> dict:
    return _base(INV, eid, t, iid, {}, shard) | {"survey_id": "s1", "via": "email"}


def signal(eid, t, dims, kind, *, rating=None, sentiment=None, score=None, shard=0) -> dict:
    """A cx.signal.v1 record: no interaction, its own dimensions (``location`` is ``site``)."""
    return _base(SIG, eid, t, "", dims, shard) | {
        "kind": kind, "rating": rating, "sentiment": sentiment, "score": score, "platform": "google",
        "brand": "acme", "text": None}


def draw_signal(pick, eid: str, t: int, dims: dict, shard: int) -> dict:
    """One signal of a random kind, with what its kind carries (``pick`` chooses from a list)."""
    kind = pick(["review", "mention", "mention", "like", "share", "comment"])
    if kind == "review":
        return signal(eid, t, dims, kind, rating=pick([1, 2, 3, 4, 5]), shard=shard)
    if kind == "mention":
        if pick([True, False]):
            return signal(eid, t, dims, kind, sentiment=pick(["positive", "neutral", "negative"]), shard=shard)
        # the default bounds' edges (+-0.05) included: both paths compare the same Float64
        return signal(eid, t, dims, kind, score=pick([-1.0, -0.5, -0.05, -0.04, 0.0, 0.05, 0.3, 1.0]), shard=shard)
    return signal(eid, t, dims, kind, shard=shard)


# -- independent expectation ------------------------------------------------------------
def naive(committed: list[dict], size_ms: int, group: tuple[str, ...], filters: dict[str, str],
          experience: dict | None = None) -> dict:
    """{(window_start_s, group values): KpiCounts}: the first delivery of each event key counts;
    answers and invitations under their interaction's touchpoint dims with their own on top (their
    own alone without a touchpoint); an invitation is answered when any answer shares its
    non-empty interaction id."""
    first: dict = {}
    for r in committed:
        first.setdefault((r["type"], r["tenant"], r["source"], r["id"]), r)
    unique = list(first.values())
    tp_dims = {r["interaction_id"]: r["dims"] for r in unique if r["type"] == TP and r["interaction_id"]}
    answered = {r["interaction_id"] for r in unique if r["type"] == SR and r["interaction_id"]}
    out: dict = defaultdict(KpiCounts)
    for r in unique:
        dims = r["dims"] if r["type"] in (TP, SIG) else {**tp_dims.get(r["interaction_id"], {}), **r["dims"]}
        if any(dims.get(k, "") != v for k, v in filters.items()):
            continue
        c = out[(r["time_ms"] // size_ms * size_ms // 1000, tuple(dims.get(d, "") for d in group))]
        if r["type"] == INV:
            c.invitations += 1
            c.invitations_answered += bool(r["interaction_id"]) and r["interaction_id"] in answered
        else:
            count_record(c, r, experience)
    return dict(out)


def rows_of(rows) -> dict:
    return {(r.window_start, r.group): r.counts for r in rows}


def groupings(every: bool):
    """(view, group_by, filters): every subset of every view's dimensions (``every``; else the view's
    own and one smaller), unfiltered, and filtered on one of the view's other dimensions (a known
    value, and '' = not known)."""
    for view in VIEWS:
        for k in range(len(view) + 1) if every else {len(view), max(0, len(view) - 1)}:
            for group in itertools.combinations(view, k):
                yield view, group, {}
                rest = [d for d in view if d not in group]
                if rest:
                    yield view, group, {rest[0]: VALUES[rest[0]][0]}
                    yield view, group, {rest[-1]: ""}
                if not every:
                    break


async def assert_paths_agree(wh: Warehouse, committed: list[dict], every: bool = False,
                             experience: dict | None = None) -> int:
    """View- and ledger-answered rows are equal for the groupings and every size; returns rows compared."""
    compared = 0
    for size in SIZES:
        for view, group, filters in groupings(every):
            from_view = await read_counts(wh, TENANT, size.value, CountSource.of_view(view), group, filters,
                                          FROM_S, TO_S)
            from_ledger = await read_counts(wh, TENANT, size.value, LEDGER, group, filters, FROM_S, TO_S)
            assert rows_of(from_ledger) == rows_of(from_view), (size, view, group, filters)
            assert [(r.window_start, r.group) for r in from_ledger] == [(r.window_start, r.group) for r in from_view]
            assert rows_of(from_ledger) == naive(committed, size.ms, group, filters, experience), (
                size, view, group, filters)
            compared += len(from_ledger)
    return compared


def checkpointer(wh: Warehouse) -> Checkpointer:
    return Checkpointer(warehouse=wh, views=list(VIEWS), sizes=list(SIZES), grace_ms=GRACE_MS)


async def commit_all(wh: Warehouse, batches: list[list[dict]], restart_after: int) -> list[dict]:
    ck = checkpointer(wh)
    committed: list[dict] = []
    for i, batch in enumerate(batches):
        if i == restart_after:
            ck = checkpointer(wh)  # a restart rebuilds shard state from the ledger
        await ck.commit(copy.deepcopy(batch))
        committed += batch
    return committed


# -- generated streams ---------------------------------------------------------------------
def _dims(draw_value, names) -> dict:
    return {d: v for d in names if (v := draw_value(d))}


@st.composite
def streams(draw) -> tuple[list[list[dict]], int]:
    """A few interactions over four days: a touchpoint (or none), answers (some before it, some days
    later, with overrides), invitations, answers without interaction; duplicates (same id, maybe
    another payload); delivered in any order and batching, with a restart at some batch."""
    t = T0 + 8 * HOUR_MS
    value = lambda d: draw(st.sampled_from(["", *VALUES[d]]))  # noqa: E731
    at = lambda: t + draw(st.integers(0, 4 * DAY_MS))  # noqa: E731
    records: list[dict] = []
    for i in range(draw(st.integers(1, 6))):
        iid = f"i{i}" if i or draw(st.booleans()) else ""
        shard = draw(st.integers(0, 1))
        if iid and draw(st.booleans()):
            records.append(tp(f"tp-{i}", at(), iid, _dims(value, VALUES), shard=shard,
                              first_contact=draw(st.sampled_from([None, True, False])),
                              resolved=draw(st.sampled_from([None, True, False])),
                              # half-decisecond ties included: both paths round them up
                              wait_s=draw(st.none() | st.sampled_from([0.0, 0.05, 12.25, 61.5, 3600.0])),
                              handle_s=draw(st.none() | st.floats(0, 5000, allow_nan=False)),
                              **{f: draw(st.sampled_from([None, True, False]))
                                 for f in ("transferred", "abandoned", "converted")}))
        for j in range(draw(st.integers(0, 3))):
            records.append(answer(
                f"sr-{i}-{j}", at(), iid, _dims(value, ("team", "segment")) if draw(st.booleans()) else {},
                nps=draw(st.none() | st.integers(0, 10)), csat=draw(st.none() | st.integers(1, 5)),
                ces=draw(st.none() | st.integers(1, 7)), fcr=draw(st.sampled_from([None, True, False])),
                shard=shard))
        for j in range(draw(st.integers(0, 2))):
            records.append(invitation(f"inv-{i}-{j}", at(), iid, shard=shard))
        for j in range(draw(st.integers(0, 2))):
            records.append(draw_signal(lambda xs: draw(st.sampled_from(xs)), f"sig-{i}-{j}", at(),
                                       _dims(value, VALUES), shard))
    for r in draw(st.lists(st.sampled_from(records), max_size=3)) if records else []:
        dup = copy.deepcopy(r) | {"_offset": next(_offsets)}
        if dup["type"] == SR and draw(st.booleans()):
            dup["nps"] = 0  # a resend with another payload: the first stored wins
        records.append(dup)
    order = draw(st.permutations(records))
    cuts = sorted(draw(st.lists(st.integers(0, len(order)), max_size=4)))
    batches = [order[a:b] for a, b in zip([0, *cuts], [*cuts, len(order)]) if b > a]
    return batches, draw(st.integers(0, 4))


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(stream=streams())
async def test_view_and_ledger_answer_the_same_for_any_arrival_order(chdb_dsn: str, stream) -> None:
    batches, restart_after = stream
    with migrated_warehouse(chdb_dsn, "lc") as wh:
        committed = await commit_all(wh, batches, restart_after)
        await assert_paths_agree(wh, committed)


async def test_view_and_ledger_agree_on_a_busy_stream_with_late_and_replayed_events(chdb_dsn: str) -> None:
    rng = random.Random(12)
    t = T0 + 6 * HOUR_MS
    records: list[dict] = []
    for i in range(160):
        iid = f"b{i}" if i % 9 else ""
        shard = i % 3
        when = t + rng.randrange(3 * DAY_MS)
        if iid and i % 5:
            dims = {d: rng.choice(vs) for d, vs in VALUES.items() if rng.random() < 0.85}
            records.append(tp(f"btp-{i}", when, iid, dims, shard=shard, first_contact=rng.choice([None, True, False]),
                              resolved=rng.choice([None, True, False]),
                              wait_s=rng.choice([None, round(rng.uniform(0, 900), 2)]),
                              handle_s=rng.choice([None, round(rng.uniform(0, 1800), 1)]),
                              **{f: rng.choice([None, True, False]) for f in ("transferred", "abandoned", "converted")}))
        for j in range(rng.randrange(3)):
            late = rng.choice([-HOUR_MS, 0, 5 * MINUTE_MS, DAY_MS + HOUR_MS])  # before it, with it, days later
            records.append(answer(
                f"bsr-{i}-{j}", max(T0, when + late), iid,
                {"segment": rng.choice(VALUES["segment"])} if rng.random() < 0.2 else {},
                nps=rng.choice([None, *range(11)]), csat=rng.choice([None, *range(1, 6)]),
                ces=rng.choice([None, *range(1, 8)]), fcr=rng.choice([None, True, False]), shard=shard))
        if rng.random() < 0.6:
            records.append(invitation(f"binv-{i}", when - MINUTE_MS, iid, shard=shard))
        if rng.random() < 0.5:
            dims = {d: rng.choice(vs) for d, vs in VALUES.items() if d != "team" and rng.random() < 0.85}
            records.append(draw_signal(rng.choice, f"bsig-{i}", when + rng.randrange(HOUR_MS), dims, shard))
    rng.shuffle(records)
    batches = [records[i:i + 37] for i in range(0, len(records), 37)]
    batches.append([copy.deepcopy(r) | {"_offset": next(_offsets)} for r in rng.sample(records, 60)])  # replays
    with migrated_warehouse(chdb_dsn, "lcb") as wh:
        committed = await commit_all(wh, batches, restart_after=4)
        assert await assert_paths_agree(wh, committed, every=True) > 1000
        # A crossing no view holds (task x segment x site), checked against the naive counts alone.
        crossing = ("journey_step", "segment", "site")
        assert choose_source([list(v) for v in VIEWS], crossing) is LEDGER
        for size in SIZES:
            got = rows_of(await ledger_windows(wh, TENANT, size.ms, crossing, {"channel": "chat"}, FROM_S, TO_S))
            assert got == naive(committed, size.ms, crossing, {"channel": "chat"}) and got


#: Every bound moved, some to "never" (None), and a mention score bound off the default grid.
NON_DEFAULT = {"nps": (4, 8), "csat": (1, 5), "ces": (None, 7), "review": (3, 5), "mention_score": (-0.5, None)}


async def test_view_and_ledger_agree_under_a_non_default_experience_definition(chdb_dsn: str) -> None:
    """The configured definition is the one source: the stream counters (views) and the ledger SQL
    both count positive and negative answers and signals by it, as the naive reference does."""
    rng = random.Random(21)
    records: list[dict] = []
    for i in range(140):
        shard, when = i % 2, T0 + 6 * HOUR_MS + rng.randrange(2 * DAY_MS)
        dims = {d: rng.choice(vs) for d, vs in VALUES.items() if d != "team" and rng.random() < 0.8}
        records.append(answer(f"xsr-{i}", when, "", {k: v for k, v in dims.items() if k != "site"},
                              nps=rng.choice([None, *range(11)]), csat=rng.choice([None, *range(1, 6)]),
                              ces=rng.choice([None, *range(1, 8)]), shard=shard))
        records.append(draw_signal(rng.choice, f"xsig-{i}", when, dims, shard))
        if rng.random() < 0.3:
            records.append(signal(f"xmen-{i}", when, dims, "mention", score=rng.choice([-0.5, -0.49, 0.7]), shard=shard))
    rng.shuffle(records)
    batches = [records[i:i + 50] for i in range(0, len(records), 50)]
    configure_experience(NON_DEFAULT)
    try:
        with migrated_warehouse(chdb_dsn, "lcx") as wh:
            committed = await commit_all(wh, batches, restart_after=3)
            assert await assert_paths_agree(wh, committed, experience=NON_DEFAULT) > 100
    finally:
        configure_experience(DEFAULT_BOUNDS)
    # The definition matters on this stream (so the test can fail): the default one counts otherwise.
    day = naive(committed, DAY_MS, (), {}, NON_DEFAULT)
    assert day != naive(committed, DAY_MS, (), {}, DEFAULT_EXPERIENCE)
    assert sum(c.sig_negative for c in day.values()) > 0 and sum(c.answers_positive for c in day.values()) > 0


def test_every_counter_is_fed_by_exactly_one_ledger_table() -> None:
    fed = [f for counters in counter_sql().values() for f in counters]
    assert sorted(fed) == sorted(FIELDS) and len(fed) == len(set(fed))


def test_choose_source_prefers_the_smallest_covering_view_and_bounds_ledger_crossings() -> None:
    views = [[], ["channel"], ["channel", "segment"]]
    assert choose_source(views, ("segment",), ("channel",)).name == "view:channel*segment"
    assert choose_source(views, (), ()).name == "view:overall"
    assert choose_source(views, ("journey_step", "segment")).name == "ledger"
    assert choose_source(views, ("journey_step", "segment", "team", "site"), ("region", "queue")) is LEDGER
    from core.errors import QueryError
    with pytest.raises(QueryError) as exc:
        choose_source(views, ("journey_step", "segment", "team", "site", "region"))
    assert exc.value.loc == "group_by"
