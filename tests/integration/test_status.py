"""`cxpulse status` on the real broker: exact end offsets and lag despite Tansu's ListOffsets quirk."""
from __future__ import annotations

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.structs import OffsetAndMetadata

from cxpulse.broker import ensure_topics
from cxpulse.status import Status, broker_status, render
from core.topics import topic_names
from stream_processors import tansu_compat

pytestmark = [pytest.mark.integration]


def test_end_offsets_are_exact_for_a_multi_record_batch(broker) -> None:
    ensure_topics(broker.bootstrap, ["compat-q"], 1)
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, linger_ms=100)
    for _ in range(100):
        producer.send("compat-q", b"x", partition=0)  # one record batch of 100
    producer.flush()
    consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap, enable_auto_commit=False)
    tp = TopicPartition("compat-q", 0)
    try:
        assert tansu_compat.end_offsets(consumer, [tp]) == {tp: 100}
    finally:
        consumer.close()


def test_status_reports_topics_and_exact_lag(settings, broker) -> None:
    names = topic_names(settings.kafka.topic_prefix)
    ensure_topics(broker.bootstrap, list(names.values()), settings.kafka.partitions)
    touchpoints = names["cx.touchpoint.v1"]
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, linger_ms=50)
    for _ in range(30):
        producer.send(touchpoints, b"[]", partition=1)
    producer.flush()
    consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id=settings.stream.app_id,
                             enable_auto_commit=False)
    consumer.commit({TopicPartition(touchpoints, 1): OffsetAndMetadata(12, "", -1)})
    consumer.close()

    status = Status()
    broker_status(settings, broker.bootstrap, status)
    assert status.broker_ok and status.topics == {n: 4 for n in names.values()}
    lags = {(p.topic, p.partition): (p.committed, p.end, p.lag) for p in status.lag}
    assert lags[(touchpoints, 1)] == (12, 30, 18)
    assert sum(p.lag for p in status.lag) == 18
    assert "lag 18" in render(status)
