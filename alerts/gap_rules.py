"""Observations of ``gap`` rules: one per fanned-out scope, from a live frame. Pure.

Shared by the alert evaluator (frames read from the warehouse) and
``make evaluate`` (frames cut from windows read in bulk), so what is measured
is what runs.
"""
from __future__ import annotations

from gaps.detect import Gap
from gaps.live import LiveFrame, LiveSpec, live_data_gaps, live_kpi_gaps
from alerts.rules import Condition, GapKindName, Rule
from alerts.state import Observation

__all__ = ["live_spec", "observe_gap_rule", "scoped_rule"]


def live_spec(rule: Rule) -> LiveSpec:
    g = rule.gap
    if rule.condition is not Condition.gap or g is None:
        raise ValueError(f"rule {rule.id!r} is not a gap rule")
    return LiveSpec(lengths_min=tuple(g.lengths_min), baseline_days=g.baseline_days, alpha=g.alpha,
                    min_n=rule.min_n, min_effect=g.min_effect, max_volume_ratio=g.max_volume_ratio,
                    min_expected_volume=g.min_expected_volume)


def scoped_rule(rule: Rule, scope: dict[str, str]) -> Rule:
    """The rule narrowed to one fanned-out scope: its fingerprint, state and notifications are that scope's.

    The copy fans out no more (its scope fixes those dimensions), so it is a valid rule when read back
    with its stored alert state.
    """
    if scope == rule.scope:
        return rule
    assert rule.gap is not None
    return rule.model_copy(update={"scope": scope, "gap": rule.gap.model_copy(update={"dimensions": []})})


def observe_gap_rule(rule: Rule, frame: LiveFrame, spec: LiveSpec | None = None) -> list[tuple[Rule, Observation, Gap]]:
    """Run the rule's detector on ``frame``; one (scoped rule, observation, gap) per scope key.

    A gap the detector could not judge (too few answers, too little expected
    volume) is observed as ``value=None``: the alert keeps its state.
    """
    spec = spec or live_spec(rule)
    assert rule.gap is not None
    detect = live_data_gaps if rule.gap.kind is GapKindName.data else live_kpi_gaps
    out: list[tuple[Rule, Observation, Gap]] = []
    for g in detect(rule.measured, frame, spec, rule.scope, rule.gap.dimensions):
        kv = g.observed
        if g.low_sample and not g.significant:
            obs = Observation(None, kv.n)
        else:
            value = kv.value if kv.value is not None else float(kv.n)
            obs = Observation(value, kv.n, kv.ci_low, kv.ci_high, breach=g.significant)
        out.append((scoped_rule(rule, dict(g.scope)), obs, g))
    return out
