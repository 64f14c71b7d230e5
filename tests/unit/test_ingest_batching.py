"""Packing records into Kafka messages: grouping, keys, partitions and size limits."""
from __future__ import annotations

from collections import Counter
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.batching import RecordTooLarge, group_for_kafka
from notifications import OutgoingMessage
from core.topics import topic_names
from schemas.records import decode_records, encode_records, message_key, partition_bucket

TOPICS = topic_names("cx")


def record(id: str, type: str = "cx.touchpoint.v1", tenant: str = "acme", interaction_id: str = "",
           pad: str = "") -> dict[str, Any]:
    return {"tenant": tenant, "id": id, "source": "/s", "type": type, "time_ms": 0, "subject": None,
            "interaction_id": interaction_id, "customer": "", "dims": {}, "attributes": {"pad": pad}}


def test_exact_grouping_by_topic_tenant_and_bucket() -> None:
    # crc32 buckets with 4 partitions: acme/int-1 -> 2, acme/int-2 -> 0, acme/evt-9 -> 1.
    touch = record("t1", interaction_id="int-1")
    answer = record("r1", "cx.survey.response.v1", interaction_id="int-1")
    other = record("t2", interaction_id="int-2")
    loose = record("evt-9", "cx.survey.response.v1")  # no interaction: bucketed by its id
    touch2 = record("t3", interaction_id="int-1")
    messages = group_for_kafka([touch, answer, other, loose, touch2], TOPICS, 4, 10_000)
    assert messages == [
        OutgoingMessage("cx.touchpoints.v1", 2, b"acme:2", encode_records([touch, touch2]), 2),
        OutgoingMessage("cx.survey-responses.v1", 2, b"acme:2", encode_records([answer]), 1),
        OutgoingMessage("cx.touchpoints.v1", 0, b"acme:0", encode_records([other]), 1),
        OutgoingMessage("cx.survey-responses.v1", 1, b"acme:1", encode_records([loose]), 1),
    ]


def test_same_bucket_other_tenants_get_their_own_message_and_key() -> None:
    a = record("x", tenant="acme", interaction_id="i")
    b = record("x", tenant="globex", interaction_id="i")
    messages = group_for_kafka([a, b], TOPICS, 1, 10_000)
    assert messages == [
        OutgoingMessage("cx.touchpoints.v1", 0, b"acme:0", encode_records([a]), 1),
        OutgoingMessage("cx.touchpoints.v1", 0, b"globex:0", encode_records([b]), 1),
    ]


def test_split_at_exactly_max_bytes() -> None:
    records = [record(f"r{i}", interaction_id="same") for i in range(3)]
    one = len(orjson.dumps(records[0]))
    limit = 2 + 2 * one + 1  # exactly two records and their comma
    messages = group_for_kafka(records, TOPICS, 4, limit)
    assert [(m.count, len(m.value)) for m in messages] == [(2, limit), (1, one + 2)]
    assert [decode_records(m.value) for m in messages] == [records[:2], records[2:]]
    assert [m.count for m in group_for_kafka(records, TOPICS, 4, limit - 1)] == [1, 1, 1]


def test_a_record_too_large_alone_raises_before_producing() -> None:
    small, big = record("ok"), record("big", pad="x" * 200)
    limit = len(orjson.dumps(small)) + 50
    with pytest.raises(RecordTooLarge) as info:
        group_for_kafka([small, big], TOPICS, 4, limit)
    assert info.value.record_ids == ["big"]
    assert info.value.max_record_bytes == limit


def test_no_records_no_messages() -> None:
    assert group_for_kafka([], TOPICS, 4, 10_000) == []


types = st.sampled_from(["cx.touchpoint.v1", "cx.survey.response.v1", "cx.survey.invitation.v1"])


@st.composite
def records_strategy(draw: st.DrawFn) -> list[dict[str, Any]]:
    n = draw(st.integers(0, 40))
    return [
        record(f"id-{i}", draw(types), draw(st.sampled_from(["acme", "globex"])),
               draw(st.sampled_from(["", "i1", "i2", "i3", "ü-4"])), draw(st.text(max_size=60)))
        for i in range(n)
    ]


@settings(max_examples=200, deadline=None)
@given(records_strategy(), st.integers(1, 8), st.integers(180, 2_000))
def test_every_record_exactly_once_within_limits_on_its_partition(
    records: list[dict[str, Any]], partitions: int, max_bytes: int
) -> None:
    try:
        messages = group_for_kafka(records, TOPICS, partitions, max_bytes)
    except RecordTooLarge as exc:
        too_big = [r["id"] for r in records if len(orjson.dumps(r)) + 2 > max_bytes]
        assert exc.record_ids == too_big and too_big
        return

    seen: list[dict[str, Any]] = []
    for message in messages:
        decoded = decode_records(message.value)
        assert len(message.value) <= max_bytes
        assert message.value == encode_records(decoded)
        assert message.count == len(decoded) >= 1
        tenants = {r["tenant"] for r in decoded}
        assert len(tenants) == 1
        tenant = tenants.pop()
        assert 0 <= message.partition < partitions
        assert message.key == message_key(tenant, message.partition)
        for r in decoded:
            assert partition_bucket(tenant, r, partitions) == message.partition
            assert TOPICS[r["type"]] == message.topic
        seen.extend(decoded)

    assert Counter(orjson.dumps(r) for r in seen) == Counter(orjson.dumps(r) for r in records)
    # order within a (topic, key) stream is the input order
    by_stream: dict[tuple[str, bytes], list[str]] = {}
    for message in messages:
        by_stream.setdefault((message.topic, message.key), []).extend(r["id"] for r in decode_records(message.value))
    for ids in by_stream.values():
        assert ids == sorted(ids, key=lambda i: int(i.split("-")[1]))
