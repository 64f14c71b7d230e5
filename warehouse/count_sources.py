"""Where a read's KPI counters come from: a stored view, or the ledger for any other crossing.

A stored view answers when it holds every dimension the read groups or filters by (the smallest
such view, ``queries.choose_view``); otherwise the ledger does (``warehouse.ledger_counts``),
with the same rows a view of those dimensions would hold. Reads go through :func:`read_counts`,
so the path is chosen in one place and every caller (``GET /v1/kpis``, ``/v1/gaps``) can say
which one answered (:attr:`CountSource.name`).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from core.dimensions import MAX_GROUP_BY, validate_view, view_name
from core.errors import NoViewCovers, QueryError
from core.windows import WindowSize
from warehouse import aspect_queries, queries
from warehouse.client import Warehouse
from warehouse.ledger_counts import ledger_aspect_cells, ledger_windows
from warehouse.queries import WindowRow

__all__ = ["LEDGER", "LEDGER_UNFLAGGED", "CountSource", "choose_source", "read_counts"]


@dataclass(frozen=True, slots=True)
class CountSource:
    """A stored view (its dimensions, canonical order), or the ledger (``view is None``)."""

    view: tuple[str, ...] | None
    #: ledger only: leave out answers with a quality flag (``kpi.panel.QUALITY``; the cells count them)
    exclude_flagged: bool = False

    @property
    def name(self) -> str:
        """``view:<name>`` (e.g. ``view:channel*segment``, ``view:overall``) or ``ledger``."""
        return "ledger" if self.view is None else f"view:{view_name(self.view)}"

    @classmethod
    def of_view(cls, view: Sequence[str]) -> CountSource:
        return cls(validate_view(list(view)))


LEDGER = CountSource(None)
#: The ledger without quality-flagged answers (``GET /v1/kpis?exclude_flagged=true``).
LEDGER_UNFLAGGED = CountSource(None, exclude_flagged=True)


def choose_source(views: list[list[str]], group_by: Sequence[str], filtered: Sequence[str] = ()) -> CountSource:
    """The smallest stored view holding every grouped and filtered dimension, else the ledger.

    The ledger groups by at most :data:`core.dimensions.MAX_GROUP_BY` dimensions (filters are any
    number): past it, :class:`~core.errors.QueryError` at ``group_by``."""
    needed = {*group_by, *filtered}
    try:
        return CountSource(queries.choose_view(views, needed))
    except NoViewCovers:
        validate_view(sorted(needed))
        if len(set(group_by)) > MAX_GROUP_BY:
            raise QueryError(f"at most {MAX_GROUP_BY} dimensions can be grouped by unless a stored view holds "
                             f"them; asked {sorted(set(group_by))}", "group_by") from None
        return LEDGER


async def read_counts(
    wh: Warehouse, tenant: str, size: str, source: CountSource, group_by: tuple[str, ...],
    filters: dict[str, str], from_s: int, to_s: int, step_s: int | None = None, aspects: bool = False,
) -> list[WindowRow]:
    """Counters per (window of ``size`` starting in [``from_s``, ``to_s``), group), from ``source``.

    ``step_s``: only the windows starting at ``from_s + k * step_s`` are needed (gap baselines compare a
    few periods); a view reads only those, the ledger path may return the others too.

    Cells holding nothing (every counter zero: an answer that moved to its touchpoint's
    dimensions leaves one behind in a view) are left out, so both paths return the same rows.

    ``aspects``: also the rated aspects' counters (``KpiCounts.aspects``; ``aspect_windows`` or the
    ledger's answers), for the reads of an aspect metric; left out otherwise (one query less).
    """
    if source.view is None:
        rows = await ledger_windows(wh, tenant, WindowSize(size).ms, group_by, filters, from_s, to_s,
                                    exclude_flagged=source.exclude_flagged)
        if aspects:
            cells = await ledger_aspect_cells(wh, tenant, WindowSize(size).ms, group_by, filters, from_s, to_s,
                                              exclude_flagged=source.exclude_flagged)
            _attach(rows, {(start, group): a for (start, _, group), a in cells.items()})
        return rows
    rows = await queries.read_windows(wh, tenant, size, source.view, group_by, filters, from_s, to_s, step_s=step_s)
    rows = [r for r in rows if not r.counts.is_zero()]
    if aspects:
        _attach(rows, await aspect_queries.read_aspect_windows(wh, tenant, size, source.view, group_by, filters, from_s,
                                                        to_s, step_s=step_s))
    return rows


def _attach(rows: list[WindowRow], aspects: dict[tuple[int, tuple[str, ...]], dict[str, list[int]]]) -> None:
    """Set each row's ``counts.aspects`` (a cell with aspects always has its answers' row)."""
    for row in rows:
        found = aspects.get((row.window_start, row.group))
        if found:
            row.counts.aspects = found
