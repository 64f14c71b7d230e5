"""Storage limitation and erasure: how long personal data is kept, and how an erasure is waited for.

Retention is ClickHouse TTL (``warehouse.retention`` turns these settings into ``ALTER TABLE …
MODIFY TTL`` statements that the migrate step applies after the numbered migrations), per tenant:
``tenants`` overrides any of the three periods for one tenant. Aggregated KPI counters
(``kpi_windows``, ``aspect_windows``) hold no personal data and are kept.
"""
from __future__ import annotations

from pydantic import BaseModel, Field, field_validator

from core.tenants import TENANT_PATTERN

__all__ = ["ErasureSettings", "RetentionPeriods", "RetentionSettings"]

# TTL is computed as a ClickHouse DateTime (seconds, up to 2106): an event of today plus this
# bound stays inside it, so no expiry date can wrap around to 1970 and delete a row at once.
_MAX_DAYS = 20_000


class RetentionPeriods(BaseModel):
    """One tenant's overrides; a period left out is the deployment's default."""

    ledger_days: int | None = Field(default=None, ge=1, le=_MAX_DAYS)
    comment_days: int | None = Field(default=None, ge=1, le=_MAX_DAYS)
    delivery_log_days: int | None = Field(default=None, ge=1, le=_MAX_DAYS)


class RetentionSettings(BaseModel):
    """How long personal data is kept (ClickHouse TTL, applied by the migrate step)."""

    ledger_days: int = Field(
        default=3660, ge=1, le=_MAX_DAYS,
        description="Days an event stays in the ledger (`touchpoints`, `survey_responses`, `survey_invitations`, "
        "`outcomes`) "
        "after its event time; then its row is deleted with its pseudonymized customer id. Window counters stay. "
        "Must exceed `api.max_event_age_days` (late events older than that are refused, so no window is ever "
        "rebuilt from a ledger that expired under it).",
    )
    comment_days: int = Field(
        default=365, ge=1, le=_MAX_DAYS,
        description="Days the free-text `comment` of a survey answer (and of the case it opened) and the `text` "
        "of a signal are kept after the event's time; then they are cleared (empty / null) and the scores stay.",
    )
    delivery_log_days: int = Field(
        default=90, ge=1, le=_MAX_DAYS,
        description="Days a webhook delivery attempt (`webhook_deliveries`, `GET /v1/webhooks/{id}/deliveries`) "
        "is kept after it was made, and a dead letter (its body included) after it died.",
    )
    tenants: dict[str, RetentionPeriods] = Field(
        default={},
        description='Per-tenant overrides, e.g. `{"acme": {"comment_days": 30}}`; a period left out is the '
        "default above.",
    )

    @field_validator("tenants")
    @classmethod
    def _valid_tenants(cls, v: dict[str, RetentionPeriods]) -> dict[str, RetentionPeriods]:
        for tenant in v:
            if not TENANT_PATTERN.match(tenant):
                raise ValueError(f"{tenant!r} is not a tenant id ({TENANT_PATTERN.pattern})")
        return v

    def days(self, period: str, tenant: str | None = None) -> int:
        """``period`` (``ledger_days`` …) of ``tenant``, or the default when it has no override."""
        override = self.tenants.get(tenant) if tenant is not None else None
        value = getattr(override, period) if override is not None else None
        return getattr(self, period) if value is None else value


class ErasureSettings(BaseModel):
    """``POST /v1/erasures``: how long the request waits for every shard's worker to report."""

    wait_s: float = Field(
        default=30.0, ge=0, le=600,
        description="Seconds `POST /v1/erasures` waits for every shard to report before answering 202 "
        "(then poll `GET /v1/erasures/{id}`); 200 with the counts when it finished in time.",
    )
