"""Pure KPI maths shared by the stream processors and the API (no I/O).

- :mod:`kpi.counts`: additive state (:class:`KpiCounts`) and a record's
  contribution to it (:func:`add_record`, :func:`contribution`).
- :mod:`kpi.measures`: KPI values and intervals computed on read
  (:func:`measure`, :func:`rolling`).
- :mod:`kpi.weighted`: weighted survey KPIs with Kish's effective sample
  size, computed on read from the ledger (:func:`~kpi.weighted.weighted_measure`).
- :mod:`kpi.stats`: the statistics behind them (intervals, quantiles,
  two-sample tests), standard library only.
"""
from kpi import stats
from kpi.counts import FIELDS, KpiCounts, add_record, contribution
from kpi.measures import KpiValue, Metric, measure, rolling

__all__ = [
    "FIELDS",
    "KpiCounts",
    "KpiValue",
    "Metric",
    "add_record",
    "contribution",
    "measure",
    "rolling",
    "stats",
]
