"""Key drivers: which rated aspects move with an outcome score (pure maths, no I/O).

For one aspect and one outcome (the NPS 0-10 or CSAT 1-5 score), over the answers carrying both,
the warehouse sums per aspect ``n, Σx, Σy, Σx², Σy², Σxy`` (x the aspect score, y the outcome; all
integers, so the sums are exact). From them:

* Pearson's r = (nΣxy − ΣxΣy) / sqrt((nΣx² − (Σx)²)(nΣy² − (Σy)²)), undefined (None) when n < 2
  or either score does not vary;
* its interval by Fisher's z: atanh(r) ± z_(1+c)/2 / sqrt(n − 3), mapped back by tanh (n ≥ 4);
* the slope of the least-squares line y = a + b·x, b = (nΣxy − ΣxΣy) / (nΣx² − (Σx)²): outcome
  points per aspect point, the "how much" next to r's "how closely".

:func:`rank` orders aspects by |r| (the strength of the relation, whatever its sign), undefined r
last, ties by name. Correlation is not causation: the ranking says which aspects move with the
outcome in the scope, the evidence a driver analysis starts from.

:func:`explain_change` is the gap side: when an outcome changed between two periods, each aspect's
change in mean score times its slope (in the current period) is the part of the outcome's change
it accounts for, ranked by its size.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from kpi import stats

__all__ = ["AspectChange", "Driver", "PairSums", "driver", "explain_change", "fisher_interval", "merge", "pearson",
           "rank", "slope"]


@dataclass(frozen=True, slots=True)
class PairSums:
    """Additive sums over (aspect score x, outcome score y) pairs of one aspect."""

    n: int = 0
    sx: int = 0
    sy: int = 0
    sxx: int = 0
    syy: int = 0
    sxy: int = 0

    def __add__(self, other: PairSums) -> PairSums:
        return PairSums(self.n + other.n, self.sx + other.sx, self.sy + other.sy, self.sxx + other.sxx,
                        self.syy + other.syy, self.sxy + other.sxy)

    def __sub__(self, other: PairSums) -> PairSums:
        """The pairs of ``self`` not in ``other`` (e.g. a scope minus one of its segments)."""
        return PairSums(self.n - other.n, self.sx - other.sx, self.sy - other.sy, self.sxx - other.sxx,
                        self.syy - other.syy, self.sxy - other.sxy)

    @classmethod
    def of(cls, pairs) -> PairSums:
        """From an iterable of (x, y)."""
        n = sx = sy = sxx = syy = sxy = 0
        for x, y in pairs:
            n += 1
            sx += x
            sy += y
            sxx += x * x
            syy += y * y
            sxy += x * y
        return cls(n, sx, sy, sxx, syy, sxy)


def merge(*parts: Mapping[str, PairSums]) -> dict[str, PairSums]:
    """{aspect: PairSums} summed over ``parts`` (periods, or segments of a scope)."""
    out: dict[str, PairSums] = {}
    for part in parts:
        for aspect, s in part.items():
            out[aspect] = out.get(aspect, PairSums()) + s
    return out


def pearson(s: PairSums) -> float | None:
    """Pearson's r from the sums; None when n < 2 or x or y is constant. Integer arithmetic until the
    final division, so it is exact up to one rounding."""
    if s.n < 2:
        return None
    cov = s.n * s.sxy - s.sx * s.sy
    vx = s.n * s.sxx - s.sx * s.sx
    vy = s.n * s.syy - s.sy * s.sy
    if vx <= 0 or vy <= 0:
        return None
    r = cov / math.sqrt(vx * vy)
    return max(-1.0, min(1.0, r))


def slope(s: PairSums) -> float | None:
    """Least-squares slope of y on x (outcome points per aspect point); None when x is constant or n < 2."""
    if s.n < 2:
        return None
    vx = s.n * s.sxx - s.sx * s.sx
    if vx <= 0:
        return None
    return (s.n * s.sxy - s.sx * s.sy) / vx


def fisher_interval(r: float, n: int, confidence: float = 0.95) -> tuple[float, float] | None:
    """Fisher-z interval of a correlation ``r`` over ``n`` pairs; None when n < 4. |r| = 1 gives (r, r)."""
    if n < 4:
        return None
    if abs(r) >= 1.0:
        return (r, r)
    z = math.atanh(r)
    half = stats.z_critical(confidence) / math.sqrt(n - 3)
    return math.tanh(z - half), math.tanh(z + half)


@dataclass(frozen=True, slots=True)
class Driver:
    """One aspect's relation to the outcome in a scope."""

    aspect: str
    n: int
    r: float | None
    ci_low: float | None
    ci_high: float | None
    slope: float | None
    mean: float | None  # the aspect's mean score over the pairs
    low_sample: bool

    @property
    def significant(self) -> bool:
        """The interval excludes 0."""
        return self.ci_low is not None and self.ci_high is not None and (self.ci_low > 0 or self.ci_high < 0)


def driver(aspect: str, s: PairSums, min_sample: int = 30, confidence: float = 0.95) -> Driver:
    r = pearson(s)
    ci = fisher_interval(r, s.n, confidence) if r is not None else None
    return Driver(aspect, s.n, r, ci[0] if ci else None, ci[1] if ci else None, slope(s),
                  s.sx / s.n if s.n else None, s.n < min_sample)


def rank(sums: Mapping[str, PairSums], min_sample: int = 30, confidence: float = 0.95) -> list[Driver]:
    """Every aspect's :class:`Driver`, strongest |r| first; undefined r last; ties by name."""
    drivers = [driver(a, s, min_sample, confidence) for a, s in sums.items()]
    return sorted(drivers, key=lambda d: (d.r is None, -abs(d.r) if d.r is not None else 0.0, d.aspect))


@dataclass(frozen=True, slots=True)
class AspectChange:
    """How much an aspect's change accounts for an outcome's change between two periods."""

    aspect: str
    mean_before: float
    mean_now: float
    change: float  # mean_now - mean_before, in aspect points
    slope: float  # outcome points per aspect point (current period)
    explained: float  # change * slope, in outcome points (the outcome's unit: 0-10 or 1-5 scores)
    n_now: int = 0  # answers with both scores, in the period observed
    n_before: int = 0  # ... and in the reference


def explain_change(before: Mapping[str, PairSums], now: Mapping[str, PairSums], min_n: int = 2) -> list[AspectChange]:
    """Per aspect with at least ``min_n`` pairs in both periods and a defined slope now: its change in mean
    score and the outcome change it accounts for (change × slope), largest |explained| first, ties by name."""
    out = []
    for aspect in sorted(set(before) & set(now)):
        b, c = before[aspect], now[aspect]
        if b.n < min_n or c.n < min_n:
            continue
        k = slope(c)
        if k is None:
            continue
        mb, mc = b.sx / b.n, c.sx / c.n
        out.append(AspectChange(aspect, mb, mc, mc - mb, k, (mc - mb) * k, c.n, b.n))
    return sorted(out, key=lambda a: (-abs(a.explained), a.aspect))
