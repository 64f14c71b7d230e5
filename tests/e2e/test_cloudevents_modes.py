"""CloudEvents content modes end to end, produced by independent clients (never our encoder).

Kafka: the reference ``cloudevents`` SDK encodes binary (``ce_*`` headers, data
as the value) and structured messages, confluent-kafka (librdkafka) writes them
to the raw topic of the real broker; exactly those events are stored, and each
invalid binary event reaches the dead-letter topic with its own reason, its
original value and headers. HTTP: the SDK's binary mode (``ce-*`` headers) is
posted to ``POST /v1/events``.
"""
from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import httpx
import orjson
import pytest
from cloudevents.core.bindings import http as ce_http
from cloudevents.core.bindings import kafka as ce_kafka
from cloudevents.core.v03.event import CloudEvent as CloudEventV03
from cloudevents.core.v1.event import CloudEvent
from confluent_kafka import Producer

from core.topics import topic_names
from tests.conftest import TEST_TENANT
from tests.helpers import read_topic
from warehouse.client import Warehouse

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

RAW_TENANT = "globex"
N = 150
TIME = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(minutes=5)
CHANNELS = ("phone", "chat", "email")


def touchpoint(event_id: str, cls: type = CloudEvent, data: dict | None = None, **attributes) -> CloudEvent:
    attrs = {"id": event_id, "source": "/pbx", "type": "cx.touchpoint.v1", "time": TIME,
             "datacontenttype": "application/json", **attributes}
    suffix = event_id.rsplit("-", 1)[-1]
    index = int(suffix) if suffix.isdigit() else 0
    return cls(attrs, {"interaction_id": f"i-{event_id}", "channel": CHANNELS[index % 3]}
               if data is None else data)


def produce(bootstrap: str, topic: str, messages: list[ce_kafka.KafkaMessage]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    failures: list = []
    for message in messages:
        producer.produce(topic, value=message.value, key=message.key, headers=list(message.headers.items()),
                         on_delivery=lambda err, _msg: failures.append(err) if err else None)
    assert producer.flush(30) == 0 and failures == []


async def stored(wh: Warehouse, tenant: str, expected: int) -> list[tuple[str, str]]:
    sql = "SELECT event_id, channel FROM touchpoints FINAL WHERE tenant = {tenant:String} ORDER BY event_id"
    for _ in range(240):
        rows = wh.query(sql, parameters={"tenant": tenant}).result_rows
        if len(rows) >= expected:
            break
        await asyncio.sleep(0.25)
    return [tuple(row) for row in rows]


async def test_raw_topic_takes_binary_and_structured_mode_and_dead_letters_real_reasons(
        stack: httpx.AsyncClient, settings) -> None:
    names = topic_names(settings.kafka.topic_prefix)
    binary = [ce_kafka.to_binary_event(touchpoint(f"bin-{i:03d}", tenant=RAW_TENANT)) for i in range(N)]
    structured = [ce_kafka.to_structured_event(touchpoint(f"str-{i:03d}", tenant=RAW_TENANT)) for i in range(N)]
    assert binary[0].headers["ce_tenant"] == RAW_TENANT.encode() and b"specversion" not in binary[0].value
    no_type = ce_kafka.to_binary_event(touchpoint("bad-type", tenant=RAW_TENANT))
    del no_type.headers["ce_type"]  # the SDK cannot build an event without type
    invalid = [
        no_type,
        ce_kafka.to_binary_event(touchpoint("bad-spec", cls=CloudEventV03, tenant=RAW_TENANT)),
        ce_kafka.to_binary_event(touchpoint("bad-data", data={"interaction_id": "i", "channel": "fax"},
                                            tenant=RAW_TENANT)),
        ce_kafka.to_binary_event(CloudEvent({"id": "bad-ct", "source": "/pbx", "type": "cx.touchpoint.v1",
                                             "time": TIME, "tenant": RAW_TENANT,
                                             "datacontenttype": "text/plain"}, "a phone call")),
    ]
    await asyncio.to_thread(produce, settings.kafka.bootstrap, names["raw"], binary + invalid + structured)

    letters = await read_topic(settings.kafka.bootstrap, names["dead_letter"], len(invalid))
    by_id = {dict(body["headers"])["ce_id"]: body for body in map(orjson.loads, (m.value for m in letters))}
    bodies = [by_id[message.headers["ce_id"].decode()] for message in invalid]
    assert [(b["path"], b["reason"], b["index"]) for b in bodies] == [
        ("ce_type", "missing required attribute type (header ce_type); expected one of cx.touchpoint.v1, "
                    "cx.survey.response.v1, cx.survey.invitation.v1, cx.signal.v1, cx.outcome.v1", 0),
        ("ce_specversion", "Input should be '1.0'", 0),
        ("data.channel", "Input should be 'phone', 'chat', 'email', 'web', 'store', 'social' or 'app'", 0),
        ("content-type", "unsupported datacontenttype 'text/plain' (header content-type): the data of a "
                         "Kafka binary-mode event must be application/json", 0),
    ]
    for body, message in zip(bodies, invalid):
        assert body["topic"] == names["raw"]
        assert body["value"] == message.value.decode()
        assert body["headers"] == [[name, value.decode()] for name, value in message.headers.items()]

    wh = Warehouse.open(settings.warehouse_dsn, settings.warehouse.database)
    rows = await stored(wh, RAW_TENANT, 2 * N)
    assert rows == sorted([(f"{mode}-{i:03d}", CHANNELS[i % 3]) for mode in ("bin", "str") for i in range(N)])


async def test_http_takes_binary_mode_and_names_the_header_of_each_rejection(
        stack: httpx.AsyncClient, settings) -> None:
    async def post(message: ce_http.HTTPMessage) -> httpx.Response:
        return await stack.post("/v1/events", content=message.body, headers=message.headers)

    valid = [ce_http.to_binary_event(touchpoint(f"hb-{i:03d}", subject="call ü")) for i in range(3)]
    for message in valid:
        r = await post(message)
        assert (r.status_code, r.json()) == (202, {"accepted": 1, "duplicates": 0, "rejected": []})

    no_source = ce_http.to_binary_event(touchpoint("hb-x1"))
    del no_source.headers["ce-source"]
    r = await post(no_source)
    assert (r.status_code, r.json()["rejected"]) == (202, [
        {"index": 0, "path": "ce-source", "error": "missing required attribute source (header ce-source)"}])
    r = await post(ce_http.to_binary_event(touchpoint("hb-x2", time=TIME + timedelta(days=1))))
    assert r.json()["rejected"][0]["path"] == "ce-time"
    r = await post(ce_http.to_binary_event(touchpoint("hb-x3", data={"interaction_id": "i", "channel": 7})))
    assert r.json()["rejected"] == [{"index": 0, "path": "data.channel", "error":
                                     "Input should be 'phone', 'chat', 'email', 'web', 'store', 'social' or 'app'"}]
    text = ce_http.to_binary_event(CloudEvent({"id": "hb-x4", "source": "/s", "type": "cx.touchpoint.v1",
                                               "datacontenttype": "text/plain"}, "hello"))
    r = await post(text)
    assert r.status_code == 415 and "unsupported datacontenttype 'text/plain'" in r.json()["detail"]

    wh = Warehouse.open(settings.warehouse_dsn, settings.warehouse.database)
    assert await stored(wh, TEST_TENANT, 3) == [(f"hb-{i:03d}", CHANNELS[i % 3]) for i in range(3)]
