"""The Kafka durability check against the real Tansu broker: what it reports, and that nothing raises."""
from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from cxpulse.broker import LocalBroker, ensure_topics, free_port
from core.settings import Settings
from cxpulse.durability import TopicFacts, broker_durability_warnings, describe_topic_facts
from tests.conftest import PSEUDONYM_KEY

pytestmark = [pytest.mark.integration]


def test_tansu_reports_replicas_but_no_topic_configs(broker: LocalBroker, tmp_path: Path) -> None:
    prefix = f"dur{uuid.uuid4().hex[:8]}"
    names = [f"{prefix}.a", f"{prefix}.b"]
    ensure_topics(broker.bootstrap, names, partitions=3, replication=1)

    # Tansu: one replica per partition, and DescribeConfigs answers with no entries for a topic.
    assert describe_topic_facts(broker.bootstrap, names + [f"{prefix}.missing"]) == [
        TopicFacts(f"{prefix}.a", replication_factor=1),
        TopicFacts(f"{prefix}.b", replication_factor=1),
        TopicFacts(f"{prefix}.missing", error="UnknownTopicOrPartitionError"),
    ]

    settings = Settings(data_dir=tmp_path, pseudonym_key=PSEUDONYM_KEY,
                        kafka={"bootstrap": broker.bootstrap, "replication_factor": 3})
    listed = f"{prefix}.a, {prefix}.b"
    assert broker_durability_warnings(broker.bootstrap, names, settings) == [
        f"replication factor 1 (< 3): losing a broker can lose acknowledged events: {listed}",
        f"min.insync.replicas not reported by the broker, could not check: {listed}",
        f"unclean.leader.election.enable not reported by the broker, could not check: {listed}",
    ]


def test_an_unreachable_broker_gives_a_could_not_check_warning(tmp_path: Path) -> None:
    bootstrap = f"127.0.0.1:{free_port()}"
    settings = Settings(data_dir=tmp_path, pseudonym_key=PSEUDONYM_KEY,
                        kafka={"bootstrap": bootstrap, "replication_factor": 3})
    assert broker_durability_warnings(bootstrap, ["cx.touchpoints.v1"], settings, timeout_ms=1000) == [
        f"could not check the topics' replication on {bootstrap} "
        f"(KafkaTimeoutError: Unable to bootstrap from {bootstrap})",
    ]
