"""Observations of ``gap`` rules: one per fanned-out scope, from a live frame or a gaming period. Pure.

Shared by the alert evaluator (frames read from the warehouse) and
``make evaluate`` (frames cut from windows read in bulk), so what is measured
is what runs. Gaming rules (``gap.kind`` ``gaming``) are observed from the gaps of
:func:`gaps.evaluate.evaluate_gaming`, the one gaming test.
"""
from __future__ import annotations

from collections.abc import Iterable

from gaps.detect import Gap
from gaps.evaluate import GamingPeriod
from gaps.gaming import GamingGap
from gaps.live import LiveFrame, LiveSpec, live_data_gaps, live_kpi_gaps
from alerts.rules import Condition, GapKindName, Rule
from alerts.state import Observation

__all__ = ["gaming_evidence", "gaming_read_scope", "live_spec", "observe_gaming_rule", "observe_gap_rule",
           "scoped_rule"]


def live_spec(rule: Rule) -> LiveSpec:
    g = rule.gap
    if rule.condition is not Condition.gap or g is None or g.kind is GapKindName.gaming:
        raise ValueError(f"rule {rule.id!r} is not a live gap rule")
    return LiveSpec(lengths_min=tuple(g.lengths_min), baseline_days=g.baseline_days, alpha=g.alpha,
                    min_n=rule.min_n, min_effect=g.min_effect, max_volume_ratio=g.max_volume_ratio,
                    min_expected_volume=g.min_expected_volume)


def scoped_rule(rule: Rule, scope: dict[str, str]) -> Rule:
    """The rule narrowed to one fanned-out scope: its fingerprint, state and notifications are that scope's.

    The copy fans out no more (its scope fixes those dimensions), so it is a valid rule when read back
    with its stored alert state. A gaming copy keeps its dimension: fixed in scope too, it watches that
    one value against the same peers.
    """
    if scope == rule.scope:
        return rule
    assert rule.gap is not None
    if rule.gap.kind is GapKindName.gaming:
        return rule.model_copy(update={"scope": scope})
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


def gaming_read_scope(rule: Rule) -> tuple[str, dict[str, str]]:
    """A gaming rule's tested dimension, and the scope whose values are tested (its peers' scope)."""
    assert rule.gap is not None and rule.gap.kind is GapKindName.gaming
    dim = rule.gap.dimensions[0]
    return dim, {k: v for k, v in rule.scope.items() if k != dim}


def gaming_evidence(g: GamingGap) -> dict[str, float]:
    """What a gaming alert carries besides the value's score: the test's results and its period."""
    return {"p_value": g.p_value, "p_adjusted": g.p_adjusted, "p_share": g.p_share, "p_score": g.p_score,
            "alpha": g.alpha, "comparisons": g.comparisons, "surveyed_share": g.surveyed_share,
            "peer_surveyed_share": g.peer_surveyed_share, "peer_value": g.reference.value,
            "peer_n": g.reference.n, "period_start_ms": g.window.start_ms, "period_end_ms": g.window.end_ms}


def observe_gaming_rule(rule: Rule, period: GamingPeriod, open_alerts: Iterable[Rule] = ()
                        ) -> list[tuple[Rule, Observation, GamingGap | None]]:
    """One (scoped rule, observation, gap) per value tested in ``period`` (only the scope's own value when
    it fixes the dimension): the value's score and n, breach = significant after Holm, the p-values as
    evidence. A value seen but not tested (too few answers) is not observed: its alert keeps its state.

    ``open_alerts``: the scoped rules of this rule's pending or firing alerts. One whose value has no
    data left in the period (the period moved past it) is observed as ``value=None, breach=False``, so it
    resolves: nothing of it deviates any more.
    """
    dim, read_scope = gaming_read_scope(rule)
    only = rule.scope.get(dim)
    out: list[tuple[Rule, Observation, GamingGap | None]] = []
    for g in period.gaps:
        if only is not None and g.segment != only:
            continue
        kv = g.observed
        obs = Observation(kv.value, kv.n, kv.ci_low, kv.ci_high, breach=g.significant, evidence=gaming_evidence(g))
        out.append((scoped_rule(rule, dict(g.scope)), obs, g))
    observed = {r.fingerprint() for r, _, _ in out}
    for stored in open_alerts:
        value = stored.scope.get(dim)
        if (stored.id != rule.id or value is None or value in period.seen or (only is not None and value != only)
                or {k: v for k, v in stored.scope.items() if k != dim} != read_scope):
            continue
        scoped = scoped_rule(rule, {**read_scope, dim: value})
        if scoped.fingerprint() not in observed:
            observed.add(scoped.fingerprint())
            out.append((scoped, Observation(None, 0, breach=False), None))
    return out
