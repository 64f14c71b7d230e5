"""The pure part of the Kafka durability check: described topic facts -> warning lines."""
from __future__ import annotations

from kafka.errors import KafkaTimeoutError

from cxpulse.durability import TopicFacts, _reason, durability_warnings


def _good(name: str) -> TopicFacts:
    return TopicFacts(name, replication_factor=3, min_insync_replicas=2, unclean_leader_election=False)


def test_a_durable_cluster_gives_no_warning() -> None:
    facts = [_good("cx.touchpoints.v1"), _good("cx.events.raw")]
    assert durability_warnings(facts, idempotent=True, replication_factor=3) == []
    # More than the minimum is fine too.
    wide = TopicFacts("cx.x", replication_factor=5, min_insync_replicas=3, unclean_leader_election=False)
    assert durability_warnings([wide], idempotent=True, replication_factor=5) == []


def test_settings_warnings_come_first() -> None:
    assert durability_warnings([_good("cx.a")], idempotent=False, replication_factor=2) == [
        "producer idempotence is off: a retried send can write an event twice "
        "(the stream processors drop duplicates by event id)",
        "kafka.replication_factor is 2 (< 3): topics CX Pulse creates are not replicated enough "
        "to survive a broker loss",
    ]


def test_topics_sharing_a_shortfall_are_named_in_one_line_sorted() -> None:
    facts = [
        TopicFacts("cx.b", replication_factor=1, min_insync_replicas=1, unclean_leader_election=True),
        TopicFacts("cx.a", replication_factor=1, min_insync_replicas=1, unclean_leader_election=False),
        TopicFacts("cx.c", replication_factor=2, min_insync_replicas=2, unclean_leader_election=False),
        _good("cx.d"),
    ]
    assert durability_warnings(facts, idempotent=True, replication_factor=3) == [
        "replication factor 1 (< 3): losing a broker can lose acknowledged events: cx.a, cx.b",
        "replication factor 2 (< 3): losing a broker can lose acknowledged events: cx.c",
        "min.insync.replicas=1 (< 2): acks=all is acknowledged by 1 replica: cx.a, cx.b",
        "min.insync.replicas=2 >= replication factor 2: one replica down stops ingest "
        "(NOT_ENOUGH_REPLICAS): cx.c",
        "unclean.leader.election.enable=true: an out-of-sync replica can become leader and drop "
        "acknowledged events: cx.b",
    ]


def test_min_isr_equal_to_the_replication_factor_is_an_availability_warning() -> None:
    facts = [TopicFacts("cx.a", replication_factor=3, min_insync_replicas=3, unclean_leader_election=False)]
    assert durability_warnings(facts, idempotent=True, replication_factor=3) == [
        "min.insync.replicas=3 >= replication factor 3: one replica down stops ingest "
        "(NOT_ENOUGH_REPLICAS): cx.a",
    ]


def test_what_the_broker_did_not_report_is_a_could_not_check_warning() -> None:
    # What Tansu reports: replica lists, and no topic configs at all.
    facts = [TopicFacts("cx.b", replication_factor=3), TopicFacts("cx.a", replication_factor=3)]
    assert durability_warnings(facts, idempotent=True, replication_factor=3) == [
        "min.insync.replicas not reported by the broker, could not check: cx.a, cx.b",
        "unclean.leader.election.enable not reported by the broker, could not check: cx.a, cx.b",
    ]


def test_a_failed_config_read_names_its_error() -> None:
    facts = [TopicFacts("cx.a", replication_factor=3, config_error="KafkaConnectionError: socket disconnected")]
    assert durability_warnings(facts, idempotent=True, replication_factor=3) == [
        "min.insync.replicas not read (KafkaConnectionError: socket disconnected), could not check: cx.a",
        "unclean.leader.election.enable not read (KafkaConnectionError: socket disconnected), "
        "could not check: cx.a",
    ]


def test_topics_that_could_not_be_described_are_listed_without_other_checks() -> None:
    facts = [TopicFacts("cx.gone", error="UnknownTopicOrPartitionError"),
             TopicFacts("cx.empty", min_insync_replicas=2, unclean_leader_election=False)]
    assert durability_warnings(facts, idempotent=True, replication_factor=3) == [
        "topic not described (UnknownTopicOrPartitionError): cx.gone",
        "replication factor not reported (no partitions), could not check: cx.empty",
    ]


def test_reasons_name_the_error_type_once() -> None:
    assert _reason(KafkaTimeoutError("no bootstrap")) == "KafkaTimeoutError: no bootstrap"
    assert _reason(OSError("refused")) == "OSError: refused"
    assert _reason(TimeoutError()) == "TimeoutError"
