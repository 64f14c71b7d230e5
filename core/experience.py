"""What a positive and a negative experience is, per metric: the ``experience`` settings section.

The positive:negative ratio (seed 002: leaders deliver 15 positive experiences for 5 negative ones)
counts survey answers and social signals as experiences (``kpi.counts``). Whether a score is
negative or positive is a deployment's choice, set here per metric as two inclusive bounds: a score
``<= negative_max`` is negative, a score ``>= positive_min`` is positive, anything between is
neither. ``null`` for a bound: that metric never makes an experience negative (or positive).

The defaults are the usual ones: NPS detractors 0-6 / promoters 9-10, CSAT 1-2 / 4-5, CES 1-3 / 6-7,
review ratings 1-2 / 4-5, mention sentiment scores -1..-0.05 / 0.05..1 (the common compound-score
cut-offs; a mention sent with a ``negative`` / ``positive`` label is that, whatever the bounds).

Validated at start (:class:`ExperienceSettings`): each bound inside its metric's scale
(:data:`SCALES`) and ``negative_max < positive_min``, so no score is both. ``kpi.counts.configure_experience``
installs them in the process; the stream counters and the ledger SQL (``warehouse.ledger_counts``)
both read them from there, so both count by the same definition.

Stored windows keep the definition in force when they were counted: changing it changes the counters
of events counted from then on (and of windows the worker rebuilds from the ledger: a restored shard's
open windows, a closed window a late event reloads), not of the stored rows. Windows counted under
the old definition therefore mix with new ones in a period spanning the change; a crossing answered
from the ledger (``source: ledger``) and a view backfilled from it (``warehouse.view_backfill``) count
the whole period by the new one. To restate history under a new definition, backfill the views from
the ledger after the change.
"""
from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator

__all__ = ["DEFAULT_BOUNDS", "METRICS", "SCALES", "Bounds", "ExperienceBounds", "ExperienceSettings",
           "validate_bounds"]

#: (lowest, highest) score of each metric an experience is judged on.
SCALES: dict[str, tuple[float, float]] = {
    "nps": (0, 10), "csat": (1, 5), "ces": (1, 7), "review": (1, 5), "mention_score": (-1.0, 1.0),
}
#: The survey answers' metrics (``kpi.counts`` judges an answer on these) and the signals' ones.
METRICS: tuple[str, ...] = tuple(SCALES)

Bounds = tuple[float | None, float | None]  # (negative_max, positive_min)
DEFAULT_BOUNDS: dict[str, Bounds] = {
    "nps": (6, 9), "csat": (2, 4), "ces": (3, 6), "review": (2, 4), "mention_score": (-0.05, 0.05),
}


def validate_bounds(bounds: Mapping[str, Bounds]) -> dict[str, Bounds]:
    """Every metric's bounds (the defaults for those not given), or ``ValueError`` naming the bad one."""
    unknown = sorted(set(bounds) - set(SCALES))
    if unknown:
        raise ValueError(f"unknown experience metric(s) {unknown}; known: {list(SCALES)}")
    out = dict(DEFAULT_BOUNDS)
    for metric, (neg, pos) in bounds.items():
        lo, hi = SCALES[metric]
        integral = metric != "mention_score"
        for name, b in (("negative_max", neg), ("positive_min", pos)):
            if b is None:
                continue
            if isinstance(b, bool) or not isinstance(b, (int, float)) or b != b:
                raise ValueError(f"experience.{metric}.{name} must be a number or null")
            if integral and b != int(b):
                raise ValueError(f"experience.{metric}.{name} must be a whole score on {metric}'s scale")
            if not lo <= b <= hi:
                raise ValueError(f"experience.{metric}.{name} {b} is outside {metric}'s scale {lo}..{hi}")
        if neg is not None and pos is not None and not neg < pos:
            raise ValueError(f"experience.{metric}: negative_max {neg} must be below positive_min {pos}")
        out[metric] = (None if neg is None else (int(neg) if integral else float(neg)),
                       None if pos is None else (int(pos) if integral else float(pos)))
    return out


class ExperienceBounds(BaseModel):
    """One metric's definition: a score at most ``negative_max`` is negative, at least ``positive_min`` positive."""

    model_config = ConfigDict(extra="forbid")

    negative_max: float | None = Field(description="Highest negative score (inclusive); null: never negative.")
    positive_min: float | None = Field(description="Lowest positive score (inclusive); null: never positive.")


def _bounds_model(metric: str, name: str) -> type[ExperienceBounds]:
    """:class:`ExperienceBounds` with ``metric``'s defaults, so one bound can be set alone (an env variable)."""
    neg, pos = DEFAULT_BOUNDS[metric]
    lo, hi = SCALES[metric]
    return create_model(
        name, __base__=ExperienceBounds,
        negative_max=(float | None, Field(default=neg, description=f"Highest negative score (inclusive, on "
                                          f"{lo:g}..{hi:g}); null: never negative.")),
        positive_min=(float | None, Field(default=pos, description=f"Lowest positive score (inclusive, on "
                                          f"{lo:g}..{hi:g}); null: never positive.")),
    )


NpsBounds = _bounds_model("nps", "NpsBounds")
CsatBounds = _bounds_model("csat", "CsatBounds")
CesBounds = _bounds_model("ces", "CesBounds")
ReviewBounds = _bounds_model("review", "ReviewBounds")
MentionScoreBounds = _bounds_model("mention_score", "MentionScoreBounds")


class ExperienceSettings(BaseModel):
    """Positive and negative experiences per metric (the positive:negative ratio, share of negative signals).

    Changing them changes what is counted from then on, not the stored windows (see `core.experience`)."""

    model_config = ConfigDict(extra="forbid")

    nps: NpsBounds = Field(default=NpsBounds(), description="NPS 0-10: detractors 0-6 negative, promoters 9-10 positive.")
    csat: CsatBounds = Field(default=CsatBounds(), description="CSAT 1-5: 1-2 negative, 4-5 positive.")
    ces: CesBounds = Field(default=CesBounds(), description="CES 1-7: 1-3 negative, 6-7 positive.")
    review: ReviewBounds = Field(default=ReviewBounds(),
                                 description="Review ratings 1-5 (`cx.signal.v1`): 1-2 negative, 4-5 positive.")
    mention_score: MentionScoreBounds = Field(
        default=MentionScoreBounds(),
        description="Mention sentiment scores -1..1 (`cx.signal.v1`): <= -0.05 negative, >= 0.05 positive.")

    @model_validator(mode="after")
    def _in_scale(self) -> "ExperienceSettings":
        validate_bounds(self.bounds())
        return self

    def bounds(self) -> dict[str, Bounds]:
        """``{metric: (negative_max, positive_min)}``, what ``kpi.counts.configure_experience`` takes."""
        return {m: (getattr(self, m).negative_max, getattr(self, m).positive_min) for m in METRICS}
