"""Date-times given to the API: ISO-8601 text only.

pydantic reads a number, or a string that looks like one, as Unix time (``?at=0.5`` and
``"valid_from": 0`` would be 1970): a time parameter or body field must be ISO-8601.
"""
from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated

from pydantic import AwareDatetime, BeforeValidator

__all__ = ["IsoAwareDateTime", "IsoDateTime", "iso_only"]

_NUMBER = re.compile(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*")


def iso_only(value: object) -> object:
    """Refuse numbers and numeric strings before pydantic reads them as Unix time."""
    if (isinstance(value, (int, float)) and not isinstance(value, bool)) or (
            isinstance(value, str) and _NUMBER.fullmatch(value)):
        raise ValueError("must be an ISO-8601 date-time (e.g. 2026-12-01T08:00:00Z), not a number")
    return value


#: A date-time: ISO-8601 only; naive times are UTC (``api.params.utc``).
IsoDateTime = Annotated[datetime, BeforeValidator(iso_only)]
#: The same with a required timezone.
IsoAwareDateTime = Annotated[AwareDatetime, BeforeValidator(iso_only)]
