"""The KPI API contract (responses of GET /v1/kpis)."""
from __future__ import annotations

from datetime import datetime
from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

P = TypeVar("P", bound=BaseModel)


# The window and group every KPI-series point starts with (/v1/kpis, /v1/kpis/weighted, /v1/stream).
class SeriesPoint(BaseModel):
    window_start: datetime
    window_end: datetime
    group: dict[str, str] = Field(description="Values of the group_by dimensions ('' = not known)")


# The envelope of a KPI series: the read's parameters as applied, the points and their count.
class Series(BaseModel, Generic[P]):
    metric: str
    window: str
    confidence: float
    group_by: list[str]
    filters: dict[str, str]
    source: str = Field(description="What answered: `view:<name>` (stored windows) or `ledger` (a crossing no "
                        "stored view holds, counted from the stored events with the same rules)")
    data: list[P]
    count: int


class KpiPoint(SeriesPoint):
    value: float | None = Field(description="KPI value; null when n = 0")
    n: int = Field(description="Sample size behind the value (answers, or touchpoints for volume)")
    ci_low: float | None = Field(description="Lower bound of the confidence interval")
    ci_high: float | None = Field(description="Upper bound of the confidence interval")
    low_sample: bool = Field(description="n is below the configured minimum: do not act on it")
    counts: dict[str, int] = Field(description="The additive counters the value is computed from")


class KpiSeries(Series[KpiPoint]):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "metric": "nps", "window": "1h", "confidence": 0.95, "group_by": ["channel"], "filters": {},
        "data": [{"window_start": "2026-05-01T12:00:00Z", "window_end": "2026-05-01T13:00:00Z",
                  "group": {"channel": "phone"}, "value": 32.5, "n": 240, "ci_low": 22.1, "ci_high": 42.3,
                  "low_sample": False, "counts": {"promoters": 120, "passives": 78, "detractors": 42}}],
        "count": 1,
    }]})
