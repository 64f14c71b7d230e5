"""History behind the watermark (issue 10, item 2): exact counts whatever the order, few ledger reads.

Days of history are committed after the watermark has moved ten days past them, in many small
shuffled batches with re-sent events and answers before and after their touchpoints, with closed
windows dropped at once, evicted under a small bound, or kept. The stored windows must equal the
naive count of the same events, and the windows of the same events committed in time order; and
every batch reads the ledger for closed windows at most once.
"""
from __future__ import annotations

import random
import uuid

import pytest

from core import metrics
from core.windows import DAY_MS, HOUR_MS, MINUTE_MS
from stream_processors.checkpoint import Checkpointer
from tests.integration.test_checkpoint import (
    GRACE_MS, SIZES, T0, VIEWS, answer, commit, invitation, naive, resend, stored, tp,
)
from warehouse.client import Warehouse
from warehouse.migrate import migrate

pytestmark = pytest.mark.integration

LIVE_AT = T0 + 10 * DAY_MS  # the watermark: every history window below is long closed


def history(seed: int, interactions: int = 120) -> list[dict]:
    """Two days of interactions on two shards: touchpoints, answers up to 2 h before or after them,
    invitations, answers whose touchpoint never comes, and re-sent copies of some of them."""
    rng = random.Random(seed)
    out: list[dict] = []
    for n in range(interactions):
        shard, iid = n % 2, f"i{seed}-{n}"
        t = T0 + rng.randrange(2 * DAY_MS)
        channel, team = rng.choice(["chat", "voice", "email"]), rng.choice(["", "red", "blue"])
        if rng.random() < 0.9:
            out.append(tp(f"tp-{iid}", t, iid, channel, team, first_contact=rng.random() < 0.5,
                          resolved=rng.random() < 0.5, shard=shard))
        if rng.random() < 0.6:
            out.append(invitation(f"inv-{iid}", t + rng.randrange(-HOUR_MS, HOUR_MS), iid, shard=shard))
        for k in range(rng.choice([0, 1, 1, 2])):
            out.append(answer(f"sr-{iid}-{k}", t + rng.randrange(-2 * HOUR_MS, 2 * HOUR_MS), iid,
                              nps=rng.randrange(11), csat=rng.choice([None, 1, 3, 5]),
                              overrides={"team": "green"} if rng.random() < 0.1 else None, shard=shard))
    out += [resend(r) for r in rng.sample(out, len(out) // 8)]
    return out


async def replay(wh: Warehouse, records: list[dict], batch: int, kept: int) -> None:
    """The watermark first, then ``records`` in batches; at most one closed-window read per batch."""
    ck = Checkpointer(warehouse=wh, views=list(VIEWS), sizes=list(SIZES), grace_ms=GRACE_MS, closed_cells_kept=kept)
    await commit(ck, [tp(f"live-{s}", LIVE_AT, f"live-{s}", "chat", shard=s) for s in (0, 1)])
    for i in range(0, len(records), batch):
        reads = metrics.CLOSED_WINDOW_READS._value.get()
        await commit(ck, records[i:i + batch])
        assert metrics.CLOSED_WINDOW_READS._value.get() - reads <= 1
        if kept:
            assert sum(len(ck.shards[s].windows) for s in ck.shards) > 0
    assert all(s.watermark_ms == LIVE_AT for s in ck.shards.values())


async def windows_of(wh: Warehouse) -> dict:
    return {(size, view): await stored(wh, size, view) for size in SIZES for view in VIEWS}


@pytest.fixture
def databases(chdb_dsn: str):
    opened: list[Warehouse] = []

    def open_fresh() -> Warehouse:
        wh = Warehouse.open(chdb_dsn, database=f"hist_{uuid.uuid4().hex[:12]}")
        migrate(wh)
        opened.append(wh)
        return wh

    yield open_fresh
    for wh in opened:
        wh.command(f"DROP DATABASE IF EXISTS {wh.database}")


@pytest.mark.parametrize("kept", [0, 60, 50_000], ids=["drop-at-once", "small-bound", "kept"])
async def test_history_behind_the_watermark_counts_exactly_in_any_order(databases, kept: int) -> None:
    records = history(seed=kept)
    live = [tp(f"live-{s}", LIVE_AT, f"live-{s}", "chat", shard=s) for s in (0, 1)]
    shuffled = random.Random(1).sample(records, len(records))
    in_time_order = sorted(records, key=lambda r: r["time_ms"])

    wh_shuffled, wh_ordered = databases(), databases()
    await replay(wh_shuffled, shuffled, batch=23, kept=kept)
    await replay(wh_ordered, in_time_order, batch=23, kept=kept)

    got = await windows_of(wh_shuffled)
    for size in SIZES:
        for view in VIEWS:
            assert got[(size, view)] == naive([*live, *records], size.ms, view), (size, view)
    assert got == await windows_of(wh_ordered)


async def test_a_window_reloaded_after_eviction_keeps_its_history(databases) -> None:
    """Under a bound of one cell every closed window leaves memory after each commit: its next late
    event reloads it from the ledger (a read of its span), adds to it, and loses nothing."""
    wh = databases()
    events = [tp(f"e{k}", T0 + k * 7 * MINUTE_MS, f"e{k}", "chat", shard=0) for k in range(40)]
    await replay(wh, events, batch=3, kept=1)
    live = [tp(f"live-{s}", LIVE_AT, f"live-{s}", "chat", shard=s) for s in (0, 1)]
    for size in SIZES:
        for view in VIEWS:
            assert await stored(wh, size, view) == naive([*live, *events], size.ms, view), (size, view)
