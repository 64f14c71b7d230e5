"""The ``webhook-deliveries`` agent: notifications topic -> signed HTTP deliveries.

Each message is one CloudEvent (``value_serializer="raw"``; tenant in the
``tenant`` extension attribute) or a replay request (``notifications.replay``).
For each message the agent

1. looks up the tenant's enabled subscriptions (``SubscriptionCache``, short TTL);
2. delivers to the matching ones concurrently (``Deliverer.deliver_all``), which
   returns only once every outcome (delivered, dead-lettered, gone) and every
   attempt is written to the warehouse;
3. moves on, which is when Faust acks the message.

So a crash replays the message; receivers deduplicate by the stable
``webhook-id``. ``agent_concurrency`` actors share the topic, so a slow
receiver holds up at most that many messages; ``max_in_flight`` bounds the
requests over all of them. A message that cannot be parsed is logged and
skipped; a warehouse that stays down stops the process (as ``kpi-windows``
does) so the message is replayed after the restart.
"""
from __future__ import annotations

import asyncio
import logging
import os
from typing import Any, Callable

import faust
import httpx

from core.settings import Settings
from notifications import decode_message
from stream_processors.topics import Topics
from warehouse.client import Warehouse
from core.errors import WarehouseError
from warehouse.webhook_queries import set_dead_letter_state
from webhooks.metrics import MeteredRecorder
from webhooks.delivery import Deliverer, DeliveryResult, matching_subscriptions
from webhooks.egress import egress_client
from webhooks.store import SubscriptionCache, WarehouseRecorder

log = logging.getLogger(__name__)


def register_webhook_agent(app: faust.App, topics: Topics, settings: Settings, warehouse: Warehouse, *,
                           transport: httpx.AsyncBaseTransport | None = None,
                           on_fatal: Callable[[int], Any] = os._exit) -> faust.types.AgentT:
    ws = settings.webhooks
    cache = SubscriptionCache(warehouse, ws.subscription_cache_ttl_s)
    recorder = MeteredRecorder(WarehouseRecorder(warehouse, cache))
    shared: dict[str, asyncio.Semaphore] = {}

    async def handle(deliverer: Deliverer, value: bytes) -> list[DeliveryResult]:
        try:
            notification, only = decode_message(value)
        except ValueError as exc:
            log.warning("skipping undeliverable notification: %s", exc)
            return []
        subs = await cache.get(notification.tenant)
        if only is not None:
            subs = [s for s in subs if s.id == only]
            if not subs:
                log.warning("replay of %s: subscription %s is disabled or deleted", notification.replay_of, only)
                await set_dead_letter_state(warehouse, notification.tenant, notification.replay_of, "dead")
                return []
            targets = subs  # an explicit replay goes to its subscription whatever its routes say
        else:
            targets = matching_subscriptions(notification, subs)
        return await deliverer.deliver_all(notification, targets)

    @app.agent(topics.notifications, name="webhook-deliveries", concurrency=ws.agent_concurrency)
    async def webhook_deliveries(stream: faust.StreamT) -> None:
        in_flight = shared.setdefault("sem", asyncio.Semaphore(ws.max_in_flight))
        # every request passes the egress policy against the address it connects to; no redirects
        async with egress_client(ws, transport) as client:
            deliverer = Deliverer(client, recorder, ws, in_flight=in_flight)
            async for event in stream.events():
                try:
                    await handle(deliverer, event.message.value or b"")
                except WarehouseError:
                    log.exception("cannot record webhook deliveries; exiting so the message is replayed")
                    on_fatal(70)
                    raise
                except Exception:  # noqa: BLE001 - one bad message must not stop the agent
                    log.exception("webhook delivery failed for offset %s", event.message.offset)

    return webhook_deliveries
