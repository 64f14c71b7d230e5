"""Step 4 of `make evaluate`: which alerts the incidents explain, and precision, recall and time to detect."""
from __future__ import annotations

import statistics
from collections.abc import Sequence

from bench.detection.replay import Episode
from bench.detection.scenario import FAMILIES, Scenario, epoch_ms, incident_metrics
from bench.detection.windows import FamilyWindows
from clients.incidents import Incident
from core.windows import DAY_MS, MINUTE_MS
from kpi.measures import Metric, measure

#: An alert within this long after an incident's end is still explained by it: the longest
#: rolling window (60 min) holds answers from the incident that long.
GRACE_MS = 60 * MINUTE_MS


def explains(inc: Incident, ep: Episode) -> bool:
    """``ep`` started within ``inc`` (or ``GRACE_MS`` after it), on a metric it moves, in a scope that
    does not contradict its scope."""
    start = epoch_ms(inc.start)
    end = epoch_ms(inc.end)
    if not (start <= ep.fired_ms <= end + GRACE_MS) or ep.metric not in incident_metrics(inc):
        return False
    return all(inc.scope.get(d, v) == v for d, v in ep.scope.items())


def score(scenario: Scenario, episodes: Sequence[Episode], rates: Sequence[float] | None = None) -> dict:
    """One rule set's figures: precision, recall, time to detect, false alerts per incident-free day."""
    explained = [ep for ep in episodes if any(explains(inc, ep) for inc in scenario.incidents)]
    ttd: list[float] = []
    per_incident = []
    for i, inc in enumerate(scenario.incidents):
        hits = [ep.fired_ms for ep in episodes if explains(inc, ep)]
        start = epoch_ms(inc.start)
        minutes = (min(hits) - start) / MINUTE_MS if hits else None
        if minutes is not None:
            ttd.append(minutes)
        per_incident.append({"start": inc.start.isoformat(), "scope": inc.scope,
                             "metric": sorted(m.value for m in incident_metrics(inc)),
                             "detected_after_min": minutes,
                             "rate_per_min": rates[i] if rates else None})
    eval0 = epoch_ms(scenario.eval_start)
    quiet_days = [d for d in range(scenario.days) if d not in scenario.incident_days]
    false_quiet = [ep for ep in episodes if ep not in explained
                   and (ep.fired_ms - eval0) // DAY_MS in quiet_days]
    ttd.sort()
    return {
        "alerts": len(episodes),
        "explained": len(explained),
        "precision": round(len(explained) / len(episodes), 3) if episodes else None,
        "recall": round(len(ttd) / len(scenario.incidents), 3),
        "ttd_median_min": statistics.median(ttd) if ttd else None,
        "ttd_p90_min": ttd[min(len(ttd) - 1, int(0.9 * len(ttd)))] if ttd else None,
        "false_per_quiet_day": round(len(false_quiet) / max(1, len(quiet_days)), 2),
        "incidents": per_incident,
        "false_alert_scopes": sorted({f"{ep.rule_id} {ep.scope}" for ep in episodes if ep not in explained})[:20],
    }


def scope_rates(scenario: Scenario, windows: dict[tuple[str, ...], FamilyWindows]) -> list[float]:
    """Events a minute in each incident's scope over the 30 minutes before it: what its detection
    can learn from. Answers (of the metric it moves) for answer incidents, contacts for feeds."""
    out: list[float] = []
    for inc in scenario.incidents:
        dims = next(f for f in FAMILIES if set(f) == set(inc.scope))
        fw = windows[dims]
        key = tuple(inc.scope[d] for d in dims)
        metric = next(iter(sorted(incident_metrics(inc) - {Metric.responses}, key=lambda m: m.value)))
        start = epoch_ms(inc.start)
        total = fw.sum_minutes(key, start - 30 * MINUTE_MS, start)
        out.append(round(measure(metric, total).n / 30, 2))
    return out
