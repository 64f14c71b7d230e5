"""The webhook API contract: subscriptions (Create/Update/Public/Created) and the delivery log.

A subscription receives the CloudEvents of the notifications topic whose
``type`` matches one of its ``event_types`` (``cx.alert.firing.v1``, or a
wildcard on a dot boundary: ``cx.alert.*``, ``*``) and whose data matches every
``filters`` entry (dimension -> value, looked up in ``data.scope``,
``data.labels``, then ``data`` itself). The secret (``whsec_`` + base64 of 24 to
64 bytes) is returned only by the create call.

``format`` chooses the body: the CloudEvent itself (``cloudevents``, the default) or,
for receivers that speak it, a Prometheus Alertmanager webhook payload
(``alertmanager``, version 4, one alert per body; ``webhooks.alertmanager``). Only
alert events (``cx.alert.*``) have an Alertmanager form: any other event that matches
such a subscription is not sent and its delivery log records a ``skipped`` attempt with
the reason. Signing (Standard Webhooks headers) is the same for both.
"""
from __future__ import annotations

import base64
import binascii
import re
from datetime import datetime
from enum import Enum
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from core.dimensions import DIMENSIONS

SECRET_PREFIX = "whsec_"
EVENT_TYPE_PATTERN = r"^(\*|[a-z0-9][a-z0-9_-]*(\.[a-z0-9][a-z0-9_-]*)*(\.\*)?)$"
_EVENT_TYPE_RE = re.compile(EVENT_TYPE_PATTERN)
MAX_URL_LENGTH = 2048


class BodyFormat(str, Enum):
    cloudevents = "cloudevents"    # the CloudEvent, verbatim
    alertmanager = "alertmanager"  # Prometheus Alertmanager webhook payload (alert events only)


#: The event types an ``alertmanager`` subscription can be sent (alerts.evaluator.EVENT_TYPES).
ALERT_EVENT_TYPES = ("cx.alert.firing.v1", "cx.alert.resolved.v1")


def check_format_types(body_format: BodyFormat, event_types: list[str] | tuple[str, ...]) -> None:
    """An ``alertmanager`` subscription must match at least one alert event type (else it could never
    receive anything). Raises ValueError."""
    if body_format is BodyFormat.alertmanager and not any(
            event_type_matches(p, t) for p in event_types for t in ALERT_EVENT_TYPES):
        raise ValueError("format 'alertmanager' carries alert events only: event_types must match "
                         "cx.alert.firing.v1 or cx.alert.resolved.v1 (e.g. 'cx.alert.*')")


def event_type_matches(pattern: str, event_type: str) -> bool:
    """``cx.alert.*`` matches ``cx.alert.firing.v1`` (any depth), ``*`` matches everything."""
    if pattern == "*":
        return True
    if pattern.endswith(".*"):
        return event_type.startswith(pattern[:-1])
    return pattern == event_type


def decode_secret(secret: str) -> bytes:
    """The HMAC key of a ``whsec_`` secret (raises ValueError when malformed)."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError(f"must start with {SECRET_PREFIX!r}")
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX):], validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("the part after 'whsec_' must be standard base64") from None
    if not 24 <= len(key) <= 64:
        raise ValueError("the key must be 24 to 64 bytes")
    return key


def _check_url(v: str) -> str:
    parts = urlsplit(v)
    if parts.scheme not in ("http", "https"):
        raise ValueError("scheme must be http or https")
    if not parts.hostname:
        raise ValueError("must have a host")
    if len(v) > MAX_URL_LENGTH:
        raise ValueError(f"longer than {MAX_URL_LENGTH} characters")
    return v


def _check_types(v: list[str]) -> list[str]:
    for i, t in enumerate(v):
        if not _EVENT_TYPE_RE.match(t):
            raise ValueError(f"event_types[{i}] {t!r}: expected a CloudEvent type like "
                             "'cx.alert.firing.v1' or a wildcard like 'cx.alert.*'")
    return list(dict.fromkeys(v))


def _check_filters(v: dict[str, str]) -> dict[str, str]:
    unknown = sorted(set(v) - set(DIMENSIONS))
    if unknown:
        raise ValueError(f"unknown dimension(s) {unknown}; allowed: {list(DIMENSIONS)}")
    return v


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WebhookCreate(_Strict):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"url": "https://hooks.example/cx-pulse", "event_types": ["cx.alert.*", "cx.case.opened.v1"],
         "filters": {"channel": "phone"}, "description": "On-call alerts"}]})
    url: str = Field(description="http(s) URL the CloudEvents are POSTed to")
    format: BodyFormat = Field(default=BodyFormat.cloudevents,
                               description="Body: the CloudEvent (`cloudevents`) or a Prometheus Alertmanager "
                               "webhook payload (`alertmanager`; alert events only, others are skipped and logged)")
    event_types: list[str] = Field(min_length=1, max_length=50,
                                   description="CloudEvent types; `prefix.*` and `*` are wildcards")
    filters: dict[str, str] = Field(default={}, description="Dimension -> value the event must carry")
    secret: str | None = Field(default=None, description="`whsec_` + base64 key; generated when absent")
    description: str = Field(default="", max_length=500)

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        return _check_url(v)

    @field_validator("event_types")
    @classmethod
    def _types(cls, v: list[str], info: ValidationInfo) -> list[str]:
        v = _check_types(v)
        check_format_types(info.data.get("format", BodyFormat.cloudevents), v)  # format is validated first
        return v

    @field_validator("filters")
    @classmethod
    def _filters(cls, v: dict[str, str]) -> dict[str, str]:
        return _check_filters(v)

    @field_validator("secret")
    @classmethod
    def _secret(cls, v: str | None) -> str | None:
        if v is not None:
            decode_secret(v)
        return v



class WebhookUpdate(_Strict):
    """PATCH body: only the given fields change. `enabled: true` re-enables a disabled endpoint."""

    url: str | None = None
    event_types: list[str] | None = Field(default=None, min_length=1, max_length=50)
    filters: dict[str, str] | None = None
    description: str | None = Field(default=None, max_length=500)
    enabled: bool | None = Field(default=None, strict=True)
    format: BodyFormat | None = None

    @field_validator("url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        return v if v is None else _check_url(v)

    @field_validator("event_types")
    @classmethod
    def _types(cls, v: list[str] | None) -> list[str] | None:
        return v if v is None else _check_types(v)

    @field_validator("filters")
    @classmethod
    def _filters(cls, v: dict[str, str] | None) -> dict[str, str] | None:
        return v if v is None else _check_filters(v)


class WebhookPublic(BaseModel):
    id: str
    url: str
    event_types: list[str]
    filters: dict[str, str]
    description: str
    format: BodyFormat
    enabled: bool
    disabled_reason: str = Field(description="Why delivery stopped (e.g. the endpoint answered 410); '' if enabled")
    created_at: datetime
    updated_at: datetime


class WebhookCreated(WebhookPublic):
    secret: str = Field(description="Signing secret; shown only in this response")


class WebhookList(BaseModel):
    data: list[WebhookPublic]
    count: int


class AttemptStatus(str, Enum):
    delivered = "delivered"          # 2xx
    retrying = "retrying"            # timeout, connection error, 5xx, 408, 429: another attempt follows
    dead_lettered = "dead_lettered"  # permanent 4xx/3xx or the last attempt failed
    gone = "gone"                    # 410: the subscription is disabled, the delivery dead-lettered
    skipped = "skipped"              # not sent: the event has no form in the subscription's format (error says why)


class DeliveryAttempt(BaseModel):
    delivery_id: str = Field(description="The `webhook-id` header; the same on every attempt and replay")
    subscription_id: str
    event_id: str
    event_type: str
    attempt: int
    status: AttemptStatus
    http_status: int | None
    error: str
    attempted_at: datetime
    duration_ms: int
    next_attempt_at: datetime | None


class DeliveryLog(BaseModel):
    data: list[DeliveryAttempt]
    count: int


class DeadLetter(BaseModel):
    delivery_id: str
    subscription_id: str
    event_id: str
    event_type: str
    attempts: int
    http_status: int | None
    error: str
    dead_at: datetime
    state: str = Field(description="`dead`, `replay_requested` or `delivered`")


class DeadLetterList(BaseModel):
    data: list[DeadLetter]
    count: int


class ReplayAccepted(BaseModel):
    delivery_id: str
    subscription_id: str
    state: str
