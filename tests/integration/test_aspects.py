"""Rated aspects (``core.aspects``): their window counters (``aspect_windows``, migration 0015) equal an
independent count, and the ledger answers any crossing with the same counters as the views.

Streams are committed through the real ``Checkpointer`` into chDB (answers before their touchpoint,
moved when it arrives, restarts rebuilding state from the ledger, late answers reloading closed
windows, replays, an erasure by the shard owner), then every view and grouping is read with
``aspects=True`` from the stored windows and from the ledger.
"""
from __future__ import annotations

import copy
import random
from collections import defaultdict

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core import aspects as aspect_config
from core.windows import DAY_MS, HOUR_MS, MINUTE_MS
from notifications.erasure import ErasureCommand
from stream_processors.erasure import erase_shard
from tests.conftest import migrated_warehouse
from tests.integration.test_ledger_counts import (
    FROM_S, SIZES, SR, TENANT, TO_S, T0, VALUES, VIEWS, _offsets, answer, checkpointer, commit_all, groupings,
    invitation, naive, rows_of, streams, tp,
)
from warehouse.count_sources import LEDGER, CountSource, choose_source, read_counts
from warehouse.ledger_counts import ledger_aspect_cells

pytestmark = pytest.mark.integration

#: name -> (min, max, top2_min); "legacy" is rated by some answers but not configured: never counted.
SCALES = {"wait_time": (1, 5, 4), "friendliness": (0, 10, 9)}


@pytest.fixture(autouse=True)
def configured():
    aspect_config.configure({n: {"min": lo, "max": hi, "top2_min": t2} for n, (lo, hi, t2) in SCALES.items()})
    yield
    aspect_config.configure({})


def rate(record: dict, rng: random.Random) -> dict:
    """An answer with some rated aspects (maybe none, maybe one not configured)."""
    rated = {n: rng.randint(lo, hi) for n, (lo, hi, _) in SCALES.items() if rng.random() < 0.7}
    if rng.random() < 0.2:
        rated["legacy"] = rng.randint(1, 5)
    if rated:
        record["aspects"] = rated
    return record


def naive_aspects(committed: list[dict], size_ms: int, group: tuple[str, ...], filters: dict[str, str]) -> dict:
    """{(window start s, group values): {aspect: [n, sum, sumsq, top2]}}, written out from the rules:
    the first delivery of each answer counts, under its touchpoint's dims with its overrides on top."""
    first: dict = {}
    for r in committed:
        first.setdefault((r["type"], r["tenant"], r["source"], r["id"]), r)
    unique = list(first.values())
    tp_dims = {r["interaction_id"]: r["dims"] for r in unique if r["type"] != SR and r["interaction_id"]
               and r["type"] == "cx.touchpoint.v1"}
    out: dict = defaultdict(dict)
    for r in unique:
        if r["type"] != SR or not r.get("aspects"):
            continue
        dims = {**tp_dims.get(r["interaction_id"], {}), **r["dims"]}
        if any(dims.get(k, "") != v for k, v in filters.items()):
            continue
        cell = out[(r["time_ms"] // size_ms * size_ms // 1000, tuple(dims.get(d, "") for d in group))]
        for name, score in r["aspects"].items():
            if name not in SCALES:
                continue
            c = cell.setdefault(name, [0, 0, 0, 0])
            c[0] += 1
            c[1] += score
            c[2] += score ** 2
            c[3] += score >= SCALES[name][2]
    return {k: v for k, v in out.items() if v}


def aspects_of(rows) -> dict:
    return {(r.window_start, r.group): r.counts.aspects for r in rows if r.counts.aspects}


async def assert_aspects_agree(wh, committed: list[dict], every: bool = False) -> int:
    compared = 0
    for size in SIZES:
        for view, group, filters in groupings(every):
            from_view = await read_counts(wh, TENANT, size.value, CountSource.of_view(view), group, filters,
                                          FROM_S, TO_S, aspects=True)
            from_ledger = await read_counts(wh, TENANT, size.value, LEDGER, group, filters, FROM_S, TO_S,
                                            aspects=True)
            expected = naive_aspects(committed, size.ms, group, filters)
            assert aspects_of(from_view) == expected, (size, view, group, filters)
            assert aspects_of(from_ledger) == expected, (size, view, group, filters)
            # and the other counters still agree (the aspects ride along, they change nothing else)
            assert rows_of(from_ledger) == rows_of(from_view)
            assert {k: v for k, v in rows_of(from_ledger).items()} == {
                k: _with_aspects(c, expected.get(k)) for k, c in naive(committed, size.ms, group, filters).items()}
            compared += sum(len(v) for v in expected.values())
    return compared


def _with_aspects(counts, found):
    counts.aspects = found
    return counts


@st.composite
def rated_streams(draw):
    batches, restart_after = draw(streams())
    rng = random.Random(draw(st.integers(0, 2**16)))
    by_id: dict = {}
    for batch in batches:
        for r in batch:
            if r["type"] == SR:
                # a resend keeps the first delivery's aspects unless it changes them (first stored wins)
                if r["id"] in by_id and rng.random() < 0.5:
                    r["aspects"] = copy.deepcopy(by_id[r["id"]])
                else:
                    rate(r, rng)
                by_id.setdefault(r["id"], r.get("aspects"))
    return batches, restart_after


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(stream=rated_streams())
async def test_aspect_windows_and_the_ledger_equal_an_independent_count(chdb_dsn: str, stream) -> None:
    batches, restart_after = stream
    with migrated_warehouse(chdb_dsn, "asp") as wh:
        committed = await commit_all(wh, batches, restart_after)
        await assert_aspects_agree(wh, committed)


async def test_aspects_on_a_busy_stream_with_moves_late_answers_and_replays(chdb_dsn: str) -> None:
    rng = random.Random(7)
    t = T0 + 6 * HOUR_MS
    records: list[dict] = []
    for i in range(120):
        iid = f"a{i}" if i % 7 else ""
        shard = i % 2
        when = t + rng.randrange(3 * DAY_MS)
        if iid and i % 4:
            records.append(tp(f"atp-{i}", when, iid, {d: rng.choice(vs) for d, vs in VALUES.items()}, shard=shard))
        for j in range(rng.randrange(3)):
            late = rng.choice([-HOUR_MS, 0, 5 * MINUTE_MS, DAY_MS + HOUR_MS])
            records.append(rate(answer(f"asr-{i}-{j}", max(T0, when + late), iid,
                                       {"segment": "vip"} if rng.random() < 0.2 else {},
                                       nps=rng.choice([None, *range(11)]), shard=shard), rng))
        if rng.random() < 0.4:
            records.append(invitation(f"ainv-{i}", when - MINUTE_MS, iid, shard=shard))
    rng.shuffle(records)
    batches = [records[i:i + 29] for i in range(0, len(records), 29)]
    batches.append([copy.deepcopy(r) | {"_offset": next(_offsets)} for r in rng.sample(records, 40)])
    with migrated_warehouse(chdb_dsn, "aspb") as wh:
        committed = await commit_all(wh, batches, restart_after=3)
        assert await assert_aspects_agree(wh, committed, every=True) > 500
        crossing = ("journey_step", "segment", "site")  # no view holds it: the ledger alone
        assert choose_source([list(v) for v in VIEWS], crossing) is LEDGER
        for size in SIZES:
            cells = await ledger_aspect_cells(wh, TENANT, size.ms, crossing, {"channel": "chat"}, FROM_S, TO_S)
            got = {(s, g): a for (s, _, g), a in cells.items()}
            assert got == naive_aspects(committed, size.ms, crossing, {"channel": "chat"}) and got


async def test_a_retraction_rewrites_the_stored_aspect_row_as_zero(chdb_dsn: str) -> None:
    """An answer waiting for its touchpoint counts under its own dims; when the touchpoint arrives the
    cell it leaves keeps a zero aspect row (read as nothing) and the new cell gets the scores."""
    early = rate(answer("w1", T0 + HOUR_MS, "iw"), random.Random(1)) | {"aspects": {"wait_time": 2}}
    with migrated_warehouse(chdb_dsn, "aspr") as wh:
        committed = await commit_all(wh, [[early], [tp("tw", T0 + HOUR_MS - 1, "iw", {"channel": "chat"})]], 99)
        rows = (await wh.aquery(
            "SELECT channel, n, sum FROM aspect_windows FINAL WHERE view = 'channel' AND size = '1h' "
            "ORDER BY channel")).result_rows
        assert [tuple(r) for r in rows] == [("", 0, 0), ("chat", 1, 2)]
        view = await read_counts(wh, TENANT, "1h", CountSource.of_view(("channel",)), ("channel",), {}, FROM_S, TO_S,
                                 aspects=True)
        assert aspects_of(view) == naive_aspects(committed, HOUR_MS, ("channel",), {}) == {
            ((T0 + HOUR_MS) // 1000, ("chat",)): {"wait_time": [1, 2, 4, 0]}}


async def test_an_erasure_retracts_the_customers_aspects(chdb_dsn: str) -> None:
    """The shard owner's erasure (``stream_processors.erasure``) retracts the erased answers' scores from
    ``aspect_windows`` as from every counter: the views then equal the count of what remains."""
    rng = random.Random(3)
    records = []
    for i in range(40):
        shard, who = i % 2, ("alice" if i % 3 == 0 else "bob")
        when = T0 + rng.randrange(2 * DAY_MS)
        records.append(tp(f"etp-{i}", when, f"e{i}", {"channel": rng.choice(VALUES["channel"])}, shard=shard)
                       | {"customer": who})
        records.append(rate(answer(f"esr-{i}", when + MINUTE_MS, f"e{i}", nps=rng.randrange(11), shard=shard), rng)
                       | {"customer": who})
    with migrated_warehouse(chdb_dsn, "aspe") as wh:
        ck = checkpointer(wh)
        await ck.commit(copy.deepcopy(records))
        before = await assert_aspects_agree(wh, records)
        for shard in (0, 1):
            await erase_shard(ck, ErasureCommand(tenant=TENANT, erasure_id="er-a", customer="alice",
                                                 requested_at_ms=T0 + 5 * DAY_MS, actor="test", shards=2), shard)
        left = [r for r in records if r["customer"] != "alice"]
        after = await assert_aspects_agree(wh, left)
        assert 0 < after < before
