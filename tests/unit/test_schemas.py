"""The event contract: generated JSON Schema files and model validation rules."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from schemas import generate
from schemas.events import (
    CLOUD_EVENT_ADAPTER,
    Channel,
    IngestResult,
    InvitationVia,
    Rejection,
    SignalEvent,
    OutcomeEvent,
    SurveyInvitationEvent,
    SurveyResponseEvent,
    TouchpointEvent,
)
from schemas.records import EventType

ENVELOPE = {"specversion": "1.0", "id": "evt-1", "source": "/crm", "time": "2024-05-01T12:34:56.789+02:00"}


def touchpoint(**data: Any) -> dict[str, Any]:
    return {**ENVELOPE, "type": "cx.touchpoint.v1", "data": {"interaction_id": "int-1", "channel": "chat", **data}}


def response(answers: Any = None, **data: Any) -> dict[str, Any]:
    payload = {"survey_id": "s-1", "answers": {"nps": 9} if answers is None else answers, **data}
    return {**ENVELOPE, "type": "cx.survey.response.v1", "data": payload}


def invitation(**data: Any) -> dict[str, Any]:
    payload = {"interaction_id": "int-1", "customer_id": "c-1", "survey_id": "s-1", **data}
    return {**ENVELOPE, "type": "cx.survey.invitation.v1", "data": payload}


def errors(event: Any) -> list[tuple[tuple[Any, ...], str]]:
    with pytest.raises(ValidationError) as info:
        CLOUD_EVENT_ADAPTER.validate_python(event)
    return [(e["loc"], e["type"]) for e in info.value.errors()]


# -- generated files ------------------------------------------------------------


def test_checked_in_schema_files_equal_what_the_models_generate() -> None:
    rendered = generate.render_schemas()
    assert sorted(rendered) == [
        "cloudevent.schema.json",
        "cx.outcome.v1.schema.json",
        "cx.signal.v1.schema.json",
        "cx.survey.invitation.v1.schema.json",
        "cx.survey.response.v1.schema.json",
        "cx.touchpoint.v1.schema.json",
        "ingest-result.schema.json",
    ]
    for name, content in rendered.items():
        assert (generate.JSON_DIR / name).read_bytes() == content, f"{name} drifted: run python -m schemas.generate"
    assert sorted(p.name for p in generate.JSON_DIR.glob("*.schema.json")) == sorted(rendered)
    assert generate.drifted() == []


def test_rendering_is_deterministic_sorted_and_newline_terminated() -> None:
    first, second = generate.render_schemas(), generate.render_schemas()
    assert first == second
    for content in first.values():
        assert content.endswith(b"}\n")
        document = orjson.loads(content)
        assert orjson.dumps(document, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n" == content
        assert document["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_check_exits_1_on_drift_and_0_when_regenerated(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert generate.main(["--check", "--dir", str(tmp_path)]) == 1
    assert generate.main(["--dir", str(tmp_path)]) == 0
    assert generate.main(["--check", "--dir", str(tmp_path)]) == 0

    (tmp_path / "cx.touchpoint.v1.schema.json").write_bytes(b"{}\n")
    (tmp_path / "old.schema.json").write_bytes(b"{}\n")
    assert generate.drifted(tmp_path) == ["cx.touchpoint.v1.schema.json", "old.schema.json"]
    assert generate.main(["--check", "--dir", str(tmp_path)]) == 1
    assert "cx.touchpoint.v1.schema.json, old.schema.json" in capsys.readouterr().err

    generate.write_schemas(tmp_path)
    assert not (tmp_path / "old.schema.json").exists()
    assert generate.drifted(tmp_path) == []


def test_union_schema_discriminates_on_type() -> None:
    document = orjson.loads(generate.render_schemas()["cloudevent.schema.json"])
    assert document["discriminator"] == {
        "mapping": {
            "cx.signal.v1": "#/$defs/SignalEvent",
            "cx.outcome.v1": "#/$defs/OutcomeEvent",
            "cx.survey.invitation.v1": "#/$defs/SurveyInvitationEvent",
            "cx.survey.response.v1": "#/$defs/SurveyResponseEvent",
            "cx.touchpoint.v1": "#/$defs/TouchpointEvent",
        },
        "propertyName": "type",
    }
    touch = document["$defs"]["TouchpointEvent"]
    assert touch["required"] == ["specversion", "id", "source", "time", "type", "data"]
    assert touch["properties"]["time"] == {
        "format": "date-time", "title": "Time", "type": "string",
        "description": "When it happened: ISO-8601 with a timezone. Ingest refuses times more than "
        "`api.max_future_s` ahead of or `api.max_event_age_days` behind the server clock.",
    }
    assert {name: (touch["properties"][name].get("minLength"), touch["properties"][name].get("maxLength"))
            for name in ("id", "source")} == {"id": (1, 256), "source": (1, 1024)}
    assert touch["properties"]["subject"]["anyOf"][0] == {"maxLength": 1024, "type": "string"}
    segment = document["$defs"]["TouchpointData"]["properties"]["segment"]["anyOf"][0]
    assert segment == {"description": "A dimension value, at most 128 characters.", "maxLength": 128,
                       "type": "string"}
    assert document["$defs"]["TouchpointData"]["additionalProperties"] is True
    assert document["$defs"]["SurveyAnswers"]["additionalProperties"] is False


def test_event_models_cover_exactly_the_record_event_types() -> None:
    literals = {m.model_fields["type"].annotation.__args__[0]  # type: ignore[union-attr]
                for m in (TouchpointEvent, SurveyResponseEvent, SurveyInvitationEvent, SignalEvent, OutcomeEvent)}
    assert literals == {t.value for t in EventType}


# -- envelope ---------------------------------------------------------------------


def test_time_is_normalized_to_utc() -> None:
    event = CLOUD_EVENT_ADAPTER.validate_python(touchpoint())
    assert event.time == datetime(2024, 5, 1, 10, 34, 56, 789000, tzinfo=timezone.utc)
    assert event.time.tzinfo is timezone.utc


@pytest.mark.parametrize("time", [
    "2024-05-01T12:34:56",       # naive
    "2024-05-01",                # a date
    "1714559696",                # a numeric string pydantic would read as Unix time
    1714559696,                  # a number
    "yesterday",
])
def test_time_without_timezone_or_not_iso_is_rejected(time: Any) -> None:
    assert [loc for loc, _ in errors({**touchpoint(), "time": time})] == [("cx.touchpoint.v1", "time")]


@pytest.mark.parametrize(("field", "value", "kind"), [
    ("specversion", "0.3", "literal_error"),
    ("specversion", 1.0, "literal_error"),
    ("id", "", "string_too_short"),
    ("id", 7, "string_type"),
    ("source", "", "string_too_short"),
    ("subject", 5, "string_type"),
])
def test_envelope_field_errors_have_exact_locations(field: str, value: Any, kind: str) -> None:
    assert errors({**touchpoint(), field: value}) == [(("cx.touchpoint.v1", field), kind)]


def test_missing_envelope_fields_are_each_reported() -> None:
    event = {"type": "cx.survey.invitation.v1", "data": invitation()["data"]}
    assert errors(event) == [
        (("cx.survey.invitation.v1", "specversion"), "missing"),
        (("cx.survey.invitation.v1", "id"), "missing"),
        (("cx.survey.invitation.v1", "source"), "missing"),
        (("cx.survey.invitation.v1", "time"), "missing"),
    ]


def test_unknown_or_missing_type_fails_the_discriminator() -> None:
    assert errors({**touchpoint(), "type": "cx.other.v1"}) == [((), "union_tag_invalid")]
    event = touchpoint()
    del event["type"]
    assert errors(event) == [((), "union_tag_not_found")]


def test_extension_attributes_are_ignored() -> None:
    event = CLOUD_EVENT_ADAPTER.validate_python({**touchpoint(), "tenant": "acme", "traceparent": "00-ab"})
    assert "tenant" not in event.model_dump()
    assert event.model_extra is None


# -- data -------------------------------------------------------------------------


def test_touchpoint_data_is_parsed_and_unknown_fields_kept() -> None:
    event = CLOUD_EVENT_ADAPTER.validate_python(
        touchpoint(customer_id="c-1", wait_s=3, handle_s=12.5, resolved=True, region="eu", crm={"case": 7})
    )
    assert isinstance(event, TouchpointEvent)
    data = event.data
    assert (data.interaction_id, data.customer_id, data.channel) == ("int-1", "c-1", Channel.chat)
    assert (data.wait_s, type(data.wait_s), data.handle_s) == (3.0, float, 12.5)
    assert (data.resolved, data.region, data.segment) == (True, "eu", None)
    assert data.attributes == {"crm": {"case": 7}}


@pytest.mark.parametrize(("data", "loc", "kind"), [
    ({"channel": "fax"}, ("data", "channel"), "enum"),
    ({"interaction_id": ""}, ("data", "interaction_id"), "string_too_short"),
    ({"wait_s": -1}, ("data", "wait_s"), "greater_than_equal"),
    ({"wait_s": 30 * 86_400 + 0.5}, ("data", "wait_s"), "less_than_equal"),  # past the counters' bound
    ({"handle_s": 1e300}, ("data", "handle_s"), "less_than_equal"),
    ({"handle_s": "12"}, ("data", "handle_s"), "float_type"),
    ({"handle_s": True}, ("data", "handle_s"), "float_type"),
    ({"resolved": "yes"}, ("data", "resolved"), "bool_type"),
    ({"resolved": 1}, ("data", "resolved"), "bool_type"),
    ({"segment": "x" * 129}, ("data", "segment"), "string_too_long"),
    ({"team": 5}, ("data", "team"), "string_type"),
])
def test_touchpoint_data_errors_have_exact_locations(data: dict[str, Any], loc: tuple[str, ...], kind: str) -> None:
    assert errors(touchpoint(**data)) == [(("cx.touchpoint.v1", *loc), kind)]


def test_touchpoint_requires_interaction_and_channel() -> None:
    event = {**ENVELOPE, "type": "cx.touchpoint.v1", "data": {}}
    assert errors(event) == [
        (("cx.touchpoint.v1", "data", "interaction_id"), "missing"),
        (("cx.touchpoint.v1", "data", "channel"), "missing"),
    ]
    assert errors({**ENVELOPE, "type": "cx.touchpoint.v1"}) == [(("cx.touchpoint.v1", "data"), "missing")]
    assert errors({**ENVELOPE, "type": "cx.touchpoint.v1", "data": []}) == [
        (("cx.touchpoint.v1", "data"), "model_type")
    ]


def test_dimension_of_exactly_128_chars_is_accepted() -> None:
    assert CLOUD_EVENT_ADAPTER.validate_python(touchpoint(segment="x" * 128)).data.segment == "x" * 128


@pytest.mark.parametrize("bad", [7.5, "7", True, 7.0])
def test_answers_are_strict_integers(bad: Any) -> None:
    assert errors(response({"nps": bad})) == [(("cx.survey.response.v1", "data", "answers", "nps"), "int_type")]


@pytest.mark.parametrize(("answers", "loc", "kind"), [
    ({"nps": 11}, "nps", "less_than_equal"),
    ({"nps": -1}, "nps", "greater_than_equal"),
    ({"csat": 0}, "csat", "greater_than_equal"),
    ({"csat": 6}, "csat", "less_than_equal"),
    ({"ces": 8}, "ces", "less_than_equal"),
    ({"fcr": "true"}, "fcr", "bool_type"),
    ({"nps": 9, "nsp": 9}, "nsp", "extra_forbidden"),
])
def test_answer_errors_have_exact_locations(answers: dict[str, Any], loc: str, kind: str) -> None:
    assert errors(response(answers)) == [(("cx.survey.response.v1", "data", "answers", loc), kind)]


def test_at_least_one_answer_is_required() -> None:
    with pytest.raises(ValidationError) as info:
        CLOUD_EVENT_ADAPTER.validate_python(response({}))
    (error,) = info.value.errors()
    assert error["loc"] == ("cx.survey.response.v1", "data", "answers")
    assert error["msg"] == "Value error, at least one of nps, csat, ces, fcr, aspects is required"
    assert errors(response({"nps": None, "fcr": None})) == [
        (("cx.survey.response.v1", "data", "answers"), "value_error")
    ]


def test_survey_response_bounds_and_overrides() -> None:
    event = CLOUD_EVENT_ADAPTER.validate_python(
        response({"nps": 0, "csat": 5, "ces": 1, "fcr": False}, comment="c" * 4000, weight=0.5,
                 channel="app", team="t1", lang="de")
    )
    assert isinstance(event, SurveyResponseEvent)
    answers = event.data.answers
    assert (answers.nps, answers.csat, answers.ces, answers.fcr) == (0, 5, 1, False)
    assert (event.data.comment, event.data.weight) == ("c" * 4000, 0.5)
    assert (event.data.channel, event.data.team, event.data.interaction_id) == (Channel.app, "t1", None)
    assert event.data.attributes == {"lang": "de"}

    assert errors(response(comment="c" * 4001)) == [
        (("cx.survey.response.v1", "data", "comment"), "string_too_long")
    ]
    assert errors(response(weight=0)) == [(("cx.survey.response.v1", "data", "weight"), "greater_than")]
    assert errors(response(survey_id=None)) == [(("cx.survey.response.v1", "data", "survey_id"), "string_type")]


def test_invitation_requires_links_and_known_via() -> None:
    event = CLOUD_EVENT_ADAPTER.validate_python(invitation(via="in-app"))
    assert isinstance(event, SurveyInvitationEvent)
    assert (event.data.via, event.data.customer_id) == (InvitationVia.in_app, "c-1")
    assert CLOUD_EVENT_ADAPTER.validate_python(invitation()).data.via is None
    assert errors(invitation(via="pigeon")) == [(("cx.survey.invitation.v1", "data", "via"), "enum")]
    bare = {**ENVELOPE, "type": "cx.survey.invitation.v1", "data": {}}
    assert errors(bare) == [
        (("cx.survey.invitation.v1", "data", name), "missing")
        for name in ("interaction_id", "customer_id", "survey_id")
    ]


def test_ingest_result_serializes_as_documented() -> None:
    result = IngestResult(accepted=2, duplicates=3,
                          rejected=[Rejection(index=1, path="data.answers.nps", error="bad")])
    assert result.model_dump() == {
        "accepted": 2, "duplicates": 3, "rejected": [{"index": 1, "path": "data.answers.nps", "error": "bad"}],
    }
    assert list(result.model_dump()) == ["accepted", "duplicates", "rejected"]
    assert IngestResult(accepted=0).model_dump() == {"accepted": 0, "duplicates": 0, "rejected": []}
