"""The audit log as the API shows it (``GET /v1/audit``)."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class AuditEntryPublic(BaseModel):
    entry_id: str
    at: datetime
    actor: str = Field(description="The API key that acted (its id, never its secret), or `cli:<user>`")
    action: str = Field(description="`<resource>.<verb>`, e.g. `alert_rule.create`, `api_key.revoke`, `erasure.run`")
    target: str = Field(description="The id of what was acted on")
    details: dict[str, Any] = Field(description="Counts and changed fields; never secrets or personal data")


class AuditLog(BaseModel):
    data: list[AuditEntryPublic]
    count: int
