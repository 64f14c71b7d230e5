"""Panel health (``kpi.panel``): answer flags per scope (``/v1/panel/quality``, from the ledger), the
contact-fatigue check (``/v1/invitations/check``) and opt-outs (``/v1/opt-outs/{customer_id}``, admin,
audited). Customer ids are pseudonymized as ingest does before any lookup. No SQL here."""
from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Response, status

from api.audit_trail import audit
from api.deps import AdminCaller, ReadCaller, ServicesDep
from api.params import (ConfidenceParam, FiltersDep, FromParam, GroupByParam, IsoDateTime, ToParam, from_ms,
                        group_by_dims, time_range, to_ms, unprocessable, utc)
from api.responses import SCOPED, errors
from core.dimensions import DIMENSIONS, MAX_GROUP_BY
from core.windows import DAY_MS
from ingest.pseudonymize import Pseudonymizer
from kpi import stats
from kpi.panel import FLAG_BITS, contact_verdicts
from schemas.events import MAX_ID_CHARS
from schemas.panel import FlagShare, InvitationCheck, OptOutPublic, QualityGroup, QualityReport, RuleVerdictPublic
from warehouse import panel_queries

router = APIRouter(prefix="/v1", tags=["panel"], responses=errors(*SCOPED))

_DEFAULT_SPAN = timedelta(days=28)


def _share(count: int, n: int, confidence: float) -> FlagShare:
    if n <= 0:
        return FlagShare(count=count, share=None, ci_low=None, ci_high=None)
    low, high = stats.wilson_interval(count, n, confidence)
    return FlagShare(count=count, share=count / n, ci_low=low, ci_high=high)


@router.get(
    "/panel/quality",
    response_model=QualityReport,
    response_model_by_alias=True,
    summary="Answer quality flags per scope: repeats, straight-lining, too fast, contradictory",
    description=(
        "Survey answers with event time in [`from`, `to`) (default the last 28 days), per `group_by` group "
        f"(up to {MAX_GROUP_BY} dimensions), filtered by any query parameter named like a dimension "
        f"({', '.join(DIMENSIONS)}), with the number carrying each flag, its share and a Wilson interval. "
        "Read from the ledger (the latest version of each answer). `GET /v1/kpis?exclude_flagged=true` leaves "
        "the quality-flagged answers out of a KPI; repeats are never counted."
    ),
)
async def get_quality(caller: ReadCaller, services: ServicesDep, filters: FiltersDep, from_: FromParam = None,
                      to: ToParam = None, group_by: GroupByParam = "",
                      confidence: ConfidenceParam = 0.95) -> QualityReport:
    groups = group_by_dims(group_by)
    if len(groups) > MAX_GROUP_BY:
        raise unprocessable("group_by", f"at most {MAX_GROUP_BY} dimensions can be grouped by")
    from_dt, to_dt = time_range(from_, to, _DEFAULT_SPAN)
    rows = await panel_queries.flag_counts(services.warehouse, caller.tenant, groups, filters, to_ms(from_dt),
                                           to_ms(to_dt))
    data = [QualityGroup(group=dict(zip(groups, values)), answers=n,
                         **{name: _share(flags[name], n, confidence) for name in FLAG_BITS},
                         any_quality=_share(quality, n, confidence))
            for values, n, flags, quality in rows]
    return QualityReport(from_=from_dt, to=to_dt, group_by=list(groups), filters=filters, confidence=confidence,
                         data=data, count=len(data))


# -- contact fatigue ----------------------------------------------------------------
CustomerIdQuery = Annotated[str, Query(min_length=1, max_length=MAX_ID_CHARS,
                                       description="The customer id as producers send it (pseudonymized here)")]
CustomerIdPath = Annotated[str, Path(min_length=1, max_length=MAX_ID_CHARS,
                                     description="The customer id as producers send it (pseudonymized here)")]


def _pseudonym(services, tenant: str, customer_id: str) -> str:
    return Pseudonymizer(services.settings.pseudonym_key.encode())(tenant, customer_id)


@router.get(
    "/invitations/check",
    response_model=InvitationCheck,
    summary="Whether a customer may be surveyed now under the tenant's contact-fatigue rules",
    description=(
        "The customer id is pseudonymized as ingest does, then three rules are checked at `at` (default now): "
        "`max_invitations` (fewer than `panel.max_invitations` invitations in the last `panel.invitation_days` "
        "days, by event time), `complaint_quiet` (no touchpoint whose `journey_step` is one of "
        "`panel.complaint_journey_steps` in the last `panel.complaint_quiet_days` days) and `opt_out` (no opt-out, "
        "`PUT /v1/opt-outs/{customer_id}`). `allowed` is true iff every rule allows it; each rule gives its counts."
    ),
)
async def check_invitation(caller: ReadCaller, services: ServicesDep, customer_id: CustomerIdQuery,
                           at: Annotated[IsoDateTime | None, Query(description="ISO-8601; default now")] = None,
                           ) -> InvitationCheck:
    tenant, wh, panel = caller.tenant, services.warehouse, services.settings.panel
    customer = _pseudonym(services, tenant, customer_id)
    at_dt = utc(at) if at else datetime.now(timezone.utc)
    now = to_ms(at_dt)
    inv_days = panel.value("invitation_days", tenant)
    quiet_days = panel.value("complaint_quiet_days", tenant)
    invitations = await panel_queries.invitation_times(wh, tenant, customer, int(now - inv_days * DAY_MS), now + 1)
    complaints = await panel_queries.complaint_times(wh, tenant, customer, panel.complaint_journey_steps,
                                                     int(now - quiet_days * DAY_MS), now + 1)
    opted = await panel_queries.opt_out(wh, tenant, customer)
    verdicts = contact_verdicts(now, invitations, complaints, opted,
                                max_invitations=panel.value("max_invitations", tenant), invitation_days=inv_days,
                                complaint_quiet_days=quiet_days)
    return InvitationCheck(customer=customer, at=at_dt, allowed=all(v.allowed for v in verdicts), rules=[
        RuleVerdictPublic(rule=v.rule, allowed=v.allowed, count=v.count, limit=v.limit, days=v.days,
                          last=from_ms(v.last_ms)) for v in verdicts])


@router.put("/opt-outs/{customer_id}", response_model=OptOutPublic, summary="A customer asks not to be surveyed",
            responses=errors(400))
async def put_opt_out(customer_id: CustomerIdPath, caller: AdminCaller, services: ServicesDep) -> OptOutPublic:
    customer = _pseudonym(services, caller.tenant, customer_id)
    now = time.time_ns() // 1_000_000
    await panel_queries.set_opt_out(services.warehouse, caller.tenant, customer, True, now, caller.key_id)
    await audit(services, caller, "opt_out.put", customer)
    return OptOutPublic(customer=customer, opted_out=True, at=from_ms(now))


@router.delete("/opt-outs/{customer_id}", status_code=204, summary="Withdraw a customer's opt-out",
               responses=errors(404))
async def delete_opt_out(customer_id: CustomerIdPath, caller: AdminCaller, services: ServicesDep) -> Response:
    customer = _pseudonym(services, caller.tenant, customer_id)
    if await panel_queries.opt_out(services.warehouse, caller.tenant, customer) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "the customer has not opted out")
    await panel_queries.set_opt_out(services.warehouse, caller.tenant, customer, False, time.time_ns() // 1_000_000,
                                    caller.key_id)
    await audit(services, caller, "opt_out.delete", customer)
    return Response(status_code=204)
