"""The stream side of a process: the Faust app with its agents (``Worker``) and the alert and case timers.

``cxpulse.runtime.Stack`` starts both, and stops, detaches and restarts the worker around a broker restart.
"""
from __future__ import annotations

import asyncio
import logging

from core import aspects, dimensions
from kpi.counts import configure_experience
from core.settings import Settings
from ingest.pseudonymize import Pseudonymizer
from warehouse.client import Warehouse

log = logging.getLogger("cxpulse")


class Worker:
    """The Faust app with its agents; ``start`` after ``stop`` builds a new one (broker restart)."""

    def __init__(self, settings: Settings, bootstrap: str, warehouse: Warehouse, pseudonymizer: Pseudonymizer):
        self.settings, self.bootstrap, self.warehouse, self.pseudonymizer = settings, bootstrap, warehouse, pseudonymizer
        self.app = None

    async def start(self) -> None:
        from stream_processors import agents, topics
        from stream_processors.app import create_app
        from stream_processors.case_agent import register_case_agent
        from stream_processors.checkpoint import Checkpointer
        from stream_processors.erasure import register_erasure_agent
        from stream_processors.webhook_agent import register_webhook_agent
        from core.windows import WindowSize

        settings = self.settings
        dimensions.configure(settings.custom_dimensions)  # the writer and the reads name them
        configure_experience(settings.experience.bounds())  # positive / negative experiences
        aspects.configure(settings.aspect_inputs())  # the aspects answers may rate (core.aspects)
        app = create_app(settings, self.bootstrap)
        declared = topics.declare(app, settings)
        checkpointer = Checkpointer(
            warehouse=self.warehouse,
            views=list(dict.fromkeys(tuple(v) for v in [*settings.stream.views, *settings.stream.pending_views])),
            sizes=[WindowSize(s) for s in settings.stream.window_sizes],
            grace_ms=settings.stream.grace_s * 1000,
            interaction_cache=settings.stream.interaction_cache,
            closed_cells_kept=settings.stream.closed_window_cells,
            pending_max=settings.stream.pending_attribution_max,
            panel=settings.panel,
        )
        agents.register(app, declared, checkpointer, settings, self.pseudonymizer)
        register_erasure_agent(app, declared, checkpointer)
        register_webhook_agent(app, declared, settings, self.warehouse)
        if settings.cases.enabled:
            register_case_agent(app, declared, settings, self.warehouse)
        await app.start()
        self.app = app

    def detach(self) -> None:
        """The broker died: the offsets this app holds belong to it, so the app must commit nothing more
        (a commit to the restarted broker would make the next app skip the replayed log)."""
        if self.app is not None:
            async def _no_commit(*_: object, **__: object) -> bool:
                return False

            self.app.consumer.commit = _no_commit

    async def commit(self) -> None:
        """Commit the offsets of every acked event (Faust commits only what the agents acked)."""
        if self.app is not None:
            await self.app.consumer.commit()

    async def stop(self, timeout_s: float = 20.0) -> None:
        app, self.app = self.app, None
        if app is None:
            return
        try:
            await asyncio.wait_for(app.stop(), timeout_s)
        except asyncio.TimeoutError:
            log.warning("the Faust worker did not stop within %.0f s", timeout_s)


async def run_timers(settings: Settings, bootstrap: str, warehouse: Warehouse, stop: asyncio.Event) -> None:
    """Alert evaluation and case escalation next to the stream processors; notifications go to Kafka."""
    from alerts.evaluator import run_evaluator
    from notifications.producer import Publisher
    from stream_processors.case_agent import run_escalations

    publisher = Publisher(bootstrap, settings.kafka.max_record_bytes, idempotent=not settings.kafka.tansu)
    await publisher.start()
    try:
        loops = [run_evaluator(settings, warehouse, publisher, stop)]
        if settings.cases.enabled:
            loops.append(run_escalations(settings, warehouse, publisher, stop))
        await asyncio.gather(*loops)
    finally:
        await publisher.stop()

