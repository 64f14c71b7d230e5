"""The pure ingest pipeline: body parsing, per-event validation, records, raw-topic path."""
from __future__ import annotations

import hashlib
import hmac
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.pseudonymize import Pseudonymizer
from ingest.validation import (
    InvalidBody,
    MalformedItem,
    RawRejection,
    TimeHorizon,
    UnsupportedMediaType,
    parse_body,
    validate_items,
    validate_raw_message,
)
from schemas.events import Rejection

ENVELOPE = {"specversion": "1.0", "id": "evt-1", "source": "/crm", "time": "2024-05-01T12:34:56.789+02:00"}
TIME_MS = 1714559696789  # 2024-05-01T10:34:56.789Z
#: The server clock of these tests: 2024-05-02T00:00:00Z, the default limits (never the wall clock).
HORIZON = TimeHorizon(now_ms=1714608000000)


def fake_pseudonym(tenant: str, customer_id: str) -> str:
    return f"p({tenant},{customer_id})"


def touchpoint(id: str = "evt-1", **data: Any) -> dict[str, Any]:
    return {**ENVELOPE, "id": id, "type": "cx.touchpoint.v1",
            "data": {"interaction_id": "int-1", "channel": "chat", **data}}


def response(id: str = "evt-2", answers: Any = None, **data: Any) -> dict[str, Any]:
    payload = {"survey_id": "s-1", "answers": {"nps": 9} if answers is None else answers, **data}
    return {**ENVELOPE, "id": id, "type": "cx.survey.response.v1", "data": payload}


def invitation(id: str = "evt-3", **data: Any) -> dict[str, Any]:
    payload = {"interaction_id": "int-1", "customer_id": "c-1", "survey_id": "s-1", **data}
    return {**ENVELOPE, "id": id, "type": "cx.survey.invitation.v1", "data": payload}


def validate(items: list[Any], tenant: str = "acme") -> tuple[list[dict[str, Any]], list[Rejection]]:
    return validate_items(items, tenant, fake_pseudonym, HORIZON)


def reasons(rejections: list[Rejection]) -> list[tuple[int, str, str]]:
    return [(r.index, r.path, r.error) for r in rejections]


# -- parse_body -------------------------------------------------------------------


@pytest.mark.parametrize("content_type", [
    "application/cloudevents+json", "application/json", "Application/JSON; charset=utf-8",
])
def test_single_event_bodies(content_type: str) -> None:
    assert parse_body(orjson.dumps(touchpoint()), content_type) == [touchpoint()]


@pytest.mark.parametrize("content_type", ["application/json", "application/cloudevents-batch+json"])
def test_batch_bodies(content_type: str) -> None:
    body = orjson.dumps([touchpoint(), response()])
    assert parse_body(body, content_type) == [touchpoint(), response()]
    assert parse_body(b"[]", content_type) == []


def test_cloudevents_json_with_an_array_is_one_item_and_fails_validation_not_parsing() -> None:
    items = parse_body(b"[1, 2]", "application/cloudevents+json")
    assert items == [[1, 2]]
    assert reasons(validate(items)[1]) == [(0, "", "an event must be a JSON object")]


def test_batch_content_type_requires_an_array() -> None:
    with pytest.raises(InvalidBody) as info:
        parse_body(orjson.dumps(touchpoint()), "application/cloudevents-batch+json")
    assert info.value.message == "application/cloudevents-batch+json must be a JSON array of events"


@pytest.mark.parametrize("content_type", [
    "application/json", "application/cloudevents+json", "application/cloudevents-batch+json",
])
@pytest.mark.parametrize("body", [b"", b"{", b"[{}", b"\xff", b"{} {}"])
def test_malformed_single_or_batch_body_is_invalid(content_type: str, body: bytes) -> None:
    with pytest.raises(InvalidBody) as info:
        parse_body(body, content_type)
    assert info.value.message.startswith("malformed JSON: ")


@pytest.mark.parametrize("content_type", ["text/plain", "", "application/xml", "application/jsonx"])
def test_unsupported_media_type(content_type: str) -> None:
    with pytest.raises(UnsupportedMediaType) as info:
        parse_body(b"{}", content_type)
    shown = content_type or "(none)"
    assert info.value.message == (
        f"unsupported content type {shown!r}; use one of application/cloudevents+json, "
        "application/json, application/cloudevents-batch+json, application/x-ndjson"
    )


def test_ndjson_skips_blank_lines_and_isolates_malformed_ones() -> None:
    body = b"\n".join([
        orjson.dumps(touchpoint()), b"", b"   ", b"{not json", orjson.dumps(response()), b"",
    ])
    items = parse_body(body, "application/x-ndjson")
    assert len(items) == 3
    assert items[0] == touchpoint() and items[2] == response()
    assert isinstance(items[1], MalformedItem)
    assert items[1].error.startswith("malformed JSON on line 4: ")

    records, rejections = validate(items)
    assert [r["id"] for r in records] == ["evt-1", "evt-2"]
    assert [(r.index, r.path) for r in rejections] == [(1, "")]
    assert rejections[0].error == items[1].error


def test_ndjson_with_crlf_line_endings() -> None:
    body = orjson.dumps(touchpoint()) + b"\r\n" + orjson.dumps(response()) + b"\r\n"
    assert parse_body(body, "application/x-ndjson") == [touchpoint(), response()]


# -- records ----------------------------------------------------------------------


def test_touchpoint_record_is_exact() -> None:
    event = touchpoint(customer_id="c-1", segment="gold", region="eu", wait_s=3, handle_s=12.5,
                       resolved=True, abandoned=False, crm={"case": 7})
    event["subject"] = "case-9"
    event["tenant"] = "ignored-over-http"
    records, rejections = validate([event])
    assert rejections == []
    assert records == [{
        "tenant": "acme", "id": "evt-1", "source": "/crm", "type": "cx.touchpoint.v1",
        "time_ms": TIME_MS, "subject": "case-9", "interaction_id": "int-1",
        "customer": "p(acme,c-1)",
        "dims": {"channel": "chat", "segment": "gold", "region": "eu"},
        "attributes": {"crm": {"case": 7}},
        "wait_s": 3.0, "handle_s": 12.5, "resolved": True, "first_contact": None,
        "transferred": None, "abandoned": False, "converted": None,
    }]
    assert type(records[0]["wait_s"]) is float
    assert list(records[0]["dims"]) == ["channel", "segment", "region"]


def test_survey_response_record_is_exact() -> None:
    event = response(answers={"nps": 9, "fcr": True}, comment="fast", weight=1.5, team="t1", channel="app",
                     lang="de")
    records, rejections = validate([event])
    assert rejections == []
    assert records == [{
        "tenant": "acme", "id": "evt-2", "source": "/crm", "type": "cx.survey.response.v1",
        "time_ms": TIME_MS, "subject": None, "interaction_id": "", "customer": "",
        "dims": {"channel": "app", "team": "t1"}, "attributes": {"lang": "de"},
        "survey_id": "s-1", "nps": 9, "csat": None, "ces": None, "fcr": True,
        "comment": "fast", "weight": 1.5, "duration_s": None,
    }]


def test_survey_duration_is_kept_and_bounded() -> None:
    records, rejections = validate([response(answers={"nps": 9}, duration_s=42.5)])
    assert rejections == [] and records[0]["duration_s"] == 42.5
    for bad in (-1, 86_400.5, "12", True):
        _, rejections = validate([response(answers={"nps": 9}, duration_s=bad)])
        assert [r.path for r in rejections] == ["data.duration_s"], bad


def test_survey_invitation_record_is_exact() -> None:
    records, rejections = validate([invitation(via="sms")])
    assert rejections == []
    assert records == [{
        "tenant": "acme", "id": "evt-3", "source": "/crm", "type": "cx.survey.invitation.v1",
        "time_ms": TIME_MS, "subject": None, "interaction_id": "int-1", "customer": "p(acme,c-1)",
        "dims": {}, "attributes": {}, "survey_id": "s-1", "via": "sms",
    }]
    assert validate([invitation()])[0][0]["via"] is None


def test_real_pseudonymizer_is_keyed_hmac_of_tenant_and_id() -> None:
    key = b"k" * 32
    records, _ = validate_items([invitation()], "acme", Pseudonymizer(key), HORIZON)
    expected = hmac.new(key, b"acme\x1fc-1", hashlib.sha256).hexdigest()[:32]
    assert records[0]["customer"] == expected
    assert orjson.dumps(records).count(b"c-1") == 0  # the raw id is gone


def test_records_encode_with_orjson() -> None:
    records, _ = validate([touchpoint(), response(), invitation()])
    assert orjson.loads(orjson.dumps(records)) == records


# -- rejections ---------------------------------------------------------------------


def test_each_item_is_judged_independently_with_exact_paths() -> None:
    items = [
        touchpoint(id="a"),
        response(id="b", answers={"nps": 11}),
        {**touchpoint(id="c"), "time": "2024-05-01T12:00:00"},
        {**touchpoint(id="d"), "type": "cx.nope.v1"},
        {k: v for k, v in touchpoint(id="e").items() if k != "type"},
        {**touchpoint(id="f"), "id": ""},
        "not an object",
        touchpoint(id="g", channel="fax"),
        response(id="h", answers={}),
        response(id="i", answers={"csat": 4.0}),
        {**invitation(id="j"), "data": None},
        invitation(id="k"),
    ]
    records, rejections = validate(items)
    assert [r["id"] for r in records] == ["a", "k"]
    expected_types = "cx.touchpoint.v1, cx.survey.response.v1, cx.survey.invitation.v1, cx.signal.v1, cx.outcome.v1"
    assert reasons(rejections) == [
        (1, "data.answers.nps", "Input should be less than or equal to 10"),
        (2, "time", "Input should have timezone info"),
        (3, "type", f"unknown event type 'cx.nope.v1'; expected one of {expected_types}"),
        (4, "type", f"missing event type; expected one of {expected_types}"),
        (5, "id", "String should have at least 1 character"),
        (6, "", "an event must be a JSON object"),
        (7, "data.channel", "Input should be 'phone', 'chat', 'email', 'web', 'store', 'social' or 'app'"),
        (8, "data.answers", "at least one of nps, csat, ces, fcr, aspects is required"),
        (9, "data.answers.csat", "Input should be a valid integer"),
        (10, "data", "must be a JSON object"),
    ]


def test_missing_field_reports_field_required() -> None:
    event = touchpoint()
    del event["data"]["interaction_id"]
    assert reasons(validate([event])[1]) == [(0, "data.interaction_id", "field required")]


def test_duplicate_ids_keep_the_first_accepted_event_and_are_not_rejections() -> None:
    items = [
        response(id="x", answers={"nps": 99}),  # invalid: nothing kept under "x" yet
        touchpoint(id="x"),
        response(id="x"),                       # resend: dropped, not rejected
        invitation(id="y"),
        invitation(id="x"),                     # resend
        {**touchpoint(id="y"), "time": "9999-12-31T00:00:00Z"},  # rejected for its time, not as a resend
    ]
    records, rejections = validate(items)
    assert [(r["id"], r["type"]) for r in records] == [("x", "cx.touchpoint.v1"), ("y", "cx.survey.invitation.v1")]
    assert reasons(rejections) == [
        (0, "data.answers.nps", "Input should be less than or equal to 10"),
        (5, "time", "time 9999-12-31T00:00:00Z is more than 900 s ahead of the server clock "
                    "(2024-05-02T00:00:00Z; api.max_future_s)"),
    ]
    assert len(items) - len(records) - len(rejections) == 2  # the duplicates


#: 2026-12-01T07:00:00Z; 3650 days before it is 2016-12-03T07:00:00Z (two leap days in between).
NOW_MS = 1796108400000
AHEAD = "more than 900 s ahead of the server clock (2026-12-01T07:00:00Z; api.max_future_s)"
BEHIND = "more than 3650 days before the server clock (2026-12-01T07:00:00Z; api.max_event_age_days)"


def at(id: str, time: str) -> dict[str, Any]:
    return {**touchpoint(id=id), "time": time}


def test_event_times_outside_the_horizon_are_rejected_naming_the_limit() -> None:
    items = [
        at("far-future", "9999-12-31T00:00:00Z"),
        at("far-past", "0001-01-01T00:00:00Z"),
        at("edge-ahead", "2026-12-01T07:15:00Z"),             # exactly 900 s ahead: in
        at("past-edge-ahead", "2026-12-01T08:15:00.001+01:00"),  # 900.001 s ahead, shown in UTC
        at("edge-behind", "2016-12-03T07:00:00Z"),            # exactly 3650 days behind: in
        at("past-edge-behind", "2016-12-03T06:59:59.999Z"),
        at("overflow", "9999-12-31T23:00:00-05:00"),          # past datetime.max in UTC
        at("underflow", "0001-01-01T00:00:00+05:00"),
    ]
    records, rejections = validate_items(items, "acme", fake_pseudonym, TimeHorizon(NOW_MS))
    assert [r["id"] for r in records] == ["edge-ahead", "edge-behind"]
    assert [r["time_ms"] for r in records] == [NOW_MS + 900_000, NOW_MS - 3650 * 86_400_000]
    assert reasons(rejections) == [
        (0, "time", f"time 9999-12-31T00:00:00Z is {AHEAD}"),
        (1, "time", f"time 0001-01-01T00:00:00Z is {BEHIND}"),
        (3, "time", f"time 2026-12-01T07:15:00.001Z is {AHEAD}"),
        (5, "time", f"time 2016-12-03T06:59:59.999Z is {BEHIND}"),
        (6, "time", "time is out of range once converted to UTC"),
        (7, "time", "time is out of range once converted to UTC"),
    ]


def test_horizon_limits_are_the_given_ones() -> None:
    horizon = TimeHorizon(NOW_MS, max_future_s=0, max_age_days=1.5)
    items = [at("now", "2026-12-01T07:00:00Z"), at("ahead", "2026-12-01T07:00:00.001Z"),
             at("edge", "2026-11-29T19:00:00Z"), at("old", "2026-11-29T18:59:59Z")]
    records, rejections = validate_items(items, "acme", fake_pseudonym, horizon)
    assert [r["id"] for r in records] == ["now", "edge"]
    assert reasons(rejections) == [
        (1, "time", "time 2026-12-01T07:00:00.001Z is more than 0 s ahead of the server clock "
                    "(2026-12-01T07:00:00Z; api.max_future_s)"),
        (3, "time", "time 2026-11-29T18:59:59Z is more than 1.5 days before the server clock "
                    "(2026-12-01T07:00:00Z; api.max_event_age_days)"),
    ]


def test_default_horizon_reads_the_clock_with_the_default_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("ingest.validation.time.time_ns", lambda: NOW_MS * 1_000_000 + 999_999)
    assert TimeHorizon.from_clock() == TimeHorizon(NOW_MS, 900, 3650)
    _, rejections = validate_items([at("x", "9999-12-31T00:00:00Z")], "acme", fake_pseudonym)
    assert reasons(rejections) == [(0, "time", f"time 9999-12-31T00:00:00Z is {AHEAD}")]


def test_string_lengths_are_bounded_with_exact_paths() -> None:
    ok = touchpoint(id="i" * 256, segment="s" * 128, interaction_id="n" * 256)
    ok["source"], ok["subject"] = "/" * 1024, "c" * 1024
    items = [
        ok,
        touchpoint(id="i" * 257),
        {**touchpoint(id="src"), "source": "/" * 1025},
        {**touchpoint(id="sub"), "subject": "c" * 1025},
        touchpoint(id="seg", segment="s" * 129),
        touchpoint(id="agent", agent_id="a" * 129),
        response(id="team", team="t" * 129),
        touchpoint(id="int", interaction_id="n" * 257),
        invitation(id="cust", customer_id="c" * 257),
        response(id="survey", survey_id="v" * 257),
        touchpoint(id="i" * 10_000),
    ]
    records, rejections = validate(items)
    assert [r["id"] for r in records] == ["i" * 256]
    assert reasons(rejections) == [
        (1, "id", "String should have at most 256 characters"),
        (2, "source", "String should have at most 1024 characters"),
        (3, "subject", "String should have at most 1024 characters"),
        (4, "data.segment", "String should have at most 128 characters"),
        (5, "data.agent_id", "String should have at most 128 characters"),
        (6, "data.team", "String should have at most 128 characters"),
        (7, "data.interaction_id", "String should have at most 256 characters"),
        (8, "data.customer_id", "String should have at most 256 characters"),
        (9, "data.survey_id", "String should have at most 256 characters"),
        (10, "id", "String should have at most 256 characters"),
    ]


# -- raw topic ------------------------------------------------------------------------


def raw_reasons(rejections: list[RawRejection]) -> list[tuple[int, str, str, str | None]]:
    return [(r.index, r.path, r.error, r.tenant) for r in rejections]


def test_raw_single_event_takes_the_tenant_extension() -> None:
    records, rejections = validate_raw_message(orjson.dumps({**invitation(), "tenant": "globex"}), None,
                                               fake_pseudonym, HORIZON)
    assert rejections == []
    assert [(r["tenant"], r["customer"]) for r in records] == [("globex", "p(globex,c-1)")]


def test_raw_array_with_header_fallback_bad_tenants_and_per_tenant_duplicates() -> None:
    items = [
        {**touchpoint(id="a"), "tenant": "acme"},
        {**touchpoint(id="a"), "tenant": "globex"},       # same id, other tenant: not a duplicate
        {**touchpoint(id="a"), "tenant": "acme"},         # duplicate
        touchpoint(id="b"),                               # tenant from the ce_tenant header
        {**touchpoint(id="c"), "tenant": "Bad Tenant"},
        {**touchpoint(id="d"), "tenant": 7},
        {**response(id="e", answers={"ces": 0}), "tenant": "acme"},
    ]
    value = orjson.dumps(items)
    records, rejections = validate_raw_message(value, [("ce_tenant", b"initech")], fake_pseudonym, HORIZON)
    assert [(r["tenant"], r["id"]) for r in records] == [("acme", "a"), ("globex", "a"), ("initech", "b")]
    pattern = "tenant must match ^[a-z0-9][a-z0-9_-]{0,62}$"
    assert raw_reasons(rejections) == [  # the resend (index 2) is dropped, not dead-lettered
        (4, "tenant", pattern, None),
        (5, "tenant", pattern, None),
        (6, "data.answers.ces", "Input should be greater than or equal to 1", "acme"),
    ]
    assert [orjson.loads(r.raw) for r in rejections] == [items[4], items[5], items[6]]


def test_raw_path_applies_the_time_horizon() -> None:
    items = [{**at("a", "9999-12-31T00:00:00Z"), "tenant": "acme"},
             {**at("b", "2026-12-01T07:00:00Z"), "tenant": "acme"}]
    records, rejections = validate_raw_message(orjson.dumps(items), None, fake_pseudonym, TimeHorizon(NOW_MS))
    assert [r["id"] for r in records] == ["b"]
    assert raw_reasons(rejections) == [(0, "time", f"time 9999-12-31T00:00:00Z is {AHEAD}", "acme")]
    assert orjson.loads(rejections[0].raw) == items[0]


def test_raw_event_without_any_tenant_is_rejected() -> None:
    _, rejections = validate_raw_message(orjson.dumps(touchpoint()), {"other": b"x"}, fake_pseudonym, HORIZON)
    assert raw_reasons(rejections) == [(0, "tenant", "missing tenant extension attribute", None)]


def test_raw_header_mapping_is_accepted() -> None:
    records, _ = validate_raw_message(orjson.dumps([touchpoint()]), {"CE_TENANT": b"acme"}, fake_pseudonym,
                                      HORIZON)
    assert [r["tenant"] for r in records] == ["acme"]


@pytest.mark.parametrize(("value", "error_prefix"), [
    (b"{oops", "malformed JSON: "),
    (b"42", "a raw message must be a CloudEvent JSON object or an array of them"),
])
def test_raw_unreadable_value_is_one_rejection_keeping_the_bytes(value: bytes, error_prefix: str) -> None:
    records, rejections = validate_raw_message(value, None, fake_pseudonym, HORIZON)
    assert records == []
    assert [(r.index, r.path, r.tenant, r.raw) for r in rejections] == [(0, "", None, value)]
    assert rejections[0].error.startswith(error_prefix)


# -- properties --------------------------------------------------------------------------

text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=20)
dim = st.none() | st.text(max_size=128)
flag = st.none() | st.booleans()
seconds = st.none() | st.floats(min_value=0, max_value=30 * 86_400, allow_nan=False, allow_infinity=False)


@st.composite
def touchpoint_data(draw: st.DrawFn) -> dict[str, Any]:
    data: dict[str, Any] = {
        "interaction_id": draw(text),
        "customer_id": draw(st.none() | text),
        "channel": draw(st.sampled_from(["phone", "chat", "email", "web", "store", "social", "app"])),
    }
    for name in ("journey_step", "segment", "queue", "team", "agent_id", "site", "region"):
        data[name] = draw(dim)
    for name in ("wait_s", "handle_s"):
        data[name] = draw(seconds)
    for name in ("resolved", "first_contact", "transferred", "abandoned", "converted"):
        data[name] = draw(flag)
    data = {k: v for k, v in data.items() if v is not None or draw(st.booleans())}
    extra = draw(st.dictionaries(st.text(min_size=1, max_size=8).map(lambda s: "x_" + s),
                                 st.integers(-(2**63), 2**64 - 1) | st.text(max_size=5), max_size=3))
    return {**data, **extra}


@settings(max_examples=150, deadline=None)
@given(st.lists(touchpoint_data(), max_size=8), st.sampled_from(["json", "ndjson", "batch"]))
def test_valid_touchpoints_round_trip_into_records(datas: list[dict[str, Any]], framing: str) -> None:
    events = [{**ENVELOPE, "id": f"e{i}", "type": "cx.touchpoint.v1", "data": d} for i, d in enumerate(datas)]
    if framing == "ndjson":
        body, content_type = b"\n".join(orjson.dumps(e) for e in events), "application/x-ndjson"
    elif framing == "batch":
        body, content_type = orjson.dumps(events), "application/cloudevents-batch+json"
    else:
        body, content_type = orjson.dumps(events), "application/json"

    records, rejections = validate(parse_body(body, content_type))
    assert rejections == []
    assert len(records) == len(events)
    for data, record in zip(datas, records):
        dims = {k: data[k] for k in ("channel", "journey_step", "segment", "queue", "team", "agent_id", "site",
                                     "region") if data.get(k) is not None}
        assert record["dims"] == dims
        assert record["attributes"] == {k: v for k, v in data.items() if k.startswith("x_")}
        assert record["interaction_id"] == data["interaction_id"]
        expected_customer = "" if data.get("customer_id") is None else f"p(acme,{data['customer_id']})"
        assert record["customer"] == expected_customer
        for name in ("wait_s", "handle_s", "resolved", "first_contact", "transferred", "abandoned", "converted"):
            assert record[name] == data.get(name)
        assert record["time_ms"] == TIME_MS
        assert orjson.loads(orjson.dumps(record)) == record


@settings(max_examples=150, deadline=None)
@given(st.lists(
    st.one_of(
        st.builds(lambda i, nps: response(id=i, answers={"nps": nps}), st.sampled_from("abc"),
                  st.integers(-2, 12) | st.floats(0, 10) | st.booleans()),
        st.builds(lambda i: touchpoint(id=i), st.sampled_from("abc")),
        st.integers() | st.text(max_size=3) | st.none(),
    ),
    max_size=10,
))
def test_every_item_is_accepted_rejected_or_a_duplicate_exactly_once(items: list[Any]) -> None:
    records, rejections = validate(items)
    indices = [r.index for r in rejections]
    assert indices == sorted(set(indices))
    assert len({r["id"] for r in records}) == len(records)
    rejected = set(indices)
    valid_ids = [item["id"] for i, item in enumerate(items) if i not in rejected]
    assert [r["id"] for r in records] == list(dict.fromkeys(valid_ids))  # first of each id, in order
    assert len(items) - len(records) - len(rejections) == len(valid_ids) - len(set(valid_ids))
    for r in records:
        if r["type"] == "cx.survey.response.v1":
            assert type(r["nps"]) is int and 0 <= r["nps"] <= 10
