"""Faust agents on the real broker: raw-topic validation, dead letters, forwarding."""
from __future__ import annotations

import asyncio

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from cxpulse.runtime import RunOptions, run
from core.topics import topic_names
from tests.helpers import read_topic
from warehouse.client import Warehouse

pytestmark = [pytest.mark.integration]


def _touchpoint(event_id: str, **extra) -> dict:
    return {
        "specversion": "1.0", "id": event_id, "source": "/pbx", "type": "cx.touchpoint.v1",
        "time": "2026-11-02T10:15:00Z", "data": {"interaction_id": f"i-{event_id}", "channel": "phone"},
        **extra,
    }


@pytest.fixture
async def worker(settings):
    ready, stop = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(run(settings, RunOptions(api=False, worker=True), ready=ready, stop=stop))
    await asyncio.wait_for(ready.wait(), 60)
    yield settings
    stop.set()
    await asyncio.wait_for(task, 30)



async def test_raw_topic_forwards_valid_events_and_dead_letters_the_rest(worker) -> None:
    settings = worker
    names = topic_names(settings.kafka.topic_prefix)
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka.bootstrap)
    await producer.start()
    try:
        good = _touchpoint("raw-good", tenant="acme")
        bad_score = {**_touchpoint("raw-bad", tenant="acme"), "type": "cx.survey.response.v1",
                     "data": {"survey_id": "s", "answers": {"nps": 11}}}
        no_tenant = _touchpoint("raw-no-tenant")
        await producer.send_and_wait(names["raw"], orjson.dumps([good, bad_score, no_tenant]))
        await producer.send_and_wait(names["raw"], b"{not json")
        await producer.send_and_wait(names["cx.touchpoint.v1"], b"\x00garbage", partition=2)
    finally:
        await producer.stop()

    letters = await read_topic(settings.kafka.bootstrap, names["dead_letter"], 4)
    bodies = sorted((orjson.loads(m.value) for m in letters), key=lambda b: (b["topic"], b["path"]))
    assert [(b["topic"], b["path"], b["index"]) for b in bodies] == sorted([
        (names["raw"], "data.answers.nps", 1),
        (names["raw"], "tenant", 2),
        (names["raw"], "", 0),
        (names["cx.touchpoint.v1"], "undecodable", None),
    ], key=lambda t: (t[0], t[1]))
    raw_json = next(b for b in bodies if b["path"] == "")
    assert raw_json["value"] == "{not json" and "malformed JSON" in raw_json["reason"]
    assert orjson.loads(next(b for b in bodies if b["path"] == "tenant")["value"])["id"] == "raw-no-tenant"
    garbage = next(b for b in bodies if b["path"] == "undecodable")
    assert garbage["partition"] == 2 and garbage["offset"] == 0

    wh = Warehouse.open(settings.warehouse_dsn, settings.warehouse.database)
    for _ in range(120):
        rows = wh.query("SELECT tenant, event_id, channel FROM touchpoints FINAL").result_rows
        if rows:
            break
        await asyncio.sleep(0.25)
    assert rows == [("acme", "raw-good", "phone")]
