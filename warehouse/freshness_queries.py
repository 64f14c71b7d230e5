"""How fresh a tenant's windows are (``GET /v1/status``): the age of their latest write and the
latest event time the ledger holds."""
from __future__ import annotations

from typing import Any

from core.dimensions import validate_view, view_name
from warehouse.client import Warehouse
from warehouse.tables import TABLE_OF_TYPE, Table

__all__ = ["window_freshness"]


async def window_freshness(wh: Warehouse, tenant: str, size: str | None = None,
                           view: tuple[str, ...] | None = None) -> tuple[float | None, int | None]:
    """(seconds since the tenant's windows were last written, latest event time in ms).

    With ``size`` and ``view`` (a configured size and view), only their rows are read: every commit
    that writes a window row writes one of every configured size and view (each record counts in a
    cell of each), so their latest write is the tenant's, and they are a short range of the sort
    key where the whole tenant is a scan of every window row (seconds at millions of rows). The
    latest event then lies in or after their latest window (windows are written before the ledger),
    which bounds the ledger read to it; without such rows, or if that finds nothing (a commit
    between its window and ledger writes), the whole ledger of the tenant is read.
    """
    where = "tenant = {tenant:String}"
    params: dict[str, Any] = {"tenant": tenant}
    if size is not None and view is not None:
        where += " AND size = {size:String} AND view = {view:String}"
        params.update(size=size, view=view_name(validate_view(list(view))))
    res = await wh.aquery(
        f"SELECT dateDiff('millisecond', max(updated_at), now64(3)) / 1000, count(), "
        f"toInt64(toUnixTimestamp(max(window_start))) * 1000 FROM {Table.kpi_windows.value} WHERE {where}",
        params,
    )
    age, rows, last_window_ms = res.result_rows[0]
    latest = await _latest_event(wh, tenant, last_window_ms if rows and size is not None else None)
    if latest is None and rows and size is not None:
        latest = await _latest_event(wh, tenant, None)
    return (float(age) if rows else None), latest


async def _latest_event(wh: Warehouse, tenant: str, from_ms: int | None) -> int | None:
    since = "" if from_ms is None else " AND time_ms >= {from:Int64}"
    latest = await wh.aquery(
        " UNION ALL ".join(f"SELECT max(time_ms) AS m, count() AS c FROM {t.value} WHERE tenant = {{tenant:String}}{since}"
                           for t in TABLE_OF_TYPE.values()),
        {"tenant": tenant, "from": from_ms},
    )
    times = [m for m, c in latest.result_rows if c]
    return max(times) if times else None
