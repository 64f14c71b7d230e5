"""The Faust topics the agents read and write, every one declared here (names from ``core.topics``).

All typed topics have the same partition count: partition *p* of each is
shard *p*, so an interaction's touchpoint, invitation and answers meet in one
shard (ingest keys them by interaction).
"""
from __future__ import annotations

from dataclasses import dataclass

import faust

from core.settings import Settings
from core.topics import DEAD_LETTER, ERASURES, NOTIFICATIONS, RAW, topic_names
from schemas.records import WINDOW_EVENT_TYPES, EventType


@dataclass(frozen=True)
class Topics:
    names: dict[str, str]
    typed: faust.TopicT  # touchpoints + answers + invitations, consumed together (kpi-windows)
    raw: faust.TopicT
    dead_letter: faust.TopicT
    survey_responses: faust.TopicT  # read alone by case-opener
    notifications: faust.TopicT     # read by webhook-deliveries
    outcomes: faust.TopicT          # business outcomes, read by outcomes-ledger
    #: erasure commands, one per partition: partition *p* is co-assigned with shard *p* (same partition
    #: count, same consumers: Faust's assignor co-partitions them), read by the ``erasures`` agent
    erasures: faust.TopicT

    @property
    def typed_names(self) -> tuple[str, ...]:
        """The topics ``kpi-windows`` reads (the window event types; outcomes have their own agent)."""
        return tuple(self.names[t.value] for t in WINDOW_EVENT_TYPES)


def declare(app: faust.App, settings: Settings) -> Topics:
    names = topic_names(settings.kafka.topic_prefix)
    common = dict(key_serializer="raw", value_serializer="raw", partitions=settings.kafka.partitions)
    return Topics(
        names=names,
        typed=app.topic(*(names[t.value] for t in WINDOW_EVENT_TYPES), **common),
        raw=app.topic(names[RAW], **common),
        dead_letter=app.topic(names[DEAD_LETTER], **common),
        survey_responses=app.topic(names[EventType.survey_response.value], **common),
        notifications=app.topic(names[NOTIFICATIONS], **common),
        erasures=app.topic(names[ERASURES], **common),
        outcomes=app.topic(names[EventType.outcome.value], **common),
    )
