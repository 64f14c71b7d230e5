"""The one error body of the API: ``{"detail": ...}``, as FastAPI and ``api.main``'s handler answer.

``detail`` is a sentence for 400, 401, 403, 404, 409, 413, 415, 429, 503 and 507, and a list of
issues for 422, shaped like FastAPI's own validation errors (``loc`` is the path of the input at
fault: ``["query", "from"]``, ``["body", "data", "answers", "nps"]``), also for the 422s the
routers raise themselves (``api.params.unprocessable``, ``core.errors.QueryError``).
"""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["ErrorResponse", "ValidationIssue"]


class ValidationIssue(BaseModel):
    """One refused input of a 422."""

    loc: list[str | int] = Field(description="Where: `query`, `path`, `header` or `body`, then the field path")
    msg: str
    type: str = Field(description="Error type, e.g. `value_error`, `missing`, `enum`")
    input: Any = Field(default=None, description="The value refused (FastAPI validation errors only)")
    ctx: dict[str, Any] | None = None


class ErrorResponse(BaseModel):
    """Every 4xx and 5xx answer of the API."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"detail": "no webhook subscription 'wh_0123'"},
        {"detail": [{"loc": ["query", "from"], "msg": "must be before `to`", "type": "value_error"}]},
    ]})

    detail: str | list[ValidationIssue] = Field(
        description="What went wrong: a sentence, or (422) the refused inputs with their paths")
