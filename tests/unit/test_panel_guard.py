"""The respondent rule's partition guard (``stream_processors.panel_flags``): exact iff the rule is off for
every tenant or this worker holds every partition of every typed topic; the gauge and the one ERROR."""
from __future__ import annotations

import logging

from faust.types import TP
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import REGISTRY

from core.panel_settings import PanelSettings
from stream_processors.panel_flags import observe_assignment, respondent_rule_exact

GAUGE = "cxpulse_panel_respondent_rule_inexact"
TYPED = ("t.touchpoint", "t.response", "t.invitation")

cooldowns = st.one_of(st.just(0.0), st.floats(min_value=0.001, max_value=3660))
overrides = st.dictionaries(st.sampled_from(["acme", "globex", "initech"]),
                            st.fixed_dictionaries({}, optional={"cooldown_days": cooldowns}), max_size=3)


@given(default=cooldowns, tenants=overrides, partitions=st.integers(1, 32),
       held=st.sets(st.integers(0, 40), max_size=40))
def test_exact_iff_off_everywhere_or_every_partition_held(default, tenants, partitions, held) -> None:
    panel = PanelSettings(cooldown_days=default, tenants=tenants)
    on = default > 0 or any(o.get("cooldown_days", 0) > 0 for o in tenants.values())
    missing = [p for p in range(partitions) if p not in held]
    assert respondent_rule_exact(held, partitions, panel) is (not on or not missing)


def test_examples() -> None:
    off = PanelSettings()
    assert respondent_rule_exact(set(), 4, off)  # off: nothing to miscount, whatever the assignment
    assert respondent_rule_exact({0, 1, 2, 3}, 4, PanelSettings(cooldown_days=30))
    assert not respondent_rule_exact({0, 1, 3}, 4, PanelSettings(cooldown_days=30))
    assert not respondent_rule_exact(set(), 4, PanelSettings(cooldown_days=30))  # an idle member of a group
    # on for one tenant only, off by default: still on
    assert not respondent_rule_exact({0}, 2, PanelSettings(tenants={"acme": {"cooldown_days": 90}}))
    # on by default, one tenant opts out: still on for the others
    assert not respondent_rule_exact({0}, 2, PanelSettings(cooldown_days=30, tenants={"acme": {"cooldown_days": 0}}))
    # an override of another setting does not turn the rule on
    assert respondent_rule_exact({0}, 2, PanelSettings(tenants={"acme": {"min_duration_s": 3}}))


def _tps(partitions, topics=TYPED):
    return {TP(t, p) for t in topics for p in partitions}


def test_observe_sets_the_gauge_and_logs_one_error_per_rebalance(caplog) -> None:
    on = PanelSettings(cooldown_days=30)
    caplog.set_level(logging.ERROR, logger="stream_processors.panel_flags")
    assert observe_assignment(_tps(range(4)) | {TP("t.raw", 0)}, TYPED, 4, on)
    assert REGISTRY.get_sample_value(GAUGE) == 0
    assert caplog.records == []

    assert not observe_assignment(_tps([0, 2]) | _tps([1, 3], ["t.raw"]), TYPED, 4, on)
    assert REGISTRY.get_sample_value(GAUGE) == 1
    (error,) = caplog.records
    assert error.levelno == logging.ERROR
    assert "panel.cooldown_days" in error.getMessage() and "2 of the 4 partitions" in error.getMessage()
    assert "[0, 2]" in error.getMessage()

    caplog.clear()  # the next rebalance gives back every partition
    assert observe_assignment(_tps(range(4)), TYPED, 4, on)
    assert REGISTRY.get_sample_value(GAUGE) == 0 and caplog.records == []


def test_a_partition_counts_as_held_only_in_every_typed_topic(caplog) -> None:
    on = PanelSettings(tenants={"acme": {"cooldown_days": 7}})
    assigned = _tps(range(4)) - {TP("t.invitation", 3)}
    assert not observe_assignment(assigned, TYPED, 4, on)
    assert REGISTRY.get_sample_value(GAUGE) == 1
    assert "3 of the 4 partitions" in caplog.records[-1].getMessage()


def test_an_assigned_partition_beyond_the_count_raises_it() -> None:
    on = PanelSettings(cooldown_days=1)
    assert not observe_assignment(_tps(range(4)) | _tps([5]), TYPED, 4, on)  # 6 partitions: 4 is missing
    assert observe_assignment(_tps(range(6)), TYPED, 4, on)


def test_rule_off_is_exact_with_any_assignment(caplog) -> None:
    assert observe_assignment(_tps([1]), TYPED, 4, PanelSettings())
    assert REGISTRY.get_sample_value(GAUGE) == 0 and caplog.records == []
