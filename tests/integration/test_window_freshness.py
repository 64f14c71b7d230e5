"""``window_freshness`` read from one size and view (what ``GET /v1/status`` asks) against the whole tenant."""
from __future__ import annotations

import pytest

from core.windows import MINUTE_MS, WindowSize
from tests.conftest import migrated_warehouse
from tests.integration.test_checkpoint import T0, TENANT, answer, checkpointer, commit, tp
from warehouse import freshness_queries
from warehouse.client import Warehouse

pytestmark = [pytest.mark.integration]


@pytest.fixture
def wh(chdb_dsn: str):
    with migrated_warehouse(chdb_dsn, "fresh") as warehouse:
        yield warehouse


async def test_one_size_and_view_answer_as_the_whole_tenant(wh: Warehouse) -> None:
    ck = checkpointer(wh)
    await commit(ck, [tp("tp-1", T0 + 5 * MINUTE_MS, "i1", "voice", "t1"),
                      answer("sr-1", T0 + 7 * MINUTE_MS + 123, "i1", nps=9)])
    # a late touchpoint: the latest event stays the answer's
    await commit(ck, [tp("tp-0", T0 + 2 * MINUTE_MS, "i0", "chat", "t2")])
    whole = await freshness_queries.window_freshness(wh, TENANT)
    bounded = await freshness_queries.window_freshness(wh, TENANT, WindowSize.day.value, ())
    assert whole[1] == bounded[1] == T0 + 7 * MINUTE_MS + 123
    assert bounded[0] is not None and whole[0] is not None and abs(whole[0] - bounded[0]) < 5
    assert await freshness_queries.window_freshness(wh, "nobody", WindowSize.day.value, ()) == (None, None)


async def test_a_window_ahead_of_the_ledger_falls_back_to_the_whole_ledger(wh: Warehouse) -> None:
    ck = checkpointer(wh)
    await commit(ck, [tp("tp-1", T0 + 5 * MINUTE_MS, "i1", "voice", "t1")])
    # windows are written before the ledger: a commit cut between the two leaves a later window than any event
    wh.command("INSERT INTO kpi_windows (tenant, size, view, window_start, shard, touchpoints, version) "
               "VALUES ({t:String}, '1d', 'overall', toDateTime({s:Int64}, 'UTC'), 0, 1, 1)",
               {"t": TENANT, "s": (T0 + 86_400_000) // 1000})
    assert (await freshness_queries.window_freshness(wh, TENANT, WindowSize.day.value, ()))[1] == T0 + 5 * MINUTE_MS
