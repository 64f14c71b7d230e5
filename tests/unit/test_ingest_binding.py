"""Both CloudEvents content modes, with messages built by the reference ``cloudevents`` SDK.

Kafka (raw topic, ``validate_raw_message``) and HTTP (``prepare_batch``): binary
mode is read from the ``ce_*`` / ``ce-*`` headers, and each invalid event is
rejected naming the header or the data field to fix.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import orjson
import pytest
from cloudevents.core.bindings import http as ce_http
from cloudevents.core.bindings import kafka as ce_kafka
from cloudevents.core.v03.event import CloudEvent as CloudEventV03
from cloudevents.core.v1.event import CloudEvent

from ingest.binding import HTTP, KAFKA, header_path, kafka_headers
from ingest.pipeline import BatchSpec, prepare_batch
from ingest.validation import InvalidBody, TimeHorizon, UnsupportedMediaType, validate_raw_message

TIME = datetime(2024, 5, 1, 10, 34, 56, 789000, tzinfo=timezone.utc)
TIME_MS = 1714559696789
HORIZON = TimeHorizon(now_ms=1714608000000)  # 2024-05-02T00:00:00Z
SPEC = BatchSpec(tenant="acme", pseudonym_key=b"k" * 32, topics={
    "cx.touchpoint.v1": "t", "cx.survey.response.v1": "r", "cx.survey.invitation.v1": "i"},
    partitions=3, max_record_bytes=1 << 20, max_events=100, horizon=HORIZON)


def pseudonym(tenant: str, customer_id: str) -> str:
    return f"p({tenant},{customer_id})"


def touchpoint(event_id: str = "b-1", cls: type = CloudEvent, data: dict | None = None,
               **attributes: Any) -> Any:
    attrs = {"id": event_id, "source": "/pbx", "type": "cx.touchpoint.v1", "time": TIME,
             "datacontenttype": "application/json", **attributes}
    return cls(attrs, {"interaction_id": f"i-{event_id}", "channel": "phone"} if data is None else data)


def raw(message: ce_kafka.KafkaMessage) -> tuple[list, list[tuple[int, str, str]]]:
    records, rejections = validate_raw_message(message.value, list(message.headers.items()), pseudonym, HORIZON)
    return records, [(r.index, r.path, r.error) for r in rejections]


def test_kafka_binary_mode_from_the_sdk_is_one_valid_event() -> None:
    message = ce_kafka.to_binary_event(touchpoint(tenant="acme", subject="call/7"))
    assert message.headers["ce_type"] == b"cx.touchpoint.v1" and orjson.loads(message.value)["channel"] == "phone"
    records, rejected = raw(message)
    assert rejected == []
    assert [(r["tenant"], r["id"], r["source"], r["type"], r["time_ms"], r["subject"], r["interaction_id"],
             r["dims"]) for r in records] == [
        ("acme", "b-1", "/pbx", "cx.touchpoint.v1", TIME_MS, "call/7", "i-b-1", {"channel": "phone"})]


def test_kafka_structured_mode_from_the_sdk_still_works() -> None:
    message = ce_kafka.to_structured_event(touchpoint("s-1", tenant="acme"))
    assert message.headers == {"content-type": b"application/cloudevents+json"}
    records, rejected = raw(message)
    assert rejected == [] and [r["id"] for r in records] == ["s-1"]


def test_kafka_binary_rejections_name_the_header_or_data_field() -> None:
    no_type = ce_kafka.to_binary_event(touchpoint("x-1", tenant="acme"))
    del no_type.headers["ce_type"]  # the SDK refuses to build an event without type
    old_spec = ce_kafka.to_binary_event(touchpoint("x-2", cls=CloudEventV03, tenant="acme"))
    bad_data = ce_kafka.to_binary_event(touchpoint("x-3", data={"interaction_id": "i", "channel": "fax"},
                                                   tenant="acme"))
    text = ce_kafka.to_binary_event(CloudEvent(
        {"id": "x-4", "source": "/pbx", "type": "cx.touchpoint.v1", "time": TIME, "tenant": "acme",
         "datacontenttype": "text/plain"}, "phone call"))
    no_tenant = ce_kafka.to_binary_event(touchpoint("x-5"))
    assert raw(no_type) == ([], [(0, "ce_type", "missing required attribute type (header ce_type); expected one "
                                                "of cx.touchpoint.v1, cx.survey.response.v1, cx.survey.invitation.v1, "
                                                "cx.signal.v1, cx.outcome.v1")])
    assert raw(old_spec) == ([], [(0, "ce_specversion", "Input should be '1.0'")])
    assert raw(bad_data)[1] == [(0, "data.channel", "Input should be 'phone', 'chat', 'email', 'web', 'store', "
                                                    "'social' or 'app'")]
    assert raw(text) == ([], [(0, "content-type", "unsupported datacontenttype 'text/plain' (header "
                                                  "content-type): the data of a Kafka binary-mode event must be "
                                                  "application/json")])
    assert raw(no_tenant) == ([], [(0, "ce_tenant", "missing tenant extension attribute")])


def test_kafka_binary_rejection_keeps_the_original_value_and_malformed_data_is_data() -> None:
    message = ce_kafka.to_binary_event(touchpoint("x-6", data={"interaction_id": "i", "channel": "fax"},
                                                  tenant="acme"))
    rejection = validate_raw_message(message.value, message.headers, pseudonym, HORIZON)[1][0]
    assert rejection.raw == message.value and rejection.tenant == "acme"
    headers = {**message.headers}
    records, rejected = raw(ce_kafka.KafkaMessage(headers=headers, key=None, value=b"{not json"))
    assert [(i, p) for i, p, _ in rejected] == [(0, "data")] and rejected[0][2].startswith("malformed JSON data")
    _, empty = raw(ce_kafka.KafkaMessage(headers=headers, key=None, value=b""))
    assert empty == [(0, "data", "missing data: the Kafka binary-mode value (body) is empty")]


def test_kafka_structured_avro_is_refused_and_ce_tenant_alone_stays_structured() -> None:
    avro = ce_kafka.KafkaMessage({"content-type": b"application/cloudevents+avro"}, None, b"\x00")
    assert raw(avro)[1] == [(0, "content-type", "unsupported CloudEvents format 'application/cloudevents+avro'; "
                                               "use application/cloudevents+json, "
                                               "application/cloudevents-batch+json or binary mode")]
    event = {"specversion": "1.0", "id": "t-1", "source": "/pbx", "type": "cx.touchpoint.v1",
             "time": "2024-05-01T10:00:00Z", "data": {"interaction_id": "i", "channel": "chat"}}
    records, rejected = raw(ce_kafka.KafkaMessage({"ce_tenant": b"globex"}, None, orjson.dumps([event])))
    assert rejected == [] and [(r["tenant"], r["id"]) for r in records] == [("globex", "t-1")]


def test_header_names_are_case_insensitive_and_the_first_repeat_wins() -> None:
    assert kafka_headers([("CE_Type", b"a"), ("ce_type", b"b"), ("x", None)]) == {"ce_type": "a", "x": ""}
    assert KAFKA.attributes({"ce_id": "1", "content-type": "application/json", "ce_": "?"}) == {"id": "1"}
    assert header_path(KAFKA, "time") == "ce_time" and header_path(HTTP, "datacontenttype") == "content-type"
    assert header_path(HTTP, "data.answers.nps") == "data.answers.nps"


def http(message: ce_http.HTTPMessage) -> Any:
    content_type = message.headers.get("content-type", "")
    return prepare_batch(message.body, content_type, SPEC, HTTP.attributes(message.headers))


def test_http_binary_mode_from_the_sdk_is_decoded_from_percent_encoding() -> None:
    message = ce_http.to_binary_event(touchpoint("h-1", subject="ü/1 2"))
    # The SDK percent-encodes space, '"', '%' and non-ASCII, as the HTTP binding says.
    assert message.headers["ce-subject"] == "%C3%BC/1%202"
    batch = http(message)
    assert (batch.accepted, batch.rejected, batch.accepted_by_type) == (1, [], {"cx.touchpoint.v1": 1})
    record = orjson.loads(batch.messages[0].value)[0]
    assert (record["tenant"], record["id"], record["source"], record["subject"], record["time_ms"]) == (
        "acme", "h-1", "/pbx", "ü/1 2", TIME_MS)


def test_http_binary_rejections_name_the_header() -> None:
    no_source = ce_http.to_binary_event(touchpoint("h-2"))
    del no_source.headers["ce-source"]
    bad_nps = ce_http.to_binary_event(CloudEvent(
        {"id": "h-3", "source": "/survey", "type": "cx.survey.response.v1", "time": TIME,
         "datacontenttype": "application/json"}, {"survey_id": "s", "answers": {"nps": 11}}))
    assert [(r.index, r.path, r.error) for r in http(no_source).rejected] == [
        (0, "ce-source", "missing required attribute source (header ce-source)")]
    assert [(r.index, r.path, r.error) for r in http(bad_nps).rejected] == [
        (0, "data.answers.nps", "Input should be less than or equal to 10")]
    text = ce_http.to_binary_event(CloudEvent({"id": "h-4", "source": "/s", "type": "cx.touchpoint.v1",
                                               "datacontenttype": "text/plain"}, "hello"))
    with pytest.raises(UnsupportedMediaType, match="unsupported datacontenttype 'text/plain'"):
        http(text)
    with pytest.raises(InvalidBody, match="malformed JSON data"):
        http(ce_http.HTTPMessage(headers=dict(no_source.headers), body=b"{nope"))


def test_http_structured_and_batch_ignore_ce_headers_of_another_mode() -> None:
    structured = ce_http.to_structured_event(touchpoint("h-5"))
    batch = prepare_batch(structured.body, structured.headers["content-type"], SPEC, {"type": "ignored"})
    assert (batch.accepted, batch.rejected) == (1, [])
