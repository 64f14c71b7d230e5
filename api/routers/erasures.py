"""/v1/erasures: remove one customer's data (``admin`` scope). No SQL here.

``POST`` pseudonymizes the id as ingest does, erases the customer's cases (with their events and
links) and opt-out at once, then broadcasts an ``ErasureCommand`` to every partition of the erasures topic: each
shard's worker retracts the customer's events from the windows it owns and deletes them from the
ledger (``stream_processors.erasure``, where the reason is spelled out). The request waits up to
``erasure.wait_s`` for every shard: 200 with the counts when done, else 202 with ``Location`` of
``GET /v1/erasures/{id}``. The audit entry (``erasure.run``, counts per table) is written when the
last part is done.
"""
from __future__ import annotations

import asyncio
import time
import uuid

from fastapi import APIRouter, HTTPException, Response, status

from api.deps import AdminCaller, ServicesDep
from api.params import from_ms
from api.responses import SCOPED, errors
from core.topics import erasures_topic
from ingest.pseudonymize import Pseudonymizer
from notifications import ErasureCommand, erasure_messages
from schemas.erasures import ErasureRequest, ErasureStatus
from warehouse import erasure_queries as eq

router = APIRouter(prefix="/v1", tags=["erasures"], responses=errors(*SCOPED))

_POLL_S = 0.2


def _status(erasure_id: str, parts: list[eq.ErasurePart]) -> ErasureStatus:
    first = parts[0]
    return ErasureStatus(
        id=erasure_id, status="done" if eq.is_complete(parts) else "running",
        requested_at=from_ms(first.requested_at_ms), shards=first.shards,
        shards_done=sum(1 for p in parts if p.part >= 0 and p.state == "done"), counts=eq.summed(parts))


@router.post("/erasures", response_model=ErasureStatus, summary="Erase one customer's data",
             responses={202: {"model": ErasureStatus, "description": "Still running: poll the `Location`",
                              "headers": {"Location": {"description": "`/v1/erasures/{id}`",
                                                       "schema": {"type": "string"}}}},
                        **errors(400)})
async def create_erasure(body: ErasureRequest, caller: AdminCaller, services: ServicesDep,
                         response: Response) -> ErasureStatus:
    settings, wh = services.settings, services.warehouse
    customer = Pseudonymizer(settings.pseudonym_key.encode())(caller.tenant, body.customer_id)
    erasure_id = uuid.uuid4().hex
    now = time.time_ns() // 1_000_000
    cases = await eq.erase_customer_unsharded(wh, caller.tenant, customer)
    await eq.record_part(wh, eq.ErasurePart(
        tenant=caller.tenant, erasure_id=erasure_id, part=eq.CASES_PART, shards=settings.kafka.partitions,
        state="done", requested_at_ms=now, actor=caller.key_id, counts=cases))
    command = ErasureCommand(tenant=caller.tenant, erasure_id=erasure_id, customer=customer, requested_at_ms=now,
                             actor=caller.key_id, shards=settings.kafka.partitions)
    await services.publisher.publish(erasure_messages(erasures_topic(settings.kafka), command))
    deadline = time.monotonic() + settings.erasure.wait_s
    while True:
        parts = await eq.erasure_parts(wh, caller.tenant, erasure_id)
        if eq.is_complete(parts):
            await eq.audit_if_complete(wh, caller.tenant, erasure_id)  # a no-op row if the worker wrote it
            return _status(erasure_id, parts)
        if time.monotonic() >= deadline:
            response.status_code = status.HTTP_202_ACCEPTED
            response.headers["Location"] = f"/v1/erasures/{erasure_id}"
            return _status(erasure_id, parts)
        await asyncio.sleep(_POLL_S)


@router.get("/erasures/{erasure_id}", response_model=ErasureStatus, summary="An erasure's progress and counts",
            responses=errors(404))
async def read_erasure(erasure_id: str, caller: AdminCaller, services: ServicesDep) -> ErasureStatus:
    parts = await eq.erasure_parts(services.warehouse, caller.tenant, erasure_id)
    if not parts:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no erasure {erasure_id!r}")
    return _status(erasure_id, parts)
