"""/v1/webhooks: subscriptions, their delivery log and dead letters, replays.

Reads need the ``read`` scope, changes ``admin``. Everything is scoped to the
caller's tenant: another tenant's ids answer 404. Deliveries (and replays) are
made by the ``webhook-deliveries`` agent, never from a request: a replay only
publishes a request to the notifications topic.
"""
from __future__ import annotations

import secrets
from datetime import datetime, timezone
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, HTTPException, Query, Response, status

from api.audit_trail import audit
from api.deps import AdminCaller, ReadCaller, ServicesDep
from api.responses import SCOPED, errors
from api.params import unprocessable
from core.topics import notifications_topic
from notifications import replay_message
from schemas.webhooks import (AttemptStatus, BodyFormat, DeadLetter, DeadLetterList, DeliveryAttempt, DeliveryLog,
                              ReplayAccepted, WebhookCreate, WebhookCreated, WebhookList, WebhookPublic,
                              WebhookUpdate, check_format_types)
from warehouse import webhook_queries as q
from core.errors import DeliveryError, EgressRefused
from webhooks.egress import EgressPolicy
from webhooks.signing import generate_secret

router = APIRouter(prefix="/v1", tags=["webhooks"], responses=errors(*SCOPED))


def _public(sub: q.SubscriptionRow) -> WebhookPublic:
    return WebhookPublic(
        id=sub.id, url=sub.url, event_types=list(sub.event_types), filters=sub.filters,
        description=sub.description, format=BodyFormat(sub.format), enabled=sub.enabled,
        disabled_reason=sub.disabled_reason,
        created_at=sub.created_at, updated_at=sub.updated_at,
    )


def _dt(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, timezone.utc)


async def _check_egress(services: ServicesDep, url: str) -> None:
    """422 at ``["body", "url"]`` when the egress policy refuses ``url`` (delivery checks it again)."""
    try:
        await EgressPolicy(services.settings.webhooks).check_url(url)
    except EgressRefused as exc:
        raise unprocessable(["body", "url"], exc.message) from None
    except DeliveryError as exc:  # DNS failed: a typo is likelier than an outage, and the admin is there
        raise unprocessable(["body", "url"], exc.message) from None


def _host(url: str) -> str:
    """What the audit log keeps of a URL: its host (a path or query may carry a receiver's token)."""
    return urlsplit(url).hostname or ""


async def _existing(services: ServicesDep, tenant: str, sub_id: str) -> q.SubscriptionRow:
    sub = await q.get_subscription(services.warehouse, tenant, sub_id)
    if sub is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no webhook subscription {sub_id!r}")
    return sub


@router.post("/webhooks", status_code=status.HTTP_201_CREATED, response_model=WebhookCreated,
             summary="Create a webhook subscription (the secret is returned only here)", responses=errors(400))
async def create_webhook(body: WebhookCreate, caller: AdminCaller, services: ServicesDep) -> WebhookCreated:
    await _check_egress(services, body.url)
    now = datetime.now(timezone.utc)
    sub = q.SubscriptionRow(
        tenant=caller.tenant, id=f"wh_{secrets.token_hex(12)}", url=body.url,
        event_types=tuple(body.event_types), filters=dict(body.filters),
        secret=body.secret or generate_secret(), description=body.description, format=body.format.value,
        created_at=now, updated_at=now,
    )
    await q.put_subscription(services.warehouse, sub)
    await audit(services, caller, "webhook.create", sub.id, host=_host(sub.url), event_types=list(sub.event_types),
                format=sub.format)
    return WebhookCreated(**_public(sub).model_dump(), secret=sub.secret)


@router.get("/webhooks", response_model=WebhookList, summary="List webhook subscriptions")
async def list_webhooks(caller: ReadCaller, services: ServicesDep) -> WebhookList:
    subs = await q.list_subscriptions(services.warehouse, caller.tenant)
    return WebhookList(data=[_public(s) for s in subs], count=len(subs))


@router.get("/webhooks/{webhook_id}", response_model=WebhookPublic, responses=errors(404),
            summary="One webhook subscription")
async def get_webhook(webhook_id: str, caller: ReadCaller, services: ServicesDep) -> WebhookPublic:
    return _public(await _existing(services, caller.tenant, webhook_id))


@router.patch("/webhooks/{webhook_id}", response_model=WebhookPublic, responses=errors(400, 404),
              summary="Change a subscription; `enabled: true` re-enables one disabled by a 410")
async def update_webhook(webhook_id: str, body: WebhookUpdate, caller: AdminCaller,
                         services: ServicesDep) -> WebhookPublic:
    sub = await _existing(services, caller.tenant, webhook_id)
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    if "event_types" in changes:
        changes["event_types"] = tuple(changes["event_types"])
    if "format" in changes:
        changes["format"] = BodyFormat(changes["format"]).value
    try:  # the result must still be deliverable in its format
        check_format_types(BodyFormat(changes.get("format", sub.format)), changes.get("event_types", sub.event_types))
    except ValueError as exc:
        raise unprocessable(["body", "event_types" if "event_types" in changes else "format"], str(exc)) from None
    if "url" in changes:
        await _check_egress(services, changes["url"])
    if changes.get("enabled") is True:
        changes["disabled_reason"] = ""
    elif changes.get("enabled") is False and sub.enabled:
        changes["disabled_reason"] = "disabled through the API"
    sub = sub.changed(**changes)
    await q.put_subscription(services.warehouse, sub)
    await audit(services, caller, "webhook.update", sub.id, fields=sorted(changes),
                **({"host": _host(sub.url)} if "url" in changes else {}),
                **({"enabled": sub.enabled} if "enabled" in changes else {}))
    return _public(sub)


@router.delete("/webhooks/{webhook_id}", status_code=status.HTTP_204_NO_CONTENT, responses=errors(404),
               summary="Delete a subscription (soft: its log and dead letters stay)")
async def delete_webhook(webhook_id: str, caller: AdminCaller, services: ServicesDep) -> Response:
    sub = await _existing(services, caller.tenant, webhook_id)
    await q.put_subscription(services.warehouse, sub.changed(deleted=True, enabled=False))
    await audit(services, caller, "webhook.delete", sub.id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/webhooks/{webhook_id}/deliveries", response_model=DeliveryLog, responses=errors(404),
            summary="The delivery log: one row per attempt, newest first")
async def list_deliveries(
    webhook_id: str, caller: ReadCaller, services: ServicesDep,
    delivery_id: Annotated[str | None, Query(description="Only the attempts of this webhook-id")] = None,
    status_: Annotated[AttemptStatus | None, Query(alias="status")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> DeliveryLog:
    await _existing(services, caller.tenant, webhook_id)
    rows = await q.list_attempts(services.warehouse, caller.tenant, webhook_id, delivery_id=delivery_id,
                                 status=status_.value if status_ else None, limit=limit, offset=offset)
    data = [DeliveryAttempt(
        delivery_id=r.delivery_id, subscription_id=r.subscription_id, event_id=r.event_id,
        event_type=r.event_type, attempt=r.attempt, status=AttemptStatus(r.status), http_status=r.http_status,
        error=r.error, attempted_at=_dt(r.attempted_at), duration_ms=r.duration_ms,
        next_attempt_at=_dt(r.next_attempt_at),
    ) for r in rows]
    return DeliveryLog(data=data, count=len(data))


def _dead(r: q.DeadLetterRow) -> DeadLetter:
    return DeadLetter(delivery_id=r.delivery_id, subscription_id=r.subscription_id, event_id=r.event_id,
                      event_type=r.event_type, attempts=r.attempts, http_status=r.http_status, error=r.error,
                      dead_at=_dt(r.dead_at), state=r.state)


@router.get("/webhooks/{webhook_id}/dead-letters", response_model=DeadLetterList, responses=errors(404),
            summary="Deliveries that failed for good (replayable)")
async def list_dead_letters(
    webhook_id: str, caller: ReadCaller, services: ServicesDep,
    state: Annotated[str | None, Query(pattern="^(dead|replay_requested|delivered)$")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> DeadLetterList:
    await _existing(services, caller.tenant, webhook_id)
    rows = await q.list_dead_letters(services.warehouse, caller.tenant, webhook_id, state, limit)
    return DeadLetterList(data=[_dead(r) for r in rows], count=len(rows))


@router.post("/webhooks/deliveries/{delivery_id}/replay", status_code=status.HTTP_202_ACCEPTED,
             response_model=ReplayAccepted, responses=errors(
                 404, 409, e409="Already replayed successfully, or its subscription is disabled"),
             summary="Deliver a dead letter again (same body and webhook-id), through the delivery agent")
async def replay_delivery(delivery_id: str, caller: AdminCaller, services: ServicesDep) -> ReplayAccepted:
    wh = services.warehouse
    dl = await q.get_dead_letter(wh, caller.tenant, delivery_id)
    if dl is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no dead-lettered delivery {delivery_id!r}")
    if dl.state == "delivered":
        raise HTTPException(status.HTTP_409_CONFLICT, "this delivery was already replayed successfully")
    sub = await _existing(services, caller.tenant, dl.subscription_id)
    if not sub.enabled:
        raise HTTPException(status.HTTP_409_CONFLICT,
                            f"subscription {sub.id} is disabled ({sub.disabled_reason}); re-enable it first")
    topic = notifications_topic(services.settings.kafka)
    await q.set_dead_letter_state(wh, caller.tenant, delivery_id, "replay_requested")
    await services.publisher.publish([replay_message(topic, caller.tenant, delivery_id, sub.id, dl.body)])
    await audit(services, caller, "dead_letter.replay", delivery_id, subscription_id=sub.id)
    return ReplayAccepted(delivery_id=delivery_id, subscription_id=sub.id, state="replay_requested")
