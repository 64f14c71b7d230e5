"""warehouse.record_queries: cursors, SQL building, and which records stand behind a metric's n."""
from __future__ import annotations

import base64

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from api.kpi_series import bucket_plan
from kpi import KpiCounts, Metric, add_record, measure
from warehouse import record_queries as rq
from warehouse.tables import Table

SEL = rq.Selection.of("acme", "nps", 1_000, 2_000, {"channel": "chat", "segment": "vip"})

positions = st.tuples(st.integers(-(2**62), 2**62), st.integers(0, 2**64 - 1), st.text(max_size=30),
                      st.text(max_size=30))


@settings(max_examples=200, deadline=None)
@given(after=positions)
def test_cursor_round_trip(after) -> None:
    token = rq.encode_cursor(SEL, after)
    assert token.isascii() and "=" not in token and "/" not in token and "+" not in token
    c = rq.decode_cursor(token)
    assert c == rq.Cursor(after, SEL.from_ms, SEL.to_ms, SEL.fingerprint())


@pytest.mark.parametrize("token", [
    "", "x", "%%%", base64.urlsafe_b64encode(b"[1,2,3]").decode(),
    base64.urlsafe_b64encode(orjson.dumps([2, [1, 2, "s", "i"], 0, 1, "f"])).decode(),  # unknown version
    base64.urlsafe_b64encode(orjson.dumps([1, [1, -2, "s", "i"], 0, 1, "f"])).decode(),  # negative key
    base64.urlsafe_b64encode(orjson.dumps([1, [True, 2, "s", "i"], 0, 1, "f"])).decode(),  # bool time
    base64.urlsafe_b64encode(orjson.dumps([1, [1, 2, 3, "i"], 0, 1, "f"])).decode(),  # int source
    base64.urlsafe_b64encode(orjson.dumps({"a": 1})).decode(),
])
def test_bad_cursors_are_rejected(token: str) -> None:
    with pytest.raises(rq.InvalidCursor):
        rq.decode_cursor(token)


def test_fingerprint_covers_tenant_metric_range_and_filters() -> None:
    same = rq.Selection.of("acme", Metric.nps, 1_000, 2_000, {"segment": "vip", "channel": "chat"})
    assert same.fingerprint() == SEL.fingerprint()
    others = [
        rq.Selection.of("other", "nps", 1_000, 2_000, {"channel": "chat", "segment": "vip"}),
        rq.Selection.of("acme", "csat", 1_000, 2_000, {"channel": "chat", "segment": "vip"}),
        rq.Selection.of("acme", "nps", 1_000, 2_001, {"channel": "chat", "segment": "vip"}),
        rq.Selection.of("acme", "nps", 1_000, 2_000, {"channel": "chat"}),
        rq.Selection.of("acme", "nps", 1_000, 2_000, {"channel": "chat", "segment": "smb"}),
    ]
    assert len({SEL.fingerprint(), *(o.fingerprint() for o in others)}) == len(others) + 1


def test_selection_rejects_unknown_dimensions_and_invitation_metrics() -> None:
    with pytest.raises(ValueError, match="unknown dimension"):
        rq.Selection.of("acme", "nps", 0, 1, {"channel; DROP TABLE x": "chat"})
    with pytest.raises(ValueError, match="invitations"):
        rq.Selection.of("acme", "response_rate", 0, 1)


def test_page_sql_binds_every_value() -> None:
    sql, params = rq.page_sql(SEL, (1_500, 7, "src", "id-1"), 51)
    assert sql == (
        "SELECT event_key, " + ", ".join(rq.COLUMNS[Table.survey_responses]) + " FROM survey_responses FINAL "
        "WHERE tenant = {tenant:String} AND time_ms >= {from:Int64} AND time_ms < {to:Int64} AND nps IS NOT NULL "
        "AND bitAnd(flags, 1) = 0 "  # a repeat (respondent rule, kpi.panel) is behind no value
        "AND channel = {f0:String} AND segment = {f1:String} "
        "AND (time_ms, event_key, source, event_id) > ({a_t:Int64}, {a_k:UInt64}, {a_s:String}, {a_i:String}) "
        "ORDER BY time_ms, event_key, source, event_id LIMIT {limit:UInt32}"
    )
    assert params == {"tenant": "acme", "from": 1_000, "to": 2_000, "f0": "chat", "f1": "vip",
                      "a_t": 1_500, "a_k": 7, "a_s": "src", "a_i": "id-1", "limit": 51}
    first, p = rq.page_sql(rq.Selection.of("acme", "volume", 0, 9), None, 10)
    assert "FROM touchpoints FINAL" in first and "a_t" not in p and "a_t" not in first
    assert "customer" in first and "comment" not in first
    with pytest.raises(ValueError):
        rq.page_sql(SEL, None, 0)


def test_weighted_sql_groups_by_bucket_group_and_answer() -> None:
    sql, params = rq.weighted_answers_sql(rq.Selection.of("acme", "ces", 0, 10, {"team": "t1"}), 3_600_000,
                                          ("segment", "channel"))
    assert sql.startswith("SELECT time_ms - positiveModulo(time_ms, {base:Int64}) AS bucket, channel, segment, ces, "
                          "count(), sum(ifNull(weight, 1.0)), sum(pow(ifNull(weight, 1.0), 2)) "
                          "FROM survey_responses FINAL")
    assert sql.endswith("GROUP BY bucket, channel, segment, ces ORDER BY bucket, channel, segment, ces")
    assert "ces IS NOT NULL" in sql and "team = {f0:String}" in sql
    assert params == {"tenant": "acme", "from": 0, "to": 10, "f0": "t1", "base": 3_600_000}
    with pytest.raises(ValueError, match="no weighted form"):
        rq.weighted_answers_sql(rq.Selection.of("acme", "volume", 0, 10), 60_000, ())


# Which records count in a metric's n, per the counters (kpi.counts.add_record): the SQL conditions of
# RECORDS_BEHIND must say the same. Checked here on the answer fields they test.
_CONDITION_FIELD = {"nps IS NOT NULL": "nps", "csat IS NOT NULL": "csat", "ces IS NOT NULL": "ces",
                    "fcr IS NOT NULL": "fcr", "first_contact = true": "first_contact", "1": None}


@settings(max_examples=300, deadline=None)
@given(nps=st.none() | st.integers(0, 10), csat=st.none() | st.integers(1, 5), ces=st.none() | st.integers(1, 7),
       fcr=st.none() | st.booleans(), first_contact=st.none() | st.booleans(), resolved=st.none() | st.booleans())
def test_records_behind_match_the_counters(nps, csat, ces, fcr, first_contact, resolved) -> None:
    response = {"type": "cx.survey.response.v1", "nps": nps, "csat": csat, "ces": ces, "fcr": fcr}
    touchpoint = {"type": "cx.touchpoint.v1", "first_contact": first_contact, "resolved": resolved}
    for metric, (table, condition) in rq.RECORDS_BEHIND.items():
        if condition not in _CONDITION_FIELD:  # the outcome and experience conditions: run in chDB by
            continue                           # tests/integration/test_records_behind_sql.py
        record = response if table is Table.survey_responses else touchpoint
        counts = KpiCounts()
        add_record(counts, record)
        field = _CONDITION_FIELD[condition]
        selected = True if field is None else (record[field] is True if condition.endswith("= true")
                                                else record[field] is not None)
        assert measure(metric, counts).n == int(selected), (metric, record)
    # No drill-down of invitations (the response rate) nor, yet, of signals.
    assert set(rq.RECORDS_BEHIND) == set(Metric) - {Metric.response_rate, Metric.signal_volume, Metric.review_rating,
                                                    Metric.signal_negative_share, Metric.engagement}


@pytest.mark.parametrize("window, frm, to, covered", [
    ("1h", 3_600_000, 7_200_000, (3_600_000, 7_200_000)),
    ("1h", 5_400_000, 9_000_000, (3_600_000, 10_800_000)),  # unaligned: two buckets
    ("24h", 86_400_000, 90_000_000, (3_600_000, 90_000_000)),  # one rolling point: 24 hours back
    ("1m", 60_000, 60_001, (60_000, 120_000)),
])
def test_bucket_plan_covers_the_points(window, frm, to, covered) -> None:
    assert bucket_plan(window, frm, to).covered() == covered
