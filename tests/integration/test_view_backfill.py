"""A view added while running (``warehouse.view_backfill``): pending in the worker, history from the
ledger, then equal to what a view kept from the start would hold: nothing lost, nothing twice."""
from __future__ import annotations

import asyncio
import copy
import random

from core.windows import DAY_MS, MINUTE_MS, WindowSize
from stream_processors.checkpoint import Checkpointer
from tests.conftest import migrated_warehouse
from tests.integration.test_ledger_counts import FROM_S, TENANT, TO_S, T0, answer, invitation, naive, rows_of, tp
from warehouse.count_sources import LEDGER, CountSource, read_counts
from warehouse.view_backfill import backfill_view

import pytest

pytestmark = pytest.mark.integration

OLD = [(), ("channel",)]
NEW = ("journey_step", "segment")
SIZES = list(WindowSize)


def _records(rng: random.Random, prefix: str, first_ms: int, days: int, n: int) -> list[dict]:
    out = []
    for i in range(n):
        iid = f"{prefix}{i}"
        when = first_ms + rng.randrange(days * DAY_MS)
        dims = {"channel": rng.choice(["chat", "voice"]), "journey_step": rng.choice(["buy", "after_sales"]),
                "segment": rng.choice(["vip", "std"])}
        if rng.random() < 0.85:
            out.append(tp(f"{prefix}tp-{i}", when, iid, dims, first_contact=True, resolved=rng.random() < 0.5,
                          shard=i % 2))
        if rng.random() < 0.7:
            out.append(answer(f"{prefix}sr-{i}", when + rng.choice([-MINUTE_MS, 5 * MINUTE_MS, DAY_MS]), iid,
                              {"segment": "vip"} if rng.random() < 0.1 else {}, nps=rng.randrange(11),
                              ces=rng.choice([None, 3, 7]), shard=i % 2))
        if rng.random() < 0.5:
            out.append(invitation(f"{prefix}inv-{i}", when, iid, shard=i % 2))
    rng.shuffle(out)
    return out


async def _commit(ck: Checkpointer, records: list[dict], batch: int = 40) -> None:
    for i in range(0, len(records), batch):
        await ck.commit(copy.deepcopy(records[i:i + batch]))


def test_a_view_added_while_running_holds_exactly_what_the_ledger_does(chdb_dsn: str) -> None:
    rng = random.Random(21)
    before = _records(rng, "a", T0, 4, 150)  # stored before the view existed
    during = _records(rng, "b", T0 + 3 * DAY_MS, 2, 80)  # while it is backfilled
    late = _records(rng, "c", T0, 2, 40)  # history behind the watermark, into backfilled windows
    after = _records(rng, "d", T0 + 4 * DAY_MS, 1, 40)
    seen: list = []
    with migrated_warehouse(chdb_dsn, "bfv") as wh:
        async def run() -> None:
            await _commit(Checkpointer(warehouse=wh, views=OLD, sizes=SIZES, grace_ms=10 * MINUTE_MS), before)
            # 1. The view is pending: the restarted worker keeps it for every window it touches.
            ck = Checkpointer(warehouse=wh, views=[*OLD, NEW], sizes=SIZES, grace_ms=10 * MINUTE_MS)
            # 2. The backfill runs while the worker commits (interleaved on the shared warehouse).
            await asyncio.gather(backfill_view(wh, NEW, SIZES, progress=seen.append), _commit(ck, during, 20))
            await _commit(ck, late)
            assert await backfill_view(wh, NEW, SIZES) > 0  # again, after the worker wrote: harmless
            await _commit(ck, [*after, *before[:30]])  # and replays are still skipped

        asyncio.run(run())
        committed = [*before, *during, *late, *after]

        async def check() -> int:
            compared = 0
            for size in SIZES:
                for group, filters in ((NEW, {}), (("segment",), {"journey_step": "buy"}), ((), {"segment": "vip"})):
                    from_view = rows_of(await read_counts(wh, TENANT, size.value, CountSource(NEW), group, filters,
                                                          FROM_S, TO_S))
                    from_ledger = rows_of(await read_counts(wh, TENANT, size.value, LEDGER, group, filters,
                                                            FROM_S, TO_S))
                    want = naive(committed, size.ms, group, filters)
                    assert from_view == from_ledger == want, (size, group, filters)
                    compared += len(want)
            return compared

        assert asyncio.run(check()) > 300
    days = [p.days_done for p in seen]
    assert days == list(range(1, seen[-1].days_total + 1)) and seen[-1].days_total >= 4
    assert [p.day_ms for p in seen] == sorted(p.day_ms for p in seen) and seen[-1].rows > 0


def test_a_backfill_row_computed_before_a_worker_write_never_replaces_it(chdb_dsn: str, monkeypatch) -> None:
    """The worst interleaving, forced: the backfill reads the ledger, the worker then commits late
    events into those windows, and only then the backfill writes its (stale) rows."""
    import warehouse.view_backfill as vb

    rng = random.Random(5)
    before, late = _records(rng, "e", T0, 1, 60), _records(rng, "f", T0, 1, 30)
    with migrated_warehouse(chdb_dsn, "bfs") as wh:
        ck = Checkpointer(warehouse=wh, views=[*OLD, NEW], sizes=SIZES, grace_ms=10 * MINUTE_MS)
        real = vb.ledger_cells

        async def stale(*args, **kwargs):
            cells = await real(*args, **kwargs)
            if late:
                await _commit(ck, late)  # the worker writes the view's cells of these windows now
                late.clear()
            return cells

        async def run() -> None:
            await _commit(Checkpointer(warehouse=wh, views=OLD, sizes=SIZES, grace_ms=10 * MINUTE_MS), before)
            await ck.commit([tp("e-wm", T0 + 3 * DAY_MS, "wm", {})])  # closes the day's windows
            monkeypatch.setattr(vb, "ledger_cells", stale)
            await vb.backfill_view(wh, NEW, SIZES)

        committed = [*before, tp("e-wm", T0 + 3 * DAY_MS, "wm", {}), *late]
        asyncio.run(run())

        async def check() -> None:
            for size in SIZES:
                got = rows_of(await read_counts(wh, TENANT, size.value, CountSource(NEW), NEW, {}, FROM_S, TO_S))
                assert got == naive(committed, size.ms, NEW, {}), size

        asyncio.run(check())
