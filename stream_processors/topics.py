"""The topics the agents read and write (names from ``schemas.records.topic_names``).

All typed topics have the same partition count: partition *p* of each is
shard *p*, so an interaction's touchpoint, invitation and answers meet in one
shard (ingest keys them by interaction).
"""
from __future__ import annotations

from dataclasses import dataclass

import faust

from core.settings import Settings
from schemas.records import EventType, topic_names


@dataclass(frozen=True)
class Topics:
    names: dict[str, str]
    typed: faust.TopicT  # touchpoints + answers + invitations, consumed together
    raw: faust.TopicT
    dead_letter: faust.TopicT

    @property
    def typed_names(self) -> tuple[str, ...]:
        return tuple(self.names[t.value] for t in EventType)


def declare(app: faust.App, settings: Settings) -> Topics:
    names = topic_names(settings.kafka.topic_prefix)
    common = dict(key_serializer="raw", value_serializer="raw", partitions=settings.kafka.partitions)
    return Topics(
        names=names,
        typed=app.topic(*(names[t.value] for t in EventType), **common),
        raw=app.topic(names["raw"], **common),
        dead_letter=app.topic(names["dead_letter"], **common),
    )
