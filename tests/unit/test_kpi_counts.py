"""kpi.counts: additive state and per-record contributions."""
from __future__ import annotations

import dataclasses
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kpi.counts import FIELDS, KpiCounts, add_record, contribution
from schemas.records import EventType

TP = EventType.touchpoint.value
SR = EventType.survey_response.value
INV = EventType.survey_invitation.value


def _base(type_: str, i: int = 0) -> dict:
    return {
        "tenant": "acme", "id": f"e{i}", "source": "test", "type": type_, "time_ms": 1_700_000_000_000,
        "subject": None, "interaction_id": f"i{i}", "customer": "", "dims": {}, "attributes": {},
    }


def touchpoint(first_contact=None, resolved=None, i: int = 0) -> dict:
    return _base(TP, i) | {
        # Outcomes unknown: these tests are about first contacts; test_kpi_outcomes has the rest.
        "wait_s": None, "handle_s": None, "resolved": resolved, "first_contact": first_contact,
        "transferred": None, "abandoned": None, "converted": None,
    }


def response(nps=None, csat=None, ces=None, fcr=None, i: int = 0) -> dict:
    return _base(SR, i) | {
        "survey_id": "s1", "nps": nps, "csat": csat, "ces": ces, "fcr": fcr, "comment": None, "weight": None,
    }


def invitation(i: int = 0) -> dict:
    return _base(INV, i) | {"survey_id": "s1", "via": "email"}


# ---------------------------------------------------------------------------
# Shape
# ---------------------------------------------------------------------------
def test_fields_order_is_the_column_contract():
    assert FIELDS == (
        "touchpoints", "tp_first_contact", "tp_first_contact_resolved", "invitations", "responses",
        "nps_n", "promoters", "passives", "detractors", "csat_n", "csat_sum", "csat_top2",
        "ces_n", "ces_sum", "ces_sumsq", "fcr_n", "fcr_yes", "invitations_answered",
        "tp_converted_n", "tp_converted", "tp_abandoned_n", "tp_abandoned", "tp_transferred_n", "tp_transferred",
        "tp_wait_n", "tp_wait_ds", "tp_wait_ds2", "tp_handle_n", "tp_handle_ds", "tp_handle_ds2",
        "answers_positive", "answers_negative",
        "sig_n", "sig_reviews", "sig_rating_sum", "sig_rating_sumsq", "sig_polar_n", "sig_negative", "sig_positive",
        "sig_engagement",
    )
    # the counters, then the rated aspects' map (not a column of kpi_windows: aspect_windows)
    assert tuple(f.name for f in dataclasses.fields(KpiCounts)) == (*FIELDS, "aspects")


def test_slotted_and_zero_by_default():
    c = KpiCounts()
    assert c.is_zero()
    assert not hasattr(c, "__dict__")
    with pytest.raises(AttributeError):
        c.not_a_counter = 1  # type: ignore[attr-defined]
    assert c.as_dict() == dict.fromkeys(FIELDS, 0)


# ---------------------------------------------------------------------------
# contribution: hand-computed examples
# ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("first_contact", "resolved", "expected"),
    [
        (True, True, (1, 1, 1)),
        (True, False, (1, 1, 0)),
        (True, None, (1, 1, 0)),
        (False, True, (1, 0, 0)),  # resolved, but not at first contact
        (None, True, (1, 0, 0)),
        (None, None, (1, 0, 0)),
    ],
)
def test_touchpoint_contribution(first_contact, resolved, expected):
    c = contribution(touchpoint(first_contact, resolved))
    assert (c.touchpoints, c.tp_first_contact, c.tp_first_contact_resolved) == expected
    assert c == KpiCounts(*expected)


def test_invitation_contribution():
    assert contribution(invitation()) == KpiCounts(invitations=1)
    assert contribution(invitation() | {"_answered": False}) == KpiCounts(invitations=1)
    assert contribution(invitation() | {"_answered": True}) == KpiCounts(invitations=1, invitations_answered=1)
    # Only invitations carry the join: an answer's own contribution never touches the numerator.
    assert contribution(response(nps=9) | {"_answered": True}).invitations_answered == 0


def test_full_response_contribution():
    c = contribution(response(nps=9, csat=4, ces=3, fcr=True))
    # nps 9 -> promoter; csat 4 -> top-2 box, sum 4; ces 3 -> sum 3, sumsq 3*3 = 9; fcr True -> yes.
    # ces 3 is a negative score, so the experience is negative despite the positive nps and csat.
    assert c == KpiCounts(
        responses=1, nps_n=1, promoters=1, csat_n=1, csat_sum=4, csat_top2=1,
        ces_n=1, ces_sum=3, ces_sumsq=9, fcr_n=1, fcr_yes=1, answers_negative=1,
    )


def test_partial_response_contribution():
    c = contribution(response(nps=7, csat=3, fcr=False))
    # nps 7 -> passive; csat 3 -> not top-2; no ces; fcr False counts in n only.
    assert c == KpiCounts(responses=1, nps_n=1, passives=1, csat_n=1, csat_sum=3, fcr_n=1)
    assert contribution(response()) == KpiCounts(responses=1)


@pytest.mark.parametrize("score", range(11))
def test_nps_classes(score):
    c = contribution(response(nps=score))
    expected = "promoters" if score >= 9 else "passives" if score >= 7 else "detractors"
    assert c.nps_n == 1
    assert {f: getattr(c, f) for f in ("promoters", "passives", "detractors")} == {
        f: int(f == expected) for f in ("promoters", "passives", "detractors")
    }


@pytest.mark.parametrize(("csat", "top2"), [(1, 0), (2, 0), (3, 0), (4, 1), (5, 1)])
def test_csat_top2(csat, top2):
    assert contribution(response(csat=csat)).csat_top2 == top2


def test_enum_type_is_accepted():
    r = touchpoint(True, True)
    r["type"] = EventType.touchpoint
    assert contribution(r) == KpiCounts(1, 1, 1)


@pytest.mark.parametrize(
    "record",
    [
        response(nps=11),
        response(nps=-1),
        response(csat=0),
        response(csat=6),
        response(ces=0),
        response(ces=8),
        response(nps=9, ces=8),  # a bad answer after a good one
        _base("cx.unknown.v1"),
    ],
)
def test_invalid_records_raise_and_leave_target_untouched(record):
    target = KpiCounts(touchpoints=5, responses=2)
    before = target.copy()
    with pytest.raises(ValueError):
        add_record(target, record)
    assert target == before


# ---------------------------------------------------------------------------
# Arithmetic
# ---------------------------------------------------------------------------
def test_add_subtract_add_operator():
    a = KpiCounts(touchpoints=3, promoters=2, nps_n=2, ces_sum=7)
    b = KpiCounts(touchpoints=1, detractors=1, nps_n=1, ces_sum=2)
    s = a + b
    assert s == KpiCounts(touchpoints=4, promoters=2, detractors=1, nps_n=3, ces_sum=9)
    assert a == KpiCounts(touchpoints=3, promoters=2, nps_n=2, ces_sum=7)  # __add__ does not mutate
    s.subtract(b)
    assert s == a
    s.subtract(a)
    assert s.is_zero()
    with pytest.raises(TypeError):
        a + 1  # noqa: B018


def test_add_record_sign_retracts():
    t = KpiCounts()
    r = response(nps=3, csat=5, ces=6, fcr=True)
    add_record(t, r)
    add_record(t, r)
    add_record(t, r, sign=-1)
    assert t == contribution(r)
    add_record(t, r, sign=-1)
    assert t.is_zero()


def test_as_dict_and_from_mapping():
    c = KpiCounts(*range(1, len(FIELDS) + 1))
    d = c.as_dict()
    assert list(d) == list(FIELDS)
    assert list(d.values()) == list(range(1, len(FIELDS) + 1))
    assert KpiCounts.from_mapping(d) == c
    # Warehouse rows carry other columns; missing or NULL counters are zero.
    row = {"tenant": "acme", "window_start": 0, "touchpoints": 4, "ces_sum": 10.0, "fcr_n": None}
    assert KpiCounts.from_mapping(row) == KpiCounts(touchpoints=4, ces_sum=10.0)
    assert c.as_tuple() == tuple(range(1, len(FIELDS) + 1))
    assert c.copy() == c and c.copy() is not c


# ---------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------
_opt_bool = st.sampled_from([True, False, None])
_records = st.one_of(
    st.builds(touchpoint, first_contact=_opt_bool, resolved=_opt_bool),
    st.builds(invitation),
    st.builds(
        response,
        nps=st.none() | st.integers(0, 10),
        csat=st.none() | st.integers(1, 5),
        ces=st.none() | st.integers(1, 7),
        fcr=_opt_bool,
    ),
)
_counts = st.builds(KpiCounts, *[st.integers(-10**6, 10**6) for _ in FIELDS])


def _total(records) -> KpiCounts:
    out = KpiCounts()
    for r in records:
        out.add(contribution(r))
    return out


@settings(max_examples=200, deadline=None)
@given(st.lists(_records, max_size=30), st.lists(_records, max_size=30))
def test_contribution_is_additive_over_concatenation(a, b):
    assert _total(a + b) == _total(a) + _total(b)
    direct = KpiCounts()
    for r in a + b:
        add_record(direct, r)
    assert direct == _total(a + b)


@settings(max_examples=200, deadline=None)
@given(st.lists(_records, max_size=40))
def test_contribution_invariants(records):
    c = _total(records)
    assert c.nps_n == c.promoters + c.passives + c.detractors
    assert c.tp_first_contact_resolved <= c.tp_first_contact <= c.touchpoints
    assert c.responses == sum(r["type"] == SR for r in records)
    assert c.csat_top2 <= c.csat_n and c.fcr_yes <= c.fcr_n
    assert c.ces_n <= c.ces_sum <= 7 * c.ces_n
    # add then retract every record -> zero
    for r in records:
        add_record(c, r, sign=-1)
    assert c.is_zero()


@settings(max_examples=200, deadline=None)
@given(_counts, _counts)
def test_add_then_subtract_is_identity(a, b):
    before = a.copy()
    a.add(b)
    a.subtract(b)
    assert a == before
    assert (a + b) == (b + a)


# ---------------------------------------------------------------------------
# Throughput (loose floor; see the report for measured numbers)
# ---------------------------------------------------------------------------
def test_add_record_throughput():
    records = [touchpoint(True, i % 3 == 0, i) for i in range(5000)]
    records += [invitation(i) for i in range(2500)]
    records += [response(i % 11, 1 + i % 5, 1 + i % 7, i % 2 == 0, i) for i in range(2500)]
    target = KpiCounts()
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        for r in records:
            add_record(target, r)
        best = min(best, time.perf_counter() - t0)
    rate = len(records) / best
    assert rate > 250_000, f"add_record ran at {rate:,.0f} records/s"
