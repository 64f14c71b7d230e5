"""/v1/cases: the closed loop. Reads need ``read``; acknowledging and closing need ``admin``.

Every call is scoped to the caller's tenant. No SQL here: ``warehouse.case_queries``. Transitions
are the guarded ones of ``cases.state`` (a transition the state forbids answers 409). Closing
publishes ``cx.case.closed.v1`` before the transition is stored (at-least-once, the event id is
stable), like the alert evaluator.
"""
from __future__ import annotations

import dataclasses
import time
from datetime import datetime, timedelta, timezone
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status

from api.audit_trail import audit
from api.deps import AdminCaller, ReadCaller, ServicesDep
from api.responses import SCOPED, errors
from api.params import IsoDateTime, from_ms, to_ms, unprocessable
from cases import Case, CaseState, InvalidTransition, acknowledge, case_message, close, is_breached
from core.topics import notifications_topic
from schemas.cases import CaseAck, CaseClose, CaseList, CasePublic, CaseStats, DurationStats
from warehouse import case_queries as cq

router = APIRouter(prefix="/v1", tags=["cases"], responses=errors(*SCOPED))


def _public(c: Case, now_ms: int) -> CasePublic:
    answers = {k: v for k, v in (("nps", c.nps), ("csat", c.csat), ("ces", c.ces), ("fcr", c.fcr)) if v is not None}
    return CasePublic(
        id=c.id, state=c.state, escalated=c.escalated, owner=c.owner, severity=c.severity, reasons=list(c.reasons),
        scope=c.scope, customer=c.customer, interaction_id=c.interaction_id, survey_id=c.survey_id,
        response_id=c.response_id, answers=answers, comment=c.comment, absorbed=c.absorbed,
        opened_at=from_ms(c.opened_at_ms), due_at=from_ms(c.due_at_ms),
        responded_at=from_ms(c.responded_at_ms) if c.responded_at_ms else None,
        acknowledged_at=from_ms(c.acked_at_ms), acknowledged_by=c.acked_by, closed_at=from_ms(c.closed_at_ms),
        closed_by=c.closed_by, resolution=c.resolution or None, escalated_at=from_ms(c.escalated_at_ms),
        breached=is_breached(c.due_at_ms, c.closed_at_ms, now_ms),
    )


async def _get(services, tenant: str, case_id: str) -> Case:
    found = await cq.get_case(services.warehouse, tenant, case_id)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no case {case_id!r}")
    return found


@router.get("/cases", response_model=CaseList, summary="Cases, newest first")
async def list_cases(
    caller: ReadCaller, services: ServicesDep,
    state: Annotated[CaseState | None, Query(description="Only cases in this state")] = None,
    owner: Annotated[str | None, Query(description="Only cases routed to this owner")] = None,
    escalated: Annotated[bool | None, Query(description="Only escalated (true) or not escalated (false) cases")] = None,
    limit: Annotated[int, Query(ge=1)] = 100,
) -> CaseList:
    rows = await cq.list_cases(services.warehouse, caller.tenant, state, owner, escalated,
                               min(limit, services.settings.cases.max_list))
    now = int(time.time() * 1000)
    return CaseList(data=[_public(c, now) for c in rows], count=len(rows))


@router.get("/cases/stats", response_model=CaseStats, response_model_by_alias=True,
            summary="Time-to-acknowledge, time-to-close and SLA breaches of the cases opened in [from, to)")
async def case_stats(
    caller: ReadCaller, services: ServicesDep,
    from_: Annotated[IsoDateTime | None, Query(alias="from", description="Default: 7 days before `to`")] = None,
    to: Annotated[IsoDateTime | None, Query(description="Default: now")] = None,
) -> CaseStats:
    now = datetime.now(timezone.utc)
    to_dt = to or now
    from_dt = from_ or (to_dt - timedelta(days=7))
    start, end = to_ms(from_dt), to_ms(to_dt)
    if end <= start:
        raise unprocessable("to", "must be after from")
    s = await cq.case_stats(services.warehouse, caller.tenant, start, end, int(now.timestamp() * 1000))
    return CaseStats(**{"from": from_ms(start)}, to=from_ms(end), opened=s.opened, open=s.open,
                     acknowledged=s.acknowledged, closed=s.closed, escalated=s.escalated, breached=s.breached,
                     breached_open=s.breached_open,
                     time_to_acknowledge=DurationStats(**dataclasses.asdict(s.time_to_acknowledge)),
                     time_to_close=DurationStats(**dataclasses.asdict(s.time_to_close)))


@router.get("/cases/{case_id}", response_model=CasePublic, summary="One case", responses=errors(404))
async def get_case(case_id: str, caller: ReadCaller, services: ServicesDep) -> CasePublic:
    return _public(await _get(services, caller.tenant, case_id), int(time.time() * 1000))


@router.post("/cases/{case_id}/ack", response_model=CasePublic, summary="Acknowledge an open case",
             responses=errors(400, 404, 409, e409="The case's state forbids acknowledging it"))
async def ack_case(case_id: str, caller: AdminCaller, services: ServicesDep, body: CaseAck | None = None) -> CasePublic:
    case = await _get(services, caller.tenant, case_id)
    now = int(time.time() * 1000)
    try:
        acked = acknowledge(case, now, (body or CaseAck()).by)
    except InvalidTransition as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    await cq.append_event(services.warehouse, caller.tenant, case_id, cq.EventKind.acknowledged, acked.acked_at_ms,
                          acked.acked_by)
    await audit(services, caller, "case.ack", case_id)
    return _public(acked, now)


@router.post("/cases/{case_id}/close", response_model=CasePublic, summary="Close a case with a resolution note",
             responses=errors(400, 404, 409, e409="The case's state forbids closing it"))
async def close_case(case_id: str, body: CaseClose, caller: AdminCaller, services: ServicesDep) -> CasePublic:
    case = await _get(services, caller.tenant, case_id)
    now = int(time.time() * 1000)
    try:
        closed = close(case, now, body.resolution, body.by)
    except InvalidTransition as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    s = services.settings
    await services.publisher.publish([case_message("closed", closed, closed.closed_at_ms, notifications_topic(s.kafka),
                                                   s.kafka.partitions, s.cases.routes)])
    await cq.append_event(services.warehouse, caller.tenant, case_id, cq.EventKind.closed, closed.closed_at_ms,
                          closed.closed_by, closed.resolution)
    await audit(services, caller, "case.close", case_id)  # not the note: free text may name the customer
    return _public(closed, now)
