"""Scoring of `make evaluate` (bench.detection): which alerts an incident explains, and the summary figures."""
from __future__ import annotations

from datetime import timedelta

import pytest

from bench.detection.replay import Episode
from bench.detection.scenario import START, Scenario, build_scenario
from bench.detection.scoring import explains, score
from clients.incidents import Incident
from kpi.measures import Metric
from core.windows import MINUTE_MS

T0 = START + timedelta(days=1, hours=9)
MS0 = int(T0.timestamp() * 1000)
NPS_INC = Incident(T0, T0 + timedelta(hours=1), {"journey_step": "billing", "segment": "smb"}, nps_shift=-4,
                   affects="answers")
FEED_INC = Incident(T0 + timedelta(hours=4), T0 + timedelta(hours=5), {"channel": "chat"}, volume_factor=0.0)


def ep(metric: Metric, scope: dict, minutes: float) -> Episode:
    return Episode("r", metric, scope, MS0 + int(minutes * MINUTE_MS))


@pytest.mark.parametrize("episode, expected", [
    (ep(Metric.nps, {"journey_step": "billing", "segment": "smb"}, 7), True),
    (ep(Metric.nps, {"journey_step": "billing"}, 7), True),  # a wider scope holding the incident
    (ep(Metric.nps, {"team": "t-billing-1"}, 7), True),  # no dimension contradicts it
    (ep(Metric.nps, {"journey_step": "support"}, 7), False),  # another step
    (ep(Metric.csat, {"journey_step": "billing"}, 7), False),  # a metric the incident does not move
    (ep(Metric.nps, {"journey_step": "billing"}, -1), False),  # before it started
    (ep(Metric.nps, {"journey_step": "billing"}, 60 + 60), True),  # within the 60 min grace after its end
    (ep(Metric.nps, {"journey_step": "billing"}, 60 + 61), False),
])
def test_explains(episode, expected):
    assert explains(NPS_INC, episode) is expected


def test_score_counts_precision_recall_time_to_detect_and_false_alerts_on_quiet_days():
    scenario = Scenario(seed=1, days=2, warmup_days=1, rate_per_hour=1000, incidents=(NPS_INC, FEED_INC),
                        incident_days=(0,))
    episodes = [
        ep(Metric.nps, {"journey_step": "billing", "segment": "smb"}, 6),  # detects NPS_INC after 6 min
        ep(Metric.nps, {"journey_step": "billing"}, 9),  # explained too
        ep(Metric.volume, {"channel": "chat"}, 4 * 60 + 3),  # detects FEED_INC after 3 min
        ep(Metric.csat, {"team": "t-support-1"}, 30),  # false, on the incident day
        ep(Metric.nps, {"segment": "vip"}, 24 * 60),  # false, on the quiet day
    ]
    s = score(scenario, episodes)
    assert (s["alerts"], s["explained"]) == (5, 3)
    assert s["precision"] == pytest.approx(0.6) and s["recall"] == 1.0
    assert s["ttd_median_min"] == pytest.approx(4.5) and s["ttd_p90_min"] == pytest.approx(6.0)
    assert s["false_per_quiet_day"] == 1.0
    assert [i["detected_after_min"] for i in s["incidents"]] == [6.0, 3.0]


def test_scenario_is_seeded_and_alternates_incident_days():
    a, b = build_scenario(3, 4, 1, 3500), build_scenario(3, 4, 1, 3500)
    assert a == b and a.incident_days == (0, 2) and len(a.incidents) == 6
    for inc in a.incidents:
        day = (inc.start - a.eval_start).days
        assert day in a.incident_days and 8 <= inc.start.hour < 18 and inc.end > inc.start
