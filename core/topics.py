"""Every Kafka topic CX Pulse uses: its name by role, and the settings lookup of that name.

One prefix (``KafkaSettings.topic_prefix``) names them all. The typed topics are
keyed by event type (``schemas.records.EventType`` values; core imports nothing of
ours, so the values are spelled here and tests/unit/test_deploy.py checks that every
event type has its topic). The other roles are ``raw`` (producers' own CloudEvents,
validated by the ``raw-validator`` agent), ``dead_letter`` and ``notifications``
(alert and case CloudEvents and webhook replay requests, read by
``webhook-deliveries``) and ``erasures`` (erasure commands, one copy per partition, read by the
``erasures`` agent of each shard's owner: ``stream_processors.erasure``). ``stream_processors.topics``
builds the Faust topics from these names; ``cxpulse`` creates them on start.
"""
from __future__ import annotations

from core.settings import KafkaSettings

__all__ = ["DEAD_LETTER", "ERASURES", "NOTIFICATIONS", "RAW", "TYPED_TOPICS", "erasures_topic", "notifications_topic",
           "topic_names"]

RAW = "raw"
DEAD_LETTER = "dead_letter"
NOTIFICATIONS = "notifications"
ERASURES = "erasures"

#: event type -> its topic's name after the prefix
TYPED_TOPICS: dict[str, str] = {
    "cx.touchpoint.v1": "touchpoints.v1",
    "cx.survey.response.v1": "survey-responses.v1",
    "cx.survey.invitation.v1": "survey-invitations.v1",
    "cx.signal.v1": "signals.v1",
    "cx.outcome.v1": "outcomes.v1",  # read by the ``outcomes-ledger`` agent only
}


def topic_names(prefix: str) -> dict[str, str]:
    """Every topic CX Pulse uses, by role (an event type for the typed topics)."""
    return {
        **{event_type: f"{prefix}.{name}" for event_type, name in TYPED_TOPICS.items()},
        RAW: f"{prefix}.events.raw",
        DEAD_LETTER: f"{prefix}.events.dlq",
        NOTIFICATIONS: f"{prefix}.notifications.v1",
        ERASURES: f"{prefix}.erasures.v1",
    }


def notifications_topic(kafka: KafkaSettings) -> str:
    """The topic alerts, cases and webhook replays publish to."""
    return topic_names(kafka.topic_prefix)[NOTIFICATIONS]


def erasures_topic(kafka: KafkaSettings) -> str:
    """The topic erasure commands are broadcast on (one message per partition)."""
    return topic_names(kafka.topic_prefix)[ERASURES]
