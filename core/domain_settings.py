"""Settings sections owned by the domain packages, each a field of ``core.settings.Settings``.

``gaps`` (live gap detection, ``gaps/``), ``alerts`` (threshold alert rules,
``alerts/``), ``webhooks`` (signed deliveries, ``webhooks/``) and ``cases``
(the closed loop, ``cases/``, with the ``CaseCondition`` model its rules are
made of). The sections of the data path are in ``core.pipeline_settings``.
"""
from __future__ import annotations

from typing import Annotated, Literal

import ipaddress
import re

from pydantic import BaseModel, Field, field_validator

from core.dimensions import validate_view


class GapSettings(BaseModel):
    """Live gap detection (`GET /v1/gaps`, stream evaluation). Owned by `gaps/`."""

    confidence: float = Field(default=0.95, gt=0.5, lt=1.0, description="Confidence level of gap significance.")
    min_n: int = Field(
        default=30, ge=1,
        description="Answers (touchpoints for operational metrics) a value needs on each side before a gap "
        "on it can be significant; smaller samples are reported with `low_sample` and never flagged.",
    )
    min_expected_volume: float = Field(
        default=5.0, gt=0,
        description="Data gaps: a scope is checked only when its baseline expects at least this many events "
        "in the window; 0 events against such a baseline is `silent`.",
    )
    baseline_weeks: int = Field(
        default=4, ge=1, le=52,
        description="Baseline of `window=1h` gaps: the same hour of this many previous weeks.",
    )
    baseline_days: int = Field(
        default=7, ge=1, le=90,
        description="Baseline of `window=1d` gaps: this many previous days.",
    )
    live_lengths_min: list[Annotated[int, Field(ge=1, le=1440)]] = Field(
        default=[10, 20, 30, 60], min_length=1,
        description="`window=live` gaps: rolling lengths (minutes) of the recent window tested against the "
        "scope's own history (`baseline_days` days of hourly windows); the most significant is reported.",
    )
    live_alpha: float = Field(
        default=1e-4, gt=0, lt=1,
        description="`window=live` gaps: family-wise false-gap level per evaluation, split over scopes x "
        "lengths. Small because live gaps are re-tested every minute (see `make evaluate`).",
    )
    live_min_n: int = Field(
        default=10, ge=1, description="`window=live` gaps: answers the recent window needs before it is tested "
        "(small samples get exact tails).")


class AlertSettings(BaseModel):
    """Threshold alert rules and their state machine. Owned by `alerts/`."""

    evaluate_every_s: float = Field(default=15.0, gt=0, description="How often rules are evaluated.")
    max_rules_per_tenant: int = Field(
        default=1000, ge=1, description="Most alert rules one tenant may hold (API and rules files).")
    max_silence_s: int = Field(
        default=30 * 86_400, ge=60, description="Longest a silence may last, seconds (silences are time-boxed).")
    max_history: int = Field(
        default=1000, ge=1, description="Most alert history entries one `GET /v1/alerts` returns.")


class WebhookSettings(BaseModel):
    """Signed webhook deliveries (Standard Webhooks). Owned by `webhooks/`."""

    timeout_s: float = Field(default=10.0, gt=0, description="Per-attempt HTTP timeout of a delivery.")
    max_attempts: int = Field(
        default=8, ge=1, le=50,
        description="Attempts per delivery (the first one included); after the last failed one the "
        "delivery becomes a dead letter, replayable with `POST /v1/webhooks/deliveries/{id}/replay`.",
    )
    backoff_base_s: float = Field(
        default=1.0, gt=0,
        description="Backoff before retry *n* is drawn uniformly from [0, min(max_backoff_s, "
        "backoff_base_s * 2^(n-1))] (exponential backoff with full jitter), seconds.",
    )
    max_backoff_s: float = Field(
        default=300.0, gt=0,
        description="Longest wait between two attempts, seconds; also caps a receiver's `Retry-After`.",
    )
    max_in_flight: int = Field(
        default=32, ge=1, le=1024,
        description="Most HTTP requests in flight at once per worker, over every subscription.",
    )
    agent_concurrency: int = Field(
        default=8, ge=1, le=256,
        description="Notifications the delivery agent handles at once per worker, so a slow receiver "
        "holds up at most this many.",
    )
    subscription_cache_ttl_s: float = Field(
        default=5.0, ge=0,
        description="How long the delivery agent caches a tenant's subscriptions, seconds "
        "(API changes apply after at most this long).",
    )
    content_type: Literal["application/cloudevents+json", "application/json"] = Field(
        default="application/cloudevents+json",
        description="Content-Type of delivered bodies (a structured-mode CloudEvent either way).",
    )
    user_agent: str = Field(default="cxpulse-webhooks/0.1", description="User-Agent of deliveries.")
    external_url: str = Field(
        default="",
        description="Public base URL of this CX Pulse API, sent as `externalURL` of Alertmanager-format bodies; "
        "their `generatorURL` links the alert rule under it (empty: both empty).",
    )
    allow_http: bool = Field(
        default=False,
        description="Accept and deliver to `http://` URLs; off, webhook URLs must be `https://` (checked at "
        "registration and on every delivery).",
    )
    egress_allow: list[str] = Field(
        default=[],
        description="CIDRs (`10.20.0.0/16`, `fd00::/8`) and exact host names (`hooks.corp.internal`) webhooks "
        "may reach although the egress policy refuses them (loopback, private, link-local, CGNAT, multicast, "
        "unspecified and reserved addresses): on-premise receivers. See `webhooks/egress.py`.",
    )

    @field_validator("egress_allow")
    @classmethod
    def _cidrs_or_host_names(cls, v: list[str]) -> list[str]:
        for entry in v:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                if not _HOST_NAME.match(entry):
                    raise ValueError(f"{entry!r} is neither a CIDR nor a host name") from None
        return v


_HOST_NAME = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?\.)*"
                        r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.?$")


CaseSeverity = Literal["low", "medium", "high", "critical"]


class CaseCondition(BaseModel):
    """One answer compared with a value, e.g. ``{"name": "detractor", "metric": "nps", "op": "le", "value": 6}``.
    Evaluated by ``cases.conditions``."""

    name: str = Field(min_length=1, max_length=64, description="Reason recorded on the case.")
    metric: Literal["nps", "csat", "ces", "fcr"] = Field(description="Answer compared (fcr: 1 = yes, 0 = no).")
    op: Literal["le", "lt", "ge", "gt", "eq"] = Field(description="Comparison: answer <op> value.")
    value: float = Field(description="Value the answer is compared with.")
    severity: CaseSeverity = Field(default="medium", description="Severity of a case this condition opens.")


DEFAULT_CASE_CONDITIONS: list[CaseCondition] = [
    CaseCondition(name="detractor", metric="nps", op="le", value=6, severity="high"),
    CaseCondition(name="low_csat", metric="csat", op="le", value=2, severity="high"),
    CaseCondition(name="high_effort", metric="ces", op="le", value=3, severity="medium"),
]


class CaseSettings(BaseModel):
    """Closed loop: cases opened by single responses. Owned by `cases/`."""

    enabled: bool = Field(
        default=True,
        description="Open cases from survey responses (the `case-opener` agent, micro-batched like "
        "`kpi-windows`) and escalate them past their SLA.",
    )
    conditions: list[CaseCondition] = Field(
        default=DEFAULT_CASE_CONDITIONS,
        description="Conditions on one answer that open a case, each `{name, metric: nps|csat|ces|fcr, "
        "op: le|lt|ge|gt|eq, value, severity: low|medium|high|critical}`; default: a detractor (NPS <= 6), "
        "CSAT <= 2, CES <= 3. A response matching several opens one case at the highest severity.",
    )
    scope_dims: list[str] = Field(
        default=["channel", "queue", "team"],
        description="Dimensions of a response that make up its case scope; at most one case per customer "
        "and scope is open at a time (later responses are suppressed into it).",
    )
    routing: list[str] = Field(
        default=["team", "queue"],
        description="Dimensions consulted in order to find a case owner in `owners` (e.g. the agent's team "
        "lead first, then the queue owner).",
    )
    owners: dict[str, dict[str, str]] = Field(
        default={},
        description='Owner by dimension and value, e.g. `{"team": {"billing": "lead-billing"}, '
        '"queue": {"vip": "vip-owner"}}`.',
    )
    default_owner: str = Field(default="cx-ops", description="Owner of a case no `routing` dimension matched.")
    sla_s: dict[CaseSeverity, int] = Field(
        default={"critical": 3_600, "high": 4 * 3_600, "medium": 24 * 3_600, "low": 72 * 3_600},
        description="Time to close a case by severity, seconds; an open or acknowledged case past it is "
        "escalated (`cx.case.escalated.v1`).",
    )
    escalate_every_s: float = Field(default=30.0, gt=0, description="How often cases are checked against their SLA.")
    batch_within_s: float = Field(
        default=1.0, gt=0,
        description="Micro-batch of the `case-opener` agent: longest a response waits before its case opens, "
        "seconds (at most `stream.batch_records` messages per batch). Its warehouse round trips are per batch, "
        "so a longer wait costs less at high response rates.",
    )
    routes: list[str] = Field(
        default=[],
        description="Webhook subscription ids every case notification is routed to (`data.routes`); "
        "empty: subscriptions match by event type and filters.",
    )
    max_list: int = Field(default=1000, ge=1, description="Most cases one `GET /v1/cases` returns.")

    @field_validator("scope_dims", "routing", "owners")
    @classmethod
    def _known_dimensions(cls, v: list[str] | dict[str, dict[str, str]]) -> list[str] | dict[str, dict[str, str]]:
        validate_view(list(v))  # the owners' dimensions are their keys
        return v


class OutcomeSettings(BaseModel):
    """Business outcomes joined to the experience (`GET /v1/outcomes`, `GET /v1/roi`). Read by `api/`."""

    horizon_days: float = Field(
        default=90.0, gt=0, le=3650,
        description="Experience horizon of the outcome join, days: an outcome is linked to the customer's "
        "latest answer (per score: NPS, CSAT, CES) and touchpoint at or before it and at most this long "
        "before it; older experience counts as none (`no_answer`).",
    )
    confidence: float = Field(default=0.95, gt=0.5, lt=1.0,
                              description="Confidence level of the outcome KPIs' intervals and tests.")
