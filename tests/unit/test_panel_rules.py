"""kpi.panel: quality flags (an answer with aspects included), the respondent rule's properties, the
contact-fatigue verdicts, and that a repeat counts in no counter."""
from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from kpi.counts import KpiCounts, add_record
from kpi.panel import (CONTRADICTORY, REPEAT, STRAIGHT_LINING, TOO_FAST, contact_verdicts, flag_names,
                       quality_flags, repeats)

DAY = 86_400_000


def answer(**kw) -> dict:
    return {"type": "cx.survey.response.v1", "nps": None, "csat": None, "ces": None, "fcr": None} | kw


def test_straight_lining_on_an_answer_with_aspects():
    same = answer(nps=8, aspects={"speed": 4, "courtesy": 4, "clarity": 4})
    assert quality_flags(same, 10) == STRAIGHT_LINING
    assert quality_flags(answer(nps=8, aspects={"speed": 4, "courtesy": 4}), 10) == 0  # two aspects: too few
    assert quality_flags(answer(nps=8, aspects={"speed": 4, "courtesy": 4, "clarity": 5}), 10) == 0
    assert quality_flags(answer(nps=8, aspects={"a": 2, "b": 2, "c": 2, "d": None}), 10) == STRAIGHT_LINING
    assert quality_flags(same, 10, min_aspects=4) == 0
    assert quality_flags(answer(nps=8), 10) == 0  # no aspects at all


def test_too_fast_and_contradictory():
    assert quality_flags(answer(nps=8, duration_s=9.99), 10) == TOO_FAST
    assert quality_flags(answer(nps=8, duration_s=10.0), 10) == 0
    assert quality_flags(answer(nps=8, duration_s=None), 10) == 0
    for nps, csat, want in [(9, 1, True), (10, 1, True), (8, 1, False), (9, 2, False), (1, 5, True), (0, 5, True),
                            (2, 5, False), (1, 4, False), (10, None, False), (None, 1, False)]:
        assert bool(quality_flags(answer(nps=nps, csat=csat), 10) & CONTRADICTORY) is want, (nps, csat)
    both = quality_flags(answer(nps=10, csat=1, duration_s=1, aspects={"a": 1, "b": 1, "c": 1}), 10)
    assert flag_names(both) == ["straight_lining", "too_fast", "contradictory"]


def _naive_repeats(answers, cooldown):
    out = set()
    groups = {}
    for g, t, tie, ident in answers:
        if g is not None:
            groups.setdefault(g, []).append((t, tie, ident))
    for items in groups.values():
        items.sort()
        for i, (t, _, ident) in enumerate(items):
            if i and t - items[i - 1][0] < cooldown:
                out.add(ident)
    return out


answers_st = st.lists(st.tuples(st.sampled_from(["c1", "c2", None]), st.integers(0, 100 * DAY)), max_size=25)


@given(answers_st, st.integers(0, 40 * DAY), st.randoms())
def test_repeats_depend_on_the_set_only(raw, cooldown, rnd):
    answers = [(g, t, (f"id{i}",), i) for i, (g, t) in enumerate(raw)]
    want = _naive_repeats(answers, cooldown) if cooldown > 0 else set()
    shuffled = answers[:]
    rnd.shuffle(shuffled)
    assert repeats(shuffled, cooldown) == want


@given(answers_st, st.integers(1, 40 * DAY), st.sampled_from(["c1", "c2"]), st.integers(0, 100 * DAY))
def test_an_arrival_changes_only_its_own_and_its_successors_flag(raw, cooldown, group, t):
    answers = [(g, ti, (f"id{i}",), i) for i, (g, ti) in enumerate(raw)]
    before = repeats(answers, cooldown)
    new = (group, t, ("new",), "new")
    after = repeats([*answers, new], cooldown)
    changed = (before ^ after) - {"new"}
    assert changed <= after  # stored answers only ever become repeats
    later = sorted((a for a in answers if a[0] == group and (a[1], a[2]) > (t, ("new",))), key=lambda a: (a[1], a[2]))
    assert changed <= ({later[0][3]} if later else set())


def test_a_repeat_counts_in_no_counter():
    c = KpiCounts()
    add_record(c, answer(nps=10, csat=5, flags=REPEAT))
    assert c.is_zero()
    add_record(c, answer(nps=10, csat=5, flags=CONTRADICTORY))
    assert (c.responses, c.promoters) == (1, 1)


def test_contact_verdicts():
    now = 1000 * DAY
    rng = random.Random(1)
    inv = [now - int(rng.uniform(0, 60) * DAY) for _ in range(6)] + [now + DAY]
    comp = [now - 13 * DAY, now - 20 * DAY]
    v = contact_verdicts(now, inv, comp, None, max_invitations=3, invitation_days=30, complaint_quiet_days=14)
    n_inv = sum(now - 30 * DAY < t <= now for t in inv)
    assert [(x.rule, x.allowed, x.count) for x in v] == [
        ("max_invitations", n_inv < 3, n_inv), ("complaint_quiet", False, 1), ("opt_out", True, None)]
    assert v[1].last_ms == now - 13 * DAY
    v = contact_verdicts(now, [], comp, 5, max_invitations=3, invitation_days=30, complaint_quiet_days=0)
    assert [x.allowed for x in v] == [True, True, False] and v[2].last_ms == 5
    v = contact_verdicts(now, [now - 30 * DAY], [], None, max_invitations=1, invitation_days=30, complaint_quiet_days=14)
    assert v[0].count == 0 and v[0].allowed  # exactly D days ago is outside (now - D, now]
