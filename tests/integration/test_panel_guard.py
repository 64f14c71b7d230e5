"""The respondent rule's partition guard on the real broker: a real worker (the Faust app ``cxpulse worker``
builds) holding every partition reports the rule exact after its first rebalance; the same app's
``on_partitions_assigned`` hook with a part of the assignment (what a second worker in the group leaves
it) sets the gauge and logs the ERROR. A second worker in the group is not started: too slow for a test."""
from __future__ import annotations

import asyncio
import logging

from prometheus_client import REGISTRY

from core import metrics
from core.topics import topic_names
from cxpulse.broker import ensure_topics
from cxpulse.worker import Worker
from ingest.pseudonymize import Pseudonymizer
from schemas.records import WINDOW_EVENT_TYPES

import pytest

pytestmark = [pytest.mark.integration]

GAUGE = "cxpulse_panel_respondent_rule_inexact"


async def test_the_worker_checks_its_assignment(settings, warehouse, caplog) -> None:
    settings.panel.cooldown_days = 30
    names = topic_names(settings.kafka.topic_prefix)
    await asyncio.to_thread(ensure_topics, settings.kafka.bootstrap, list(names.values()), settings.kafka.partitions)
    caplog.set_level(logging.ERROR, logger="stream_processors.panel_flags")
    metrics.PANEL_RULE_INEXACT.set(1)  # stale: the first rebalance must clear it
    worker = Worker(settings, settings.kafka.bootstrap, warehouse, Pseudonymizer(settings.pseudonym_key.encode()))
    await worker.start()
    try:
        app = worker.app
        for _ in range(600):
            if REGISTRY.get_sample_value(GAUGE) == 0:
                break
            await asyncio.sleep(0.1)
        assert REGISTRY.get_sample_value(GAUGE) == 0
        assert caplog.records == []
        typed = {names[t.value] for t in WINDOW_EVENT_TYPES}
        held = {tp for tp in app.consumer.assignment() if tp.topic in typed}
        assert {tp.partition for tp in held} == set(range(settings.kafka.partitions))
        assert {tp.topic for tp in held} == typed
        assert all(app.consumer.topic_partitions(t) == settings.kafka.partitions for t in typed)

        # what this worker keeps when a second one joins the group and takes half the shards
        await app.on_partitions_assigned.send({tp for tp in held if tp.partition % 2 == 0})
        assert REGISTRY.get_sample_value(GAUGE) == 1
        (error,) = caplog.records
        assert f"holds 2 of the {settings.kafka.partitions} partitions" in error.getMessage()
    finally:
        await worker.stop()
        metrics.PANEL_RULE_INEXACT.set(0)
