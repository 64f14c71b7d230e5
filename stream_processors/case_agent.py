"""The ``case-opener`` agent (survey responses -> cases) and the escalation timer.

``register_case_agent`` attaches a Faust agent to the survey-responses topic (its own consumer of
the topic, next to ``kpi-windows``). Each message is a JSON array of records
(``schemas.records.decode_records``); ``CaseOpener.handle`` is the guarantee, in order:

1. keep the survey-response records that match a case condition (``cases.conditions``);
2. drop the responses already linked to a case (``case_links`` / case ids): a replayed message
   opens nothing twice, because ids derive from tenant + response source + event id;
3. per response, in message order, with the dimensions of its touchpoint when the warehouse already
   holds it (``warehouse.queries.touchpoint_dims``; the response's own dimensions win, as in
   attribution; a touchpoint that is not stored yet is not waited for): if the tenant holds a
   not-closed case for the same customer and scope, link the response to it (suppression); otherwise
   build the case (owner by routing, SLA by severity), publish ``cx.case.opened.v1`` and wait for
   the broker's ack, then store the case and its link;
4. return, which is when Faust acks the message.

A crash after 3's publish and before its write replays the message and publishes the same event
id again (at-least-once; receivers dedupe on ``webhook-id``). A warehouse that stays down stops the
process (as ``kpi-windows`` does) so the message is replayed after the restart.

``run_escalations`` repeats ``escalate_once`` every ``CaseSettings.escalate_every_s``: every case
past its SLA and not closed is escalated once (``cx.case.escalated.v1``, published before the
transition is stored, same reasoning).
"""
from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import faust

from cases import (
    Absorb, Case, InvalidTransition, case_message, case_scope, decide, due_at_ms, escalate, evaluate_conditions,
    open_case, response_key, route_owner, scope_key,
)
from cxpulse.config import Settings
from schemas.records import EventType, Record, decode_records, topic_names
from stream_processors.topics import Topics
from warehouse import case_queries as cq
from warehouse.client import Warehouse
from warehouse.errors import WarehouseError
from warehouse.queries import touchpoint_dims

__all__ = ["CaseOpener", "escalate_once", "register_case_agent", "run_escalations"]

log = logging.getLogger(__name__)

Publish = Callable[[Sequence[Any]], Awaitable[None]]
Clock = Callable[[], int]
#: ``await lookup(warehouse, [(tenant, interaction_id), ...])`` -> dims of the stored touchpoints.
TouchpointDims = Callable[[Warehouse, list[tuple[str, str]]], Awaitable[dict[tuple[str, str], dict[str, str]]]]


def _now_ms() -> int:
    return int(time.time() * 1000)


class CaseOpener:
    """Opens, suppresses or skips cases for the records of one message (steps in the module docstring)."""

    def __init__(self, settings: Settings, warehouse: Warehouse, publish: Publish, clock: Clock = _now_ms,
                 lookup_dims: TouchpointDims = touchpoint_dims) -> None:
        self.cs = settings.cases
        self.lookup_dims = lookup_dims
        self.warehouse = warehouse
        self.publish = publish
        self.clock = clock
        self.topic = topic_names(settings.kafka.topic_prefix)["notifications"]
        self.partitions = settings.kafka.partitions

    async def handle(self, records: list[Record]) -> list[tuple[str, Case]]:
        """Returns ("opened" | "absorbed", case) per response acted on."""
        # 1.
        wanted: list[tuple[Record, Any, str]] = []
        for rec in records:
            if rec.get("type") != EventType.survey_response.value or not rec.get("tenant") or not rec.get("id"):
                continue
            trigger = evaluate_conditions(rec, self.cs.conditions)
            if trigger is not None:
                wanted.append((rec, trigger, response_key(rec["tenant"], rec.get("source", ""), rec["id"])))
        if not wanted:
            return []
        # 2.
        known: dict[str, set[str]] = {}
        for tenant in {r["tenant"] for r, _, _ in wanted}:
            keys = [k for r, _, k in wanted if r["tenant"] == tenant]
            known[tenant] = set(await cq.known_responses(self.warehouse, tenant, keys))
        # 3.
        fresh = [(r["tenant"], r["interaction_id"]) for r, _, k in wanted
                 if k not in known[r["tenant"]] and r.get("interaction_id")]
        tp_dims = await self.lookup_dims(self.warehouse, fresh) if fresh else {}
        out: list[tuple[str, Case]] = []
        open_by_customer: dict[tuple[str, str], list[Case]] = {}
        for rec, trigger, rkey in wanted:
            tenant, customer = rec["tenant"], rec.get("customer") or ""
            if rkey in known[tenant]:
                continue
            known[tenant].add(rkey)  # the same response twice in one message
            dims = {**tp_dims.get((tenant, rec.get("interaction_id") or ""), {}), **(rec.get("dims") or {})}
            scope = case_scope(dims, self.cs.scope_dims)
            candidates: list[Case] = []
            if customer:
                if (tenant, customer) not in open_by_customer:
                    open_by_customer[(tenant, customer)] = await cq.open_cases_of_customer(
                        self.warehouse, tenant, customer)
                candidates = open_by_customer[(tenant, customer)]
            now = self.clock()
            decision = decide(candidates, customer, scope_key(scope), rkey)
            if isinstance(decision, Absorb):
                await cq.link_response(self.warehouse, tenant, rkey, decision.case.id, customer, "absorbed", now,
                                       int(rec.get("time_ms") or 0))
                out.append(("absorbed", decision.case))
                continue
            owner = route_owner(dims, self.cs.routing, self.cs.owners, self.cs.default_owner)
            case = open_case(tenant, rec, trigger, scope, owner, now, due_at_ms(now, trigger.severity, self.cs.sla_s))
            await self.publish([case_message("opened", case, now, self.topic, self.partitions, self.cs.routes)])
            await cq.insert_case(self.warehouse, case)
            candidates.append(case)
            out.append(("opened", case))
        return out


def register_case_agent(app: faust.App, topics: Topics, settings: Settings, warehouse: Warehouse, *,
                        clock: Clock = _now_ms, on_fatal: Callable[[int], Any] = os._exit) -> faust.types.AgentT:
    """The ``case-opener`` agent on the survey-responses topic."""
    topic = app.topic(topics.names[EventType.survey_response.value], key_serializer="raw", value_serializer="raw",
                      partitions=settings.kafka.partitions)

    async def publish(messages: Sequence[Any]) -> None:
        futures = [await app.producer.send(m.topic, m.key, m.value, m.partition, None, None) for m in messages]
        await asyncio.gather(*futures)  # acked before the case is stored

    opener = CaseOpener(settings, warehouse, publish, clock)

    @app.agent(topic, name="case-opener")
    async def case_opener(stream: faust.StreamT) -> None:
        async for event in stream.events():
            msg = event.message
            try:
                records = decode_records(msg.value or b"")
            except Exception as exc:  # noqa: BLE001 - kpi-windows dead-letters it; nothing to open
                log.warning("case-opener skips undecodable message at offset %s: %s", msg.offset, exc)
                continue
            try:
                await opener.handle(records)
            except WarehouseError:
                log.exception("cannot store cases; exiting so the message is replayed")
                on_fatal(70)
                raise
            except Exception:  # noqa: BLE001 - one bad message must not stop the agent
                log.exception("case-opener failed on offset %s", msg.offset)

    return case_opener


async def escalate_once(settings: Settings, warehouse: Warehouse, publisher: Any,
                        now_ms: int | None = None) -> list[Case]:
    """Escalate every overdue case once. Order: 1. read overdue cases; 2. step them (``escalate``);
    3. publish ``cx.case.escalated.v1`` and wait for the acks; 4. store the transitions."""
    now_ms = _now_ms() if now_ms is None else now_ms
    topic = topic_names(settings.kafka.topic_prefix)["notifications"]
    escalated: list[Case] = []
    for case in await cq.overdue_cases(warehouse, now_ms):  # 1.
        try:
            escalated.append(escalate(case, now_ms))  # 2.
        except InvalidTransition as exc:  # raced with a close: nothing to do
            log.debug("not escalated: %s", exc)
    await publisher.publish([case_message("escalated", c, now_ms, topic, settings.kafka.partitions,
                                          settings.cases.routes) for c in escalated])  # 3.
    for c in escalated:  # 4.
        await cq.append_event(warehouse, c.tenant, c.id, cq.EventKind.escalated, now_ms)
    return escalated


async def run_escalations(settings: Settings, warehouse: Warehouse, publisher: Any, stop: asyncio.Event,
                          clock: Clock = _now_ms) -> None:
    """Run ``escalate_once`` every ``settings.cases.escalate_every_s`` until ``stop`` is set; a failed
    round is logged and retried from stored state."""
    every = settings.cases.escalate_every_s
    while not stop.is_set():
        started = time.monotonic()
        try:
            await escalate_once(settings, warehouse, publisher, clock())
        except Exception:  # noqa: BLE001
            log.exception("case escalation failed")
        try:
            await asyncio.wait_for(stop.wait(), max(0.0, every - (time.monotonic() - started)))
        except asyncio.TimeoutError:
            pass
