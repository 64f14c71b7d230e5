"""/v1/alert-rules, /v1/alerts (history and current states) and /v1/silences.

Reads need the ``read`` scope; changing rules or silences needs ``admin``.
Every call is scoped to the caller's tenant. No SQL here: ``alerts.store``.
"""
from __future__ import annotations

import time
import uuid
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Response, status

from alerts.rules import GapKindName, Rule, RuleSpec
from alerts.silences import Silence
from alerts.state import Status
from core.errors import NoViewCovers
from warehouse.queries import choose_view
from api.audit_trail import audit
from api.deps import AdminCaller, ReadCaller, ServicesDep
from api.responses import SCOPED, errors
from api.params import IsoDateTime, from_ms, to_ms, unprocessable
from alerts.contract import (
    AlertEvent, AlertEventList, AlertPublic, GamingEvidence, AlertPublicList, RuleCreate, RuleList, RulePublic, SilenceCreate,
    SilenceList, SilencePublic,
)
from alerts import store as aq

router = APIRouter(prefix="/v1", tags=["alerts"], responses=errors(*SCOPED))

def _public(rule: Rule, updated_at_ms: int) -> RulePublic:
    return RulePublic(**rule.model_dump(), fingerprint=rule.fingerprint(), updated_at=from_ms(updated_at_ms))


def _check_servable(services, rule: RuleSpec) -> None:
    if rule.gap is not None and rule.gap.kind is GapKindName.gaming:
        return  # read from a stored view holding scope and dimension, else from the ledger (`choose_source`)
    try:
        choose_view(services.settings.stream.views, set(rule.scope))
    except NoViewCovers as exc:
        raise exc.at(["body", "scope"]) from None
    if rule.gap is not None:
        try:
            choose_view(services.settings.stream.views, set(rule.scope) | set(rule.gap.dimensions))
        except NoViewCovers as exc:
            raise exc.at(["body", "gap", "dimensions"]) from None


async def _get(services, tenant: str, rule_id: str) -> tuple[Rule, int]:
    found = await aq.list_rules(services.warehouse, tenant, rule_id)
    if not found:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no alert rule {rule_id!r}")
    return found[0][1], found[0][2]


# -- rules --------------------------------------------------------------------------
@router.post("/alert-rules", response_model=RulePublic, status_code=201, summary="Create an alert rule",
             responses=errors(400, 409,
                              e409="A rule with this id exists, or the tenant has `alerts.max_rules_per_tenant`"))
async def create_rule(body: RuleCreate, caller: AdminCaller, services: ServicesDep) -> RulePublic:
    _check_servable(services, body)
    rule = Rule(**{**body.model_dump(), "id": body.id or uuid.uuid4().hex})
    existing = await aq.list_rules(services.warehouse, caller.tenant)
    if any(r.id == rule.id for _, r, _ in existing):
        raise HTTPException(status.HTTP_409_CONFLICT, f"alert rule {rule.id!r} exists; PUT to replace it")
    if len(existing) >= services.settings.alerts.max_rules_per_tenant:
        raise HTTPException(status.HTTP_409_CONFLICT, "too many alert rules for this tenant")
    await aq.upsert_rules(services.warehouse, caller.tenant, [rule])
    await audit(services, caller, "alert_rule.create", rule.id, metric=rule.metric_name, severity=rule.severity.value)
    return _public(rule, int(time.time() * 1000))


@router.get("/alert-rules", response_model=RuleList, summary="List alert rules")
async def list_rules(caller: ReadCaller, services: ServicesDep) -> RuleList:
    rows = await aq.list_rules(services.warehouse, caller.tenant)
    return RuleList(data=[_public(r, u) for _, r, u in rows], count=len(rows))


@router.get("/alert-rules/{rule_id}", response_model=RulePublic, summary="One alert rule", responses=errors(404))
async def get_rule(rule_id: str, caller: ReadCaller, services: ServicesDep) -> RulePublic:
    return _public(*await _get(services, caller.tenant, rule_id))


@router.put("/alert-rules/{rule_id}", response_model=RulePublic, summary="Create or replace an alert rule",
            responses={200: {"description": "The rule was replaced"},
                       201: {"model": RulePublic, "description": "The rule was created"},
                       **errors(400, 409, e409="The tenant has `alerts.max_rules_per_tenant` rules")})
async def put_rule(rule_id: str, body: RuleSpec, caller: AdminCaller, services: ServicesDep,
                   response: Response,
                   dry_run: Annotated[bool, Query(description="Validate and answer as if stored; store nothing "
                                                  "(`cxpulse rules apply` checks a whole file first)")] = False,
                   ) -> RulePublic:
    _check_servable(services, body)
    try:
        rule = Rule(**body.model_dump(), id=rule_id)
    except ValueError:
        raise unprocessable(["path", "rule_id"], "invalid rule id") from None
    existing = await aq.list_rules(services.warehouse, caller.tenant)
    created = not any(r.id == rule_id for _, r, _ in existing)
    if created:
        if len(existing) >= services.settings.alerts.max_rules_per_tenant:
            raise HTTPException(status.HTTP_409_CONFLICT, "too many alert rules for this tenant")
        response.status_code = status.HTTP_201_CREATED
    if not dry_run:
        await aq.upsert_rules(services.warehouse, caller.tenant, [rule])
        await audit(services, caller, "alert_rule.create" if created else "alert_rule.replace", rule_id,
                    metric=rule.metric_name, severity=rule.severity.value)
    return _public(rule, int(time.time() * 1000))


@router.delete("/alert-rules/{rule_id}", status_code=204, summary="Delete an alert rule", responses=errors(404))
async def delete_rule(rule_id: str, caller: AdminCaller, services: ServicesDep) -> Response:
    await _get(services, caller.tenant, rule_id)
    await aq.delete_rules(services.warehouse, caller.tenant, [rule_id])
    await audit(services, caller, "alert_rule.delete", rule_id)
    return Response(status_code=204)


# -- alerts -------------------------------------------------------------------------
@router.get("/alerts", response_model=AlertEventList | AlertPublicList,
            summary="Alert history (status changes, newest first), or current states with current=true")
async def list_alerts(
    caller: ReadCaller, services: ServicesDep,
    state: Annotated[Status | None, Query(description="Only this status")] = None,
    rule_id: str | None = None,
    current: Annotated[bool, Query(description="Current state per alert instead of the history")] = False,
    from_: Annotated[IsoDateTime | None, Query(alias="from")] = None,
    to: IsoDateTime | None = None,
    limit: Annotated[int, Query(ge=1)] = 100,
) -> AlertEventList | AlertPublicList:
    wh = services.warehouse
    if current:
        rows = [r for r in await aq.read_states(wh, caller.tenant, state) if rule_id in (None, r.rule.id)]
        data = [AlertPublic(
            fingerprint=r.fingerprint, rule_id=r.rule.id, rule_name=r.rule.name, status=r.state.status,
            severity=r.rule.severity.value, scope=r.rule.scope, labels=r.rule.labels, threshold=r.rule.threshold,
            value=r.state.value, n=r.state.n, ci_low=r.state.ci_low, ci_high=r.state.ci_high,
            active_at=from_ms(r.state.active_at_ms), starts_at=from_ms(r.state.starts_at_ms), ends_at=from_ms(r.state.ends_at_ms),
            evaluated_at=from_ms(r.state.evaluated_at_ms),
            evidence=GamingEvidence.of(r.state.evidence) if r.state.evidence else None) for r in rows][:limit]
        return AlertPublicList(data=data, count=len(data))
    rows = await aq.read_history(wh, caller.tenant, state, rule_id, None, to_ms(from_) if from_ else None,
                                 to_ms(to) if to else None, min(limit, services.settings.alerts.max_history))
    events = [AlertEvent(**{k: v for k, v in r.items() if k not in ("tenant", "at_ms", "starts_at_ms", "ends_at_ms")},
                         at=from_ms(r["at_ms"]), starts_at=from_ms(r["starts_at_ms"]), ends_at=from_ms(r["ends_at_ms"]))
              for r in rows]
    return AlertEventList(data=events, count=len(events))


# -- silences -----------------------------------------------------------------------
def _silence_public(s: Silence, now_ms: int) -> SilencePublic:
    return SilencePublic(id=s.id, rule_id=s.rule_id, matchers=s.matchers, starts_at=from_ms(s.starts_at_ms),
                         ends_at=from_ms(s.ends_at_ms), comment=s.comment, created_by=s.created_by, active=s.active(now_ms))


@router.post("/silences", response_model=SilencePublic, status_code=201, summary="Create a time-boxed silence",
             responses=errors(400))
async def create_silence(body: SilenceCreate, caller: AdminCaller, services: ServicesDep) -> SilencePublic:
    now = int(time.time() * 1000)
    starts = to_ms(body.starts_at) if body.starts_at else now
    ends = to_ms(body.ends_at)
    if ends <= starts:
        raise unprocessable(["body", "ends_at"], "must be after starts_at")
    if ends - starts > services.settings.alerts.max_silence_s * 1000:
        raise unprocessable(["body", "ends_at"], f"a silence lasts at most {services.settings.alerts.max_silence_s} s")
    if ends <= now:
        raise unprocessable(["body", "ends_at"], "is in the past")
    silence = Silence(id=uuid.uuid4().hex, rule_id=body.rule_id, matchers=body.matchers, starts_at_ms=starts,
                      ends_at_ms=ends, comment=body.comment, created_by=body.created_by)
    await aq.upsert_silence(services.warehouse, caller.tenant, silence)
    await audit(services, caller, "silence.create", silence.id, rule_id=silence.rule_id,
                starts_at_ms=starts, ends_at_ms=ends)
    return _silence_public(silence, now)


@router.get("/silences", response_model=SilenceList, summary="List silences")
async def list_silences(caller: ReadCaller, services: ServicesDep,
                        active: Annotated[bool, Query(description="Only silences active now")] = False) -> SilenceList:
    now = int(time.time() * 1000)
    rows = await aq.list_silences(services.warehouse, caller.tenant, active_at_ms=now if active else None)
    return SilenceList(data=[_silence_public(s, now) for _, s in rows], count=len(rows))


@router.delete("/silences/{silence_id}", status_code=204, summary="Expire a silence now", responses=errors(404))
async def expire_silence(silence_id: str, caller: AdminCaller, services: ServicesDep) -> Response:
    rows = await aq.list_silences(services.warehouse, caller.tenant, silence_id=silence_id)
    if not rows:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no silence {silence_id!r}")
    now = int(time.time() * 1000)
    s = rows[0][1]
    if s.ends_at_ms > now:
        expired = s.model_copy(update={"ends_at_ms": max(now, s.starts_at_ms)})
        await aq.upsert_silence(services.warehouse, caller.tenant, expired)
        await audit(services, caller, "silence.expire", silence_id, ends_at_ms=expired.ends_at_ms)
    return Response(status_code=204)
