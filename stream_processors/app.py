"""The Faust app: one per process, built from settings (never at import time), and its publisher."""
from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

import faust

from core.settings import Settings
from notifications import OutgoingMessage, Publisher
from stream_processors import tansu_compat


def create_app(settings: Settings, bootstrap: str) -> faust.App:
    """Faust app for ``bootstrap``; topics and agents are attached by ``agents.register``.

    No Faust tables: window state is rebuilt from the warehouse ledger (see
    ``checkpoint``), which sidesteps windowed-table expiry on wall-clock time
    and changelog recovery (and Tansu's ListOffsets quirk that breaks it).
    """
    k = settings.kafka
    app = faust.App(
        settings.stream.app_id,
        broker=[f"kafka://{hp}" for hp in bootstrap.split(",")],
        autodiscover=False,
        web_enabled=False,
        topic_disable_leader=True,
        store="memory://",
        datadir=str(settings.data_dir / "faust"),
        topic_partitions=k.partitions,
        topic_replication_factor=k.replication_factor,
        broker_rebalance_timeout=k.rebalance_timeout_s,
        broker_session_timeout=k.session_timeout_s,
        broker_heartbeat_interval=k.heartbeat_interval_s,
        producer_max_request_size=k.max_record_bytes + 100_000,
        consumer_max_fetch_size=4 * 1024 * 1024,
        stream_buffer_maxsize=4096,
        processing_guarantee="at_least_once",
        # Stop without draining buffered events: they are replayed after a restart, and
        # every agent makes replays harmless (ledger dedup, deterministic case ids).
        stream_wait_empty=False,
        loghandlers=[],
    )
    if k.tansu:
        tansu_compat.apply(app)
    return app


class AppPublisher(Publisher):
    """``Publisher.publish`` through the app's own producer, for the agents.

    The app starts, flushes and stops that producer with itself, so ``start`` and
    ``stop`` leave it alone and no second client is opened.
    """

    times_latency = False  # the produce-latency histogram times the API's and timers' producer, not the agents'

    def __init__(self, app: faust.App) -> None:  # no super().__init__: the app owns the producer
        self._app = app
        self.started = True

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def send(self, m: OutgoingMessage) -> Awaitable[Any]:
        return await self._app.producer.send(m.topic, m.key, m.value, m.partition, None, None)
