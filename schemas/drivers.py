"""The key-driver API contract (responses of GET /v1/drivers)."""
from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class DriverPoint(BaseModel):
    aspect: str = Field(description="The rated aspect (configured in `aspects`)")
    label: str = Field(description="Its configured label")
    n: int = Field(description="Answers in the scope carrying both the aspect and the outcome score")
    r: float | None = Field(description="Pearson correlation of the aspect score with the outcome score; "
                            "null when n < 2 or either does not vary")
    ci_low: float | None = Field(description="Lower bound of the Fisher-z interval of r (null when n < 4)")
    ci_high: float | None = Field(description="Upper bound of the Fisher-z interval of r (null when n < 4)")
    slope: float | None = Field(description="Least-squares outcome points per aspect point")
    mean: float | None = Field(description="The aspect's mean score over these answers")
    significant: bool = Field(description="The interval of r excludes 0")
    low_sample: bool = Field(description="n is below the configured minimum: do not act on it")


class DriverRanking(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "metric": "nps", "from": "2026-11-01T00:00:00Z", "to": "2026-11-29T00:00:00Z", "confidence": 0.95,
        "filters": {"journey_step": "billing"}, "rule": "abs_r",
        "data": [{"aspect": "wait_time", "label": "Wait time", "n": 412, "r": 0.61, "ci_low": 0.55,
                  "ci_high": 0.67, "slope": 1.4, "mean": 3.2, "significant": True, "low_sample": False}],
        "count": 1,
    }]})

    metric: str = Field(description="The outcome: `nps` (the 0-10 score) or `csat` (the 1-5 score)")
    from_: datetime = Field(alias="from", description="Start of the answers' event-time range (inclusive)")
    to: datetime = Field(description="End of the range (exclusive)")
    confidence: float
    filters: dict[str, str]
    rule: str = Field(description="How the aspects are ranked: `abs_r`, strongest |r| first (undefined r last, "
                      "ties by name)")
    data: list[DriverPoint]
    count: int
