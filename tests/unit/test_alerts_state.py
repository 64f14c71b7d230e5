"""The alert state machine: every transition by example, then properties over random histories."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alerts.rules import Rule
from alerts.state import (ALLOWED, AlertState, InvalidTransition, NotificationKind, Observation, StaleObservation,
                          Status, _move, step)

S = 1000
BASE = {"id": "r", "name": "CSAT chat", "metric": "csat", "scope": {"channel": "chat"}, "condition": "below",
        "threshold": 80, "min_n": 20, "repeat_interval_s": 0}


def rule(**kw) -> Rule:
    return Rule(**{**BASE, **kw})


def obs(value: float | None, n: int = 100) -> Observation:
    return Observation(value, n, None if value is None else value - 5, None if value is None else value + 5)


def run(r: Rule, seq: list[tuple[int, float | None, int]], state: AlertState | None = None, silenced=False):
    state = state or AlertState()
    out = []
    for t, v, n in seq:
        state, notes = step(r, state, obs(v, n), t * S, silenced)
        out.append((state.status, [x.kind for x in notes]))
    return state, out


def test_for_zero_fires_at_once_and_resolves_when_not_breaching() -> None:
    st_, out = run(rule(), [(0, 50, 100), (10, 50, 100), (20, 90, 100), (30, 90, 100)])
    assert out == [(Status.firing, [NotificationKind.firing]), (Status.firing, []),
                   (Status.resolved, [NotificationKind.resolved]), (Status.ok, [])]
    assert st_.starts_at_ms == 0 and st_.ends_at_ms == 20 * S


def test_pending_period_and_drop_back_to_ok() -> None:
    r = rule(for_s=60)
    _, out = run(r, [(0, 50, 100), (30, 50, 100), (40, 85, 100), (50, 50, 100), (109, 50, 100), (110, 50, 100)])
    assert [s for s, _ in out] == [Status.pending, Status.pending, Status.ok, Status.pending, Status.pending,
                                   Status.firing]
    assert out[-1][1] == [NotificationKind.firing]


def test_low_sample_never_evaluated_and_keeps_state() -> None:
    r = rule()
    s, out = run(r, [(0, 10, 19), (1, None, 0)])
    assert s == AlertState() and out == [(Status.ok, []), (Status.ok, [])]
    s, _ = run(r, [(0, 50, 100)])
    s2, out = run(r, [(5, 99, 5)], state=s)
    assert s2 == s and out == [(Status.firing, [])]


def test_hysteresis_resolves_only_past_recovery() -> None:
    r = rule(recovery=85)
    _, out = run(r, [(0, 50, 100), (1, 82, 100), (2, 84.9, 100), (3, 85, 100)])
    assert [s for s, _ in out] == [Status.firing, Status.firing, Status.firing, Status.resolved]


def test_keep_firing_needs_continuous_recovery() -> None:
    r = rule(keep_firing_s=60)
    _, out = run(r, [(0, 50, 100), (10, 90, 100), (50, 70, 100), (60, 90, 100), (119, 90, 100), (120, 90, 100)])
    assert [s for s, _ in out] == [Status.firing] * 5 + [Status.resolved]


def test_repeat_interval_renotifies_while_firing() -> None:
    r = rule(repeat_interval_s=100)
    _, out = run(r, [(0, 50, 100), (50, 50, 100), (100, 50, 100), (150, 50, 100), (200, 50, 100)])
    assert [n for _, n in out] == [[NotificationKind.firing], [], [NotificationKind.firing], [],
                                   [NotificationKind.firing]]


def test_silence_mutes_notifications_not_state_and_notifies_after() -> None:
    r = rule()
    s, out = run(r, [(0, 50, 100), (10, 50, 100)], silenced=True)
    assert out == [(Status.firing, []), (Status.firing, [])]
    s, out = run(r, [(20, 50, 100)], state=s)
    assert out == [(Status.firing, [NotificationKind.firing])]
    # Fired and resolved entirely under a silence: no resolved notification either.
    s, out = run(r, [(0, 50, 100), (10, 90, 100)], silenced=True)
    assert out == [(Status.firing, []), (Status.resolved, [])]
    # Firing notified, then silenced: its resolution is muted too.
    s, _ = run(r, [(0, 50, 100)])
    _, out = run(r, [(10, 90, 100)], state=s, silenced=True)
    assert out == [(Status.resolved, [])]


def test_resolved_notification_without_firing_one_is_not_sent() -> None:
    r = rule()
    s, _ = run(r, [(0, 50, 100)], silenced=True)
    _, out = run(r, [(10, 90, 100)], state=s)
    assert out == [(Status.resolved, [])]


def test_guards() -> None:
    with pytest.raises(InvalidTransition):
        _move(AlertState(status=Status.firing), Status.pending)
    with pytest.raises(InvalidTransition):
        _move(AlertState(status=Status.ok), Status.resolved)
    s, _ = step(rule(), AlertState(), obs(50), 10 * S)
    with pytest.raises(StaleObservation):
        step(rule(), s, obs(50), 9 * S)


def test_above_rule() -> None:
    r = rule(metric="ces", condition="above", threshold=4, recovery=3.5, min_n=1)
    _, out = run(r, [(0, 4.5, 10), (1, 3.8, 10), (2, 3.5, 10)])
    assert [s for s, _ in out] == [Status.firing, Status.firing, Status.resolved]


# -- properties ---------------------------------------------------------------------
rules_st = st.builds(
    lambda for_s, keep, rec, rep: rule(for_s=for_s, keep_firing_s=keep, recovery=rec, repeat_interval_s=rep),
    st.sampled_from([0, 30, 120]), st.sampled_from([0, 60]), st.sampled_from([None, 80, 90]),
    st.sampled_from([0, 100, 300]))
history_st = st.lists(st.tuples(st.integers(1, 90), st.one_of(st.none(), st.floats(0, 100)), st.integers(0, 60),
                                st.booleans()), max_size=60)


@settings(max_examples=400, deadline=None)
@given(rules_st, history_st)
def test_properties(r: Rule, history) -> None:
    state, t = AlertState(), 0
    notified_episode = False
    last_firing_note = None
    recovered_since = None
    for dt, value, n, silenced in history:
        t += dt * S
        new, notes = step(r, state, obs(value, n), t, silenced)
        assert new.status in ALLOWED[state.status]
        low = value is None or n < r.min_n
        if low:  # never evaluated on a low sample
            assert new == state and notes == []
        if silenced:  # never notifies while silenced
            assert notes == []
        if new.status is Status.firing and state.status is not Status.firing:
            # Pending for >= for_s before firing, every evaluation of it breaching.
            assert new.active_at_ms is not None and t - new.active_at_ms >= r.for_s * S
            assert r.breaching(value)
            notified_episode = False
            last_firing_note = None
        if state.status is Status.firing and not low:
            recovered_since = (recovered_since if recovered_since is not None else t) if r.recovered(value) else None
        if new.status is Status.resolved and state.status is Status.firing:
            # Resolved only past recovery, held for keep_firing_s.
            assert r.recovered(value) and t - recovered_since >= r.keep_firing_s * S
        for note in notes:
            if note.kind is NotificationKind.firing:
                assert new.status is Status.firing
                if last_firing_note is not None:
                    assert r.repeat_interval_s and t - last_firing_note >= r.repeat_interval_s * S
                last_firing_note, notified_episode = t, True
            else:
                assert new.status is Status.resolved and notified_episode
        if new.status is not Status.firing:
            recovered_since = None
        state = new
