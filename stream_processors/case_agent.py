"""The ``case-opener`` agent (survey responses -> cases) and the escalation timer.

``register_case_agent`` attaches a Faust agent to the survey-responses topic (its own consumer of
the topic, next to ``kpi-windows``). Like ``kpi-windows`` it takes micro-batches
(``stream.take_events(StreamSettings.batch_records, within=CaseSettings.batch_within_s)``, a longer
window than the KPIs' because cases are not a live view and the cost is per batch); each message is
a JSON array of records (``schemas.records.decode_records``). ``CaseOpener.handle`` is the guarantee
for one batch, in order, with a fixed number of warehouse round trips whatever the batch size:

1. keep the survey-response records that match a case condition (``cases.conditions``), each
   response once;
2. one read: drop the responses already linked to a case, or whose case exists
   (``case_queries.known_responses_of``): ids derive from tenant + response source + event id, so a
   replayed batch opens nothing twice; and (concurrently) the responses an erasure removed
   (``erasure_queries.erased_of``), so a replay does not bring an erased customer's case back;
3. one read (concurrent with 4): the dimensions of the remaining responses' touchpoints when the
   warehouse already holds them (``warehouse.queries.touchpoint_dims``; the response's own dimensions
   win, as in attribution; a touchpoint that is not stored yet is not waited for);
4. one read: the not-closed cases of the batch's customers (``open_cases_of_customers``, from the
   ``cases`` table alone: suppression only needs "not closed");
5. decide in memory, in batch order (``cases.suppression.decide``): a response joins the open case of
   its customer and scope (stored, or opened earlier in this batch), otherwise it opens a case (owner
   by routing, SLA by severity) — so at most one case per customer and scope is open;
6. publish ``cx.case.opened.v1`` for every new case and wait for the broker's acks;
7. one insert of the new cases, then one insert of every link (opened and absorbed);
8. return, which is when Faust may ack the batch.

Crash points: before 6 nothing happened; between 6 and 7 the replay publishes the same event ids
again (at-least-once; receivers dedupe on ``webhook-id``); between the two inserts of 7 the cases
exist without their links: step 2 also looks at case ids, so the replay does not reopen them, and
the absorbed responses are absorbed again into the same (stored) cases. A warehouse that stays
down, or any other failure, stops the process (as ``kpi-windows`` does) so the batch is replayed
after the restart; a message that does not decode is skipped (``kpi-windows`` dead-letters it).

Not covered: two workers owning different partitions may each open a case for one customer and
scope in the same instant (responses of one customer are not co-partitioned); the second one is a
duplicate an owner closes.

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
    Absorb, Case, InvalidTransition, Trigger, case_message, case_scope, decide, due_at_ms, escalate,
    evaluate_conditions, open_case, response_key, route_owner, scope_key,
)
from core.settings import Settings
from core.topics import notifications_topic
from notifications import OutgoingMessage, Publisher
from schemas.records import EventType, Record, decode_records
from stream_processors.app import AppPublisher
from stream_processors.topics import Topics
from warehouse import case_queries as cq
from warehouse.client import Warehouse
from warehouse.erasure_queries import erased_of
from warehouse.queries import touchpoint_dims

__all__ = ["CaseOpener", "escalate_once", "register_case_agent", "run_escalations"]

log = logging.getLogger(__name__)

#: ``await publish(messages)`` returns once the broker acked them (``Publisher.publish``).
Publish = Callable[[Sequence[OutgoingMessage]], Awaitable[Any]]
Clock = Callable[[], int]
#: ``await lookup(warehouse, [(tenant, interaction_id), ...])`` -> dims of the stored touchpoints.
TouchpointDims = Callable[[Warehouse, list[tuple[str, str]]], Awaitable[dict[tuple[str, str], dict[str, str]]]]


async def _nothing() -> dict:
    return {}


def _now_ms() -> int:
    return int(time.time() * 1000)


class CaseOpener:
    """Opens, suppresses or skips cases for the records of one batch (steps in the module docstring)."""

    def __init__(self, settings: Settings, warehouse: Warehouse, publish: Publish, clock: Clock = _now_ms,
                 lookup_dims: TouchpointDims = touchpoint_dims) -> None:
        self.cs = settings.cases
        self.lookup_dims = lookup_dims
        self.warehouse = warehouse
        self.publish = publish
        self.clock = clock
        self.topic = notifications_topic(settings.kafka)
        self.partitions = settings.kafka.partitions

    async def handle(self, records: list[Record]) -> list[tuple[str, Case]]:
        """Returns ("opened" | "absorbed", case) per response acted on, in batch order."""
        wanted = self._triggered(records)  # 1.
        if not wanted:
            return []
        known, erased = await asyncio.gather(  # 2.
            cq.known_responses_of(self.warehouse, [(r["tenant"], k) for r, _, k in wanted]),
            erased_of(self.warehouse, [(r["tenant"], r.get("source", ""), r["id"]) for r, _, _ in wanted]))
        fresh = [w for w in wanted if (w[0]["tenant"], w[2]) not in known
                 and (w[0]["tenant"], w[0].get("source", ""), w[0]["id"]) not in erased]
        if not fresh:
            return []
        with_tp = sorted({(r["tenant"], r["interaction_id"]) for r, _, _ in fresh if r.get("interaction_id")})
        customers = sorted({(r["tenant"], r["customer"]) for r, _, _ in fresh if r.get("customer")})
        tp_dims, open_cases = await asyncio.gather(  # 3. and 4., concurrently
            self.lookup_dims(self.warehouse, with_tp) if with_tp else _nothing(),
            cq.open_cases_of_customers(self.warehouse, customers) if customers else _nothing())

        now = self.clock()  # 5.
        out: list[tuple[str, Case]] = []
        new_cases: list[Case] = []
        links: list[cq.LinkRow] = []
        for rec, trigger, rkey in fresh:
            tenant, customer = rec["tenant"], rec.get("customer") or ""
            dims = {**tp_dims.get((tenant, rec.get("interaction_id") or ""), {}), **(rec.get("dims") or {})}
            scope = case_scope(dims, self.cs.scope_dims)
            candidates = open_cases.setdefault((tenant, customer), []) if customer else []
            decision = decide(candidates, customer, scope_key(scope), rkey)
            if isinstance(decision, Absorb):
                links.append(cq.LinkRow(tenant, rkey, decision.case.id, customer, "absorbed", now,
                                        int(rec.get("time_ms") or 0)))
                out.append(("absorbed", decision.case))
                continue
            owner = route_owner(dims, self.cs.routing, self.cs.owners, self.cs.default_owner)
            case = open_case(tenant, rec, trigger, scope, owner, now, due_at_ms(now, trigger.severity, self.cs.sla_s))
            candidates.append(case)
            new_cases.append(case)
            links.append(cq.opened_link(case))
            out.append(("opened", case))
        if new_cases:  # 6.
            await self.publish([case_message("opened", c, now, self.topic, self.partitions, self.cs.routes)
                                for c in new_cases])
        await cq.insert_cases(self.warehouse, new_cases)  # 7.
        await cq.insert_links(self.warehouse, links)
        return out

    def _triggered(self, records: list[Record]) -> list[tuple[Record, Trigger, str]]:
        """Survey responses matching a condition, with their trigger and response key, each response once."""
        survey, conditions = EventType.survey_response.value, self.cs.conditions
        seen: set[tuple[str, str]] = set()
        out: list[tuple[Record, Trigger, str]] = []
        for rec in records:
            if rec.get("type") != survey or not rec.get("tenant") or not rec.get("id"):
                continue
            trigger = evaluate_conditions(rec, conditions)
            if trigger is None:
                continue
            key = response_key(rec["tenant"], rec.get("source", ""), rec["id"])
            if (rec["tenant"], key) not in seen:  # the same response twice in one batch
                seen.add((rec["tenant"], key))
                out.append((rec, trigger, key))
        return out


def register_case_agent(app: faust.App, topics: Topics, settings: Settings, warehouse: Warehouse, *,
                        clock: Clock = _now_ms, on_fatal: Callable[[int], Any] = os._exit) -> faust.types.AgentT:
    """The ``case-opener`` agent on the survey-responses topic, in micro-batches like ``kpi-windows``."""
    batch, within = settings.stream.batch_records, settings.cases.batch_within_s
    opener = CaseOpener(settings, warehouse, AppPublisher(app).publish, clock)  # acked before the cases are stored

    @app.agent(topics.survey_responses, name="case-opener")
    async def case_opener(stream: faust.StreamT) -> None:
        async for events in stream.take_events(batch, within=within):
            records: list[Record] = []
            for event in events:
                msg = event.message
                try:
                    records.extend(decode_records(msg.value or b""))
                except Exception as exc:  # noqa: BLE001 - kpi-windows dead-letters it; nothing to open
                    log.warning("case-opener skips undecodable message at offset %s: %s", msg.offset, exc)
            try:
                await opener.handle(records)
            except Exception:  # noqa: BLE001 - never ack a batch whose cases are not stored
                log.exception("case-opener cannot store the cases of a batch; exiting so it is replayed")
                on_fatal(70)
                raise

    return case_opener


async def escalate_once(settings: Settings, warehouse: Warehouse, publisher: Publisher,
                        now_ms: int | None = None) -> list[Case]:
    """Escalate every overdue case once. Order: 1. read overdue cases; 2. step them (``escalate``);
    3. publish ``cx.case.escalated.v1`` and wait for the acks; 4. store the transitions."""
    now_ms = _now_ms() if now_ms is None else now_ms
    topic = notifications_topic(settings.kafka)
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


async def run_escalations(settings: Settings, warehouse: Warehouse, publisher: Publisher, stop: asyncio.Event,
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
