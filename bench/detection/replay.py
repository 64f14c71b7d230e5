"""Step 3 of `make evaluate`: the two rule sets, and the alert evaluator replayed over simulated time.

``replay`` steps the same ``alerts.evaluator.evaluate`` the worker runs once a simulated minute, fed
from ``bench.detection.windows`` (each evaluation sees only data timed before it).
"""
from __future__ import annotations

import time
from dataclasses import dataclass

from alerts.evaluator import evaluate
from alerts.gap_rules import live_spec
from alerts.rules import Rule
from alerts.state import AlertState, Status
from bench.detection.scenario import FAMILIES, TENANT
from bench.detection.windows import FamilyWindows, counts_before, frame_at
from core.windows import MINUTE_MS
from gaps.live import LiveFrame
from kpi.counts import KpiCounts
from kpi.measures import Metric, measure


def _id_part(values: tuple[str, ...]) -> str:
    """Dimensions or their values in a rule id: ``journey_step-segment``, ``all`` for none."""
    return "-".join(values) or "all"


def _family_label(dims: tuple[str, ...]) -> str:
    """The ``family`` label of a rule: ``journey_step+segment``, ``all`` for the overall family."""
    return "+".join(dims) or "all"


def gap_rules(min_n: int = 10, alpha: float = 1e-4) -> list[Rule]:
    """The live gap rules: baseline gaps of NPS and CSAT in every family, data gaps of volume overall and
    per channel."""
    rules = []
    for metric in (Metric.nps, Metric.csat):
        for dims in FAMILIES:
            rid = f"gap-{metric.value}-{_id_part(dims)}"
            rules.append(Rule(id=rid, name=rid, metric=metric, condition="gap",
                              gap={"kind": "baseline", "dimensions": list(dims), "alpha": alpha},
                              min_n=min_n, severity="warning", labels={"family": _family_label(dims)}))
    for dims in ((), ("channel",)):
        rid = f"gap-volume-{_id_part(dims)}"
        rules.append(Rule(id=rid, name=rid, metric=Metric.volume, condition="gap",
                          gap={"kind": "data", "dimensions": list(dims), "lengths_min": [5, 15, 30]},
                          min_n=1, severity="critical", labels={"family": _family_label(dims)}))
    return rules


def naive_rules(windows: dict[tuple[str, ...], FamilyWindows], warmup_end_ms: int) -> list[Rule]:
    """Fixed thresholds per value of every family: the current hour's NPS and CSAT 15 and 10 points under
    the warm-up level, and no contact for 5 minutes per channel."""
    overall = windows[()]
    level = KpiCounts()
    for h, c in overall.hours[()].items():
        if h < warmup_end_ms:
            level.add(c)
    nps_level = measure(Metric.nps, level).value
    csat_level = measure(Metric.csat, level).value
    rules = []
    for dims in FAMILIES:
        keys = sorted(k for k in windows[dims].minutes if all(k))
        for key in keys:
            scope = dict(zip(dims, key))
            tag = _id_part(key)
            for metric, threshold in ((Metric.nps, round(nps_level - 15)), (Metric.csat, round(csat_level - 10))):
                rid = f"naive-{metric.value}-{tag}"
                rules.append(Rule(id=rid, name=rid, metric=metric, condition="below", threshold=threshold,
                                  window="1h", scope=scope, min_n=30, labels={"family": _family_label(dims)}))
    for (channel,) in sorted(k for k in windows[("channel",)].minutes if all(k)):
        rid = f"naive-volume-{channel}"
        rules.append(Rule(id=rid, name=rid, metric=Metric.volume, condition="below", threshold=1, window="1m",
                          scope={"channel": channel}, min_n=1, for_s=300, labels={"family": "channel"}))
    return rules


@dataclass(frozen=True)
class Episode:
    """One alert as scored: its rule, what it watches, and the minute it started firing."""

    rule_id: str
    metric: Metric
    scope: dict[str, str]
    fired_ms: int


async def replay(rules: list[Rule], windows: dict[tuple[str, ...], FamilyWindows], start_ms: int,
                 end_ms: int, label: str) -> list[Episode]:
    """Step every rule once a simulated minute; the firing episodes, in order."""
    specs = {r.id: live_spec(r) for r in rules if r.gap is not None}
    family_of = {r.id: tuple(r.gap.dimensions) if r.gap is not None else tuple(r.scope) for r in rules}
    states: dict[tuple[str, str], AlertState] = {}
    episodes: list[Episode] = []

    async def read_counts(tenant: str, rule: Rule, now_ms: int) -> KpiCounts:
        dims = tuple(rule.scope)
        return counts_before(windows[dims], tuple(rule.scope[d] for d in dims), rule.window, now_ms)

    async def read_frame(tenant: str, rule: Rule, now_ms: int) -> LiveFrame:
        return frame_at(windows[family_of[rule.id]], now_ms, specs[rule.id])

    pairs = [(TENANT, r) for r in rules]
    total = (end_ms - start_ms) // MINUTE_MS
    t0 = time.perf_counter()
    for i, now in enumerate(range(start_ms, end_ms, MINUTE_MS)):
        for t in await evaluate(pairs, read_counts, now, states, None, read_frame):
            states[(t.tenant, t.fingerprint)] = t.after
            if t.after.status is Status.firing and t.before.status is not Status.firing:
                episodes.append(Episode(t.rule.id, t.rule.metric, dict(t.rule.scope), now))
        if i % 720 == 0 or i == total - 1:
            pct = 100 * (i + 1) / total
            print(f"\r  {label:<6} {pct:5.1f}% of {total} minutes, {len(episodes)} alerts, "
                  f"{time.perf_counter() - t0:.0f}s", end="", flush=True)
    print(flush=True)
    return episodes
