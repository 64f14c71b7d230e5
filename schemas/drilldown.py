"""The drill-down contract: records behind a KPI value, and weighted KPI series.

Responses of ``GET /v1/responses``, ``GET /v1/touchpoints`` (pages of
records, lists as ``data`` + ``count`` + ``next_cursor``) and
``GET /v1/kpis/weighted``. Customer ids appear only as the keyed pseudonym
ingest stored; ``dims`` are the dimensions a record counts under (for an
answer: its touchpoint's, overridden by the respondent's own).
"""
from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from schemas.kpis import Series, SeriesPoint


class _RecordBase(BaseModel):
    id: str = Field(description="CloudEvent id")
    source: str = Field(description="CloudEvent source")
    time: datetime = Field(description="Event time (UTC)")
    interaction_id: str | None
    subject: str | None
    customer: str | None = Field(description="Pseudonymized customer id (keyed HMAC); never the raw id")
    dims: dict[str, str] = Field(description="Dimensions the record counts under (known ones only)")


class ResponseRecord(_RecordBase):
    survey_id: str
    nps: int | None
    csat: int | None
    ces: int | None
    fcr: bool | None
    comment: str | None
    weight: float | None = Field(description="Analytical weight; null counts as 1 in weighted KPIs")
    overrides: dict[str, str] = Field(description="Dimensions the respondent gave, which win over the touchpoint's")
    attributed: bool = Field(description="False while the answer's touchpoint is not known yet")
    duration_s: float | None = Field(description="Completion time the survey tool sent (seconds), if any")
    flags: list[Literal["repeat", "straight_lining", "too_fast", "contradictory"]] = Field(
        description="Panel health flags of the answer (`kpi.panel`), in this order: `repeat` (respondent rule; a "
        "repeat counts in no KPI, so it is behind no value and never listed here), `straight_lining`, `too_fast`, "
        "`contradictory` (left out of KPIs with `exclude_flagged=true`); empty: none")
    aspects: dict[str, int] = Field(description="Rated aspects: name -> score (`answers.aspects`); empty: none rated")


class TouchpointRecord(_RecordBase):
    wait_s: float | None
    handle_s: float | None
    resolved: bool | None
    first_contact: bool | None
    transferred: bool | None
    abandoned: bool | None
    converted: bool | None


class _PageBase(BaseModel):
    metric: str = Field(description="The records behind this metric's n")
    window_start: datetime = Field(description="Records with window_start <= time < window_end")
    window_end: datetime
    filters: dict[str, str]
    source: str = Field("ledger", description="What answered: always `ledger` (the stored events), for any filters")
    count: int = Field(description="Records on this page")
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page")


class ResponsePage(_PageBase):
    data: list[ResponseRecord]


class TouchpointPage(_PageBase):
    data: list[TouchpointRecord]


class WeightedPoint(SeriesPoint):
    value: float | None = Field(description="Weighted KPI value; null without answers")
    n: int = Field(description="Answers behind the value (the n of the unweighted KPI)")
    effective_n: float = Field(description="Kish effective sample size (Σw)² / Σw²")
    sum_weights: float
    ci_low: float | None = Field(description="Interval computed on effective_n")
    ci_high: float | None
    low_sample: bool = Field(description="effective_n is below the configured minimum")
    weighted_counts: dict[str, float] = Field(description="Weighted counters behind the value (Σw per class)")


class WeightedSeries(Series[WeightedPoint]):
    pass
