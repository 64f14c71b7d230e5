"""Delivering one notification (a CloudEvent, ``notifications.Notification``) to the subscriptions it matches.

For each matching subscription ``Deliverer.deliver`` runs the attempt loop:

1. sign the body with a fresh ``webhook-timestamp`` and the stable ``webhook-id``
   (``signing.delivery_id``: the same on every retry, redelivery and replay);
2. POST it (at most ``max_in_flight`` requests at once over all subscriptions;
   the semaphore is not held while waiting to retry);
3. classify the answer (``errors``): 2xx delivered; timeout, connection error,
   5xx, 408 and 429 retryable; 410 gone; any other answer permanent. Redirects are
   never followed (the client is ``webhooks.egress.egress_client``): a 3xx is the
   receiver's answer, permanent, so a redirect cannot lead to an address the egress
   policy refuses. The policy's own refusal (``EgressRefused``, raised by the
   transport before any connection) is permanent too: the dead letter says why;
4. record the attempt (``Recorder.attempt``) *before* sleeping or returning;
5. retry after ``Retry-After`` (seconds or an HTTP date, capped at
   ``max_backoff_s``) or an exponential backoff with full jitter; after the
   last attempt, or on a permanent error, write the dead letter; on 410 also
   disable the subscription.

The body is the CloudEvent verbatim, or, for a subscription with ``format: alertmanager``,
its Alertmanager webhook payload (``webhooks.alertmanager``), signed the same way; an event
without an Alertmanager form (anything but ``cx.alert.*``) is not sent to such a subscription
and one ``skipped`` attempt (attempt 0, no HTTP request) records why. Dead letters keep the
CloudEvent, so a replay renders the same body again.

``deliver_all`` runs the subscriptions concurrently and returns once every
outcome is recorded, which is when the agent may ack the message. Clock,
sleep and randomness are injected so tests run the schedule without waiting.
"""
from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, Awaitable, Callable, Iterable, Protocol

import httpx
import orjson

from core.domain_settings import WebhookSettings
from notifications import Notification
from schemas.webhooks import AttemptStatus, BodyFormat, event_type_matches
from warehouse.webhook_queries import AttemptRow, DeadLetterRow, SubscriptionRow
from webhooks.alertmanager import alertmanager_payload, is_alert_event
from core.errors import DeliveryError, EndpointGone, PermanentDelivery, RetryableDelivery
from webhooks.signing import delivery_id, signature_headers

_ERROR_BODY_BYTES = 256


def filters_match(filters: dict[str, str], data: dict[str, Any]) -> bool:
    """Every filter dimension must equal the value in ``data.scope``, ``data.labels`` or ``data``."""
    scope = data.get("scope") if isinstance(data.get("scope"), dict) else {}
    labels = data.get("labels") if isinstance(data.get("labels"), dict) else {}
    for dim, want in filters.items():
        have = scope.get(dim, labels.get(dim, data.get(dim)))
        if have != want:
            return False
    return True


def matching_subscriptions(n: Notification, subs: Iterable[SubscriptionRow]) -> list[SubscriptionRow]:
    """Enabled subscriptions of the tenant, in ``routes`` if given, whose types and filters match."""
    routes = set(n.routes) if n.routes is not None else None
    return [
        s for s in subs
        if s.tenant == n.tenant and s.enabled and not s.deleted
        and (routes is None or s.id in routes)
        and any(event_type_matches(p, n.type) for p in s.event_types)
        and filters_match(s.filters, n.data)
    ]


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date); None if absent or bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None or when.tzinfo is None:
        return None
    return max(when.timestamp() - now, 0.0)


class Recorder(Protocol):
    async def attempt(self, row: AttemptRow) -> None: ...
    async def dead_letter(self, row: DeadLetterRow) -> None: ...
    async def delivered(self, tenant: str, delivery_id: str) -> None: ...
    async def disable(self, sub: SubscriptionRow, reason: str) -> None: ...


@dataclass(frozen=True)
class DeliveryResult:
    delivery_id: str
    subscription_id: str
    status: AttemptStatus  # delivered, dead_lettered, gone or skipped
    attempts: int
    http_status: int | None
    error: str


class Deliverer:
    def __init__(self, client: httpx.AsyncClient, recorder: Recorder, settings: WebhookSettings, *,
                 clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
                 rand: Callable[[], float] = random.random,
                 in_flight: asyncio.Semaphore | None = None) -> None:
        self._client = client
        self._recorder = recorder
        self._settings = settings
        self._clock = clock
        self._sleep = sleep
        self._rand = rand
        self._in_flight = in_flight or asyncio.Semaphore(settings.max_in_flight)

    def backoff(self, failed_attempt: int, retry_after: float | None) -> float:
        """Wait after attempt ``failed_attempt`` (1-based): Retry-After if given, else full jitter."""
        cap = self._settings.max_backoff_s
        if retry_after is not None:
            return min(max(retry_after, 0.0), cap)
        return self._rand() * min(cap, self._settings.backoff_base_s * 2 ** (failed_attempt - 1))

    async def deliver_all(self, n: Notification, subs: Iterable[SubscriptionRow]) -> list[DeliveryResult]:
        return list(await asyncio.gather(*(self.deliver(n, s) for s in subs)))

    def render(self, n: Notification, sub: SubscriptionRow) -> tuple[bytes, str] | str:
        """(body, content type) of ``n`` for ``sub``, or why it has no body in the subscription's format."""
        if sub.format != BodyFormat.alertmanager.value:
            return n.body, self._settings.content_type
        if not is_alert_event(n.type):
            return (f"not sent: {n.type} has no Alertmanager form (format 'alertmanager' carries "
                    "cx.alert.* events only)")
        payload = alertmanager_payload(orjson.loads(n.body), receiver=sub.id,
                                       external_url=self._settings.external_url)
        return orjson.dumps(payload), "application/json"

    async def deliver(self, n: Notification, sub: SubscriptionRow) -> DeliveryResult:
        msg_id = delivery_id(n.tenant, sub.id, n.source, n.event_id)
        rendered = self.render(n, sub)
        if isinstance(rendered, str):  # recorded, never silently dropped
            now = self._clock()
            await self._recorder.attempt(AttemptRow(
                tenant=n.tenant, subscription_id=sub.id, delivery_id=msg_id, event_id=n.event_id,
                event_type=n.type, attempt=0, status=AttemptStatus.skipped.value, http_status=None,
                error=rendered, attempted_at=now, duration_ms=0))
            return DeliveryResult(msg_id, sub.id, AttemptStatus.skipped, 0, None, rendered)
        body, content_type = rendered
        max_attempts = self._settings.max_attempts
        attempt = 0
        while True:
            attempt += 1
            started = self._clock()
            err: DeliveryError | None = None
            code: int | None = None
            try:
                code = await self._attempt(sub, msg_id, body, content_type)
            except DeliveryError as exc:
                err, code = exc, exc.http_status
            ended = self._clock()
            row = AttemptRow(
                tenant=n.tenant, subscription_id=sub.id, delivery_id=msg_id, event_id=n.event_id,
                event_type=n.type, attempt=attempt, status="", http_status=code,
                error=err.message if err else "", attempted_at=started,
                duration_ms=max(int((ended - started) * 1000), 0),
            )
            if err is None:
                await self._recorder.attempt(_with(row, status=AttemptStatus.delivered))
                if n.replay_of is not None:
                    await self._recorder.delivered(n.tenant, msg_id)
                return DeliveryResult(msg_id, sub.id, AttemptStatus.delivered, attempt, code, "")
            if isinstance(err, RetryableDelivery) and attempt < max_attempts:
                delay = self.backoff(attempt, err.retry_after)
                await self._recorder.attempt(_with(row, status=AttemptStatus.retrying, next_attempt_at=ended + delay))
                await self._sleep(delay)
                continue
            status = AttemptStatus.gone if isinstance(err, EndpointGone) else AttemptStatus.dead_lettered
            await self._recorder.attempt(_with(row, status=status))
            if status is AttemptStatus.gone:
                await self._recorder.disable(sub, f"endpoint answered 410 Gone on delivery {msg_id}")
            await self._recorder.dead_letter(DeadLetterRow(
                tenant=n.tenant, delivery_id=msg_id, subscription_id=sub.id, event_id=n.event_id,
                event_type=n.type, body=n.body, attempts=attempt, http_status=code, error=err.message,
                dead_at=ended,
            ))
            return DeliveryResult(msg_id, sub.id, status, attempt, code, err.message)

    async def _attempt(self, sub: SubscriptionRow, msg_id: str, body: bytes, content_type: str) -> int:
        """One POST; returns the 2xx status or raises a ``DeliveryError``."""
        headers = {
            "content-type": content_type,
            "user-agent": self._settings.user_agent,
            **signature_headers(sub.secret, msg_id, int(self._clock()), body),
        }
        async with self._in_flight:
            try:
                async with self._client.stream("POST", sub.url, content=body, headers=headers,
                                               timeout=self._settings.timeout_s) as resp:
                    code = resp.status_code
                    if 200 <= code < 300:
                        return code
                    snippet = await _read_some(resp)
                    retry_after = resp.headers.get("retry-after")
                    location = resp.headers.get("location")
            except httpx.TimeoutException as exc:
                raise RetryableDelivery(f"timeout after {self._settings.timeout_s:g}s ({type(exc).__name__})") from None
            except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
                raise PermanentDelivery(f"bad URL: {exc}") from None
            except httpx.TransportError as exc:
                raise RetryableDelivery(f"connection error: {type(exc).__name__}: {exc}") from None
        message = f"HTTP {code}" + (f": {snippet}" if snippet else "")
        if 300 <= code < 400:
            message += f" (redirects are not followed; Location: {location or '-'})"
        if code == 410:
            raise EndpointGone(message, code)
        if code in (408, 429) or code >= 500:
            raise RetryableDelivery(message, code, parse_retry_after(retry_after, self._clock()))
        raise PermanentDelivery(message, code)


async def _read_some(resp: httpx.Response) -> str:
    """The start of an error answer's body, without reading a huge one."""
    if resp.is_stream_consumed:  # already in memory (e.g. a mock transport)
        got = getattr(resp, "_content", b"")
    else:
        got = b""
        try:
            async for chunk in resp.aiter_raw():
                got += chunk
                if len(got) >= _ERROR_BODY_BYTES:
                    break
        except httpx.HTTPError:
            pass
    return got[:_ERROR_BODY_BYTES].decode("utf-8", errors="replace").strip()


def _with(row: AttemptRow, **changes: Any) -> AttemptRow:
    from dataclasses import replace

    if "status" in changes:
        changes["status"] = AttemptStatus(changes["status"]).value
    return replace(row, **changes)
