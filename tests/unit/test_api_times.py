"""Date-time query parameters are ISO-8601 only: a bare number is refused with its path, not read as Unix time."""
from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import httpx
import pytest
from pydantic import TypeAdapter, ValidationError

from api.deps import Services
from api.main import create_api
from api.params import IsoDateTime
from core.settings import ApiKey, Settings

KEY = "k-times-read"


def _get(path: str, params: dict[str, str]) -> httpx.Response:
    settings = Settings()
    settings.api.keys = {KEY: ApiKey(tenant="acme", scopes=["read", "admin"])}
    app = create_api(Services(settings, None, None, None))  # type: ignore[arg-type]  # refused before any I/O

    async def get() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as client:
            return await client.get(path, params=params, headers={"Authorization": f"Bearer {KEY}"})

    return asyncio.run(get())


@pytest.mark.parametrize(("path", "params", "loc"), [
    ("/v1/gaps", {"metric": "nps", "at": "0.5"}, ["query", "at"]),
    ("/v1/kpis", {"metric": "nps", "window": "1h", "from": "1700000000"}, ["query", "from"]),
    ("/v1/kpis", {"metric": "nps", "window": "1h", "to": "-3"}, ["query", "to"]),
    ("/v1/kpis/weighted", {"metric": "nps", "window": "1h", "to": "1e9"}, ["query", "to"]),
    ("/v1/cases/stats", {"from": "12"}, ["query", "from"]),
])
def test_a_bare_number_is_refused_with_its_path(path: str, params: dict[str, str], loc: list[str]) -> None:
    r = _get(path, params)
    assert r.status_code == 422, r.text
    errors = [e for e in r.json()["detail"] if e["loc"] == loc]
    assert len(errors) == 1 and "ISO-8601" in errors[0]["msg"], r.json()


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-12-01T08:00:00Z", datetime(2026, 12, 1, 8, tzinfo=timezone.utc)),
    ("2026-12-01T09:30:00+01:00", datetime(2026, 12, 1, 8, 30, tzinfo=timezone.utc)),
    ("2026-12-01T08:00:00", datetime(2026, 12, 1, 8)),  # naive: the routers read it as UTC
])
def test_iso_times_are_read(text: str, expected: datetime) -> None:
    assert TypeAdapter(IsoDateTime).validate_python(text) == expected


@pytest.mark.parametrize("text", ["0", "0.5", " 17 ", "+1.5e3", ".5", "1700000000000"])
def test_numbers_are_not_times(text: str) -> None:
    with pytest.raises(ValidationError, match="ISO-8601"):
        TypeAdapter(IsoDateTime).validate_python(text)
