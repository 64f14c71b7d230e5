"""Erasure requests and their status as the API shows them (``POST /v1/erasures``, ``GET /v1/erasures/{id}``)."""
from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ErasureRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    customer_id: str = Field(
        min_length=1, max_length=512,
        description="The customer's original id, as producers send it in `data.customer_id`; pseudonymized "
        "the way ingest does before anything is looked up, and never stored.",
        examples=["crm-000123"])


class ErasureStatus(BaseModel):
    id: str
    status: Literal["running", "done"] = Field(
        description="`done` once the cases and every shard of the ledger reported; `running` before")
    requested_at: datetime
    shards: int = Field(description="Ledger shards (Kafka partitions) the erasure runs on")
    shards_done: int
    counts: dict[str, int] = Field(
        description="Rows removed per table so far: `touchpoints`, `survey_responses`, `survey_invitations`, `signals` "
        "(events), `cases`, `case_events`, `case_links`")
