"""``read_windows(step_s=)``: only the windows a gap baseline compares (same hour of previous weeks)."""
from __future__ import annotations

import pytest

from core.windows import HOUR_MS, MINUTE_MS
from tests.conftest import migrated_warehouse
from tests.integration.test_checkpoint import T0, TENANT, checkpointer, commit, tp
from warehouse import queries
from warehouse.client import Warehouse

pytestmark = [pytest.mark.integration]
WEEK_MS = 7 * 24 * HOUR_MS


@pytest.fixture
def wh(chdb_dsn: str):
    with migrated_warehouse(chdb_dsn, "step") as warehouse:
        yield warehouse


async def test_only_windows_a_step_apart_from_the_start(wh: Warehouse) -> None:
    ck = checkpointer(wh)
    # k touchpoints in hour k of each of three weeks, one batch a week (in time order)
    for week in range(3):
        batch = [tp(f"tp-{week}-{h}-{i}", T0 + week * WEEK_MS + h * HOUR_MS + MINUTE_MS, f"i-{week}-{h}-{i}", "voice")
                 for h in (0, 1, 5) for i in range(h + 1)]
        await commit(ck, batch)
    rows = await queries.read_windows(wh, TENANT, "1h", ("channel",), ("channel",), {}, (T0 + HOUR_MS) // 1000,
                                      (T0 + 2 * WEEK_MS + 2 * HOUR_MS) // 1000, step_s=WEEK_MS // 1000)
    assert [(r.window_start * 1000, r.group, r.counts.touchpoints) for r in rows] == [
        (T0 + HOUR_MS, ("voice",), 2), (T0 + WEEK_MS + HOUR_MS, ("voice",), 2), (T0 + 2 * WEEK_MS + HOUR_MS, ("voice",), 2)]
    every = await queries.read_windows(wh, TENANT, "1h", ("channel",), ("channel",), {}, (T0 + HOUR_MS) // 1000,
                                       (T0 + 2 * WEEK_MS + 2 * HOUR_MS) // 1000)
    assert len(every) == 7  # week 0: hours 1, 5; week 1: hours 0, 1, 5; week 2: hours 0, 1
