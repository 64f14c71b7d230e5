"""What the broker-backed integration tests share (the session broker and chDB path are
``tests/conftest.py``'s): the ``settings`` database, migrated, and a Faust app on the test broker."""
from __future__ import annotations

import asyncio

import faust
import pytest

from core.settings import Settings
from cxpulse.broker import ensure_topics
from core.topics import topic_names
from stream_processors import topics as topics_mod
from stream_processors.app import create_app
from stream_processors.topics import Topics
from warehouse.client import Warehouse
from warehouse.migrate import migrate


@pytest.fixture
def warehouse(settings: Settings) -> Warehouse:
    wh = Warehouse.open(settings.warehouse_dsn, settings.warehouse.database)
    migrate(wh)
    return wh


async def agent_app(settings: Settings) -> tuple[faust.App, Topics, dict[str, str]]:
    """A Faust app of ``settings`` with every CX Pulse topic created on the broker and declared,
    and the topic names by role."""
    names = topic_names(settings.kafka.topic_prefix)
    await asyncio.to_thread(ensure_topics, settings.kafka.bootstrap, list(names.values()), settings.kafka.partitions,
                            settings.kafka.replication_factor)
    app = create_app(settings, settings.kafka.bootstrap)
    return app, topics_mod.declare(app, settings), names
