"""The counters of rated aspects (``core.aspects``), for :mod:`kpi.counts`.

``KpiCounts.aspects`` maps an aspect name to its four additive counters ``[n, sum, sum of squares,
top-2 count]`` (scores ``>= top2_min``) over the answers rating it. They are not columns of
``kpi_windows`` (aspects are configured, not fixed): the writer stores them in ``aspect_windows``
(migration 0015) next to the cell's row. Only configured aspects count (a score of an aspect removed
from the configuration stays in the ledger, uncounted). ``None`` when no answer of the cell rated an
aspect; an entry retracted to zero stays (the writer then rewrites its stored row as zero).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core.aspects import top2_thresholds

__all__ = ["add_aspects", "merge_aspects"]


def add_aspects(target: Any, rated: Mapping[str, int], sign: int) -> None:
    """Count one answer's aspect scores into ``target.aspects`` (``sign`` multiplies)."""
    top2 = top2_thresholds()
    cells = target.aspects
    for name, score in rated.items():
        threshold = top2.get(name)
        if threshold is None:
            continue  # not configured (any more): kept in the ledger, not counted
        if cells is None:
            cells = target.aspects = {}
        cell = cells.get(name)
        if cell is None:
            cell = cells[name] = [0, 0, 0, 0]
        cell[0] += sign
        cell[1] += sign * score
        cell[2] += sign * score * score
        if score >= threshold:
            cell[3] += sign


def merge_aspects(target: Any, other: Mapping[str, list[int]], sign: int) -> None:
    """Add (``sign=1``) or subtract (``-1``) another cell's aspect counters into ``target.aspects``."""
    mine = target.aspects
    if mine is None:
        mine = target.aspects = {}
    for name, (n, total, sumsq, top2) in other.items():
        cell = mine.get(name)
        if cell is None:
            mine[name] = [sign * n, sign * total, sign * sumsq, sign * top2]
        else:
            cell[0] += sign * n
            cell[1] += sign * total
            cell[2] += sign * sumsq
            cell[3] += sign * top2
