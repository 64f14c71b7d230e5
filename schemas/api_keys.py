"""API keys as the admin API shows them (``/v1/api-keys``): never a secret, except once at creation."""
from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from core.pipeline_settings import Scope

KeyState = Literal["active", "expired", "revoked"]


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, description="What the key is for (shown in lists)")
    scopes: list[Scope] = Field(min_length=1, description="`ingest`, `read`, `admin` (implies every scope)")
    expires_at: datetime | None = Field(default=None, description="From then on the key is refused; none: never")
    tenant: str | None = Field(
        default=None, description="If given, the caller's own tenant: an admin key creates keys for its tenant only")
    # strict: `false` or "5" are not numbers (schemathesis: a schema-violating request must be refused)
    rate_per_s: float | None = Field(
        default=None, ge=0, strict=True, description="This key's own rate limit (requests/s per API process; 0: none); "
        "none: `api.rate_limit.requests_per_s`")
    burst: int | None = Field(default=None, ge=0, le=1_000_000, strict=True,
                              description="This key's own bucket size; none: `api.rate_limit.burst`")


class ApiKeyRotate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    grace_s: int = Field(default=0, ge=0, le=7 * 86_400, strict=True,
                         description="How long the old key keeps working (0: refused at once)")


class ApiKeyPublic(BaseModel):
    key_id: str
    tenant: str
    name: str
    scopes: list[str]
    state: KeyState = Field(description="Now: `revoked` (or rotated) and `expired` keys answer 401")
    created_at: datetime
    created_by: str = Field(description="The key that created this one (its id)")
    expires_at: datetime | None
    revoked_at: datetime | None = Field(description="From then on refused (a rotation's grace ends then)")
    rotated_to: str | None = Field(description="The key that replaced this one")
    last_used_at: datetime | None = Field(
        description="Written in batches: lags by up to `api.key_last_used_flush_s`")
    rate_per_s: float | None
    burst: int | None


class ApiKeyCreated(ApiKeyPublic):
    key: str = Field(description="The key itself: shown only in this answer, only its hash is stored")


class ApiKeyList(BaseModel):
    data: list[ApiKeyPublic]
    count: int
