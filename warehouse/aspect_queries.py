"""Reads of the rated aspects' window counters (``aspect_windows``, migration 0015).

The cells share ``kpi_windows``' key (tenant, size, view, window start, dimensions), so a read
selects them with the same conditions (:func:`warehouse.queries.view_cells_where`) and sums them
over shards and over view dimensions not grouped by, like :func:`warehouse.queries.read_windows`.
"""
from __future__ import annotations

from core.dimensions import dim_sql, validate_view
from warehouse.client import Warehouse
from warehouse.queries import view_cells_where
from warehouse.tables import Table

__all__ = ["read_aspect_windows"]


async def read_aspect_windows(
    wh: Warehouse, tenant: str, size: str, view: tuple[str, ...], group_by: tuple[str, ...],
    filters: dict[str, str], from_s: int, to_s: int, step_s: int | None = None,
) -> dict[tuple[int, tuple[str, ...]], dict[str, list[int]]]:
    """The rated aspects' counters of a view (``aspect_windows``), summed like :func:`warehouse.queries.read_windows`:
    {(window start s, group values): {aspect: [n, sum, sumsq, top2]}}, aspects with n = 0 left out."""
    group_by = validate_view(list(group_by))
    where, params = view_cells_where(tenant, size, view, filters, from_s, to_s, step_s)
    keys = ", ".join(["toUnixTimestamp(window_start)", *map(dim_sql, group_by), "aspect"])
    res = await wh.aquery(
        f"SELECT {keys}, sum(n), sum(sum), sum(sumsq), sum(top2) FROM {Table.aspect_windows.value} FINAL "
        f"WHERE {' AND '.join(where)} GROUP BY {keys}",
        params,
    )
    g = len(group_by)
    out: dict[tuple[int, tuple[str, ...]], dict[str, list[int]]] = {}
    for r in res.result_rows:
        counters = [int(v) for v in r[g + 2:]]
        if any(counters):
            out.setdefault((int(r[0]), tuple(r[1:1 + g])), {})[r[1 + g]] = counters
    return out
