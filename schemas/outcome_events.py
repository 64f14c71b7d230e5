"""The ``cx.outcome.v1`` ``data`` model of the event contract (re-exported by ``schemas.events``)."""
from __future__ import annotations

import re
from decimal import Decimal
from enum import Enum
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, WithJsonSchema

from schemas.event_fields import DimensionStr, IdStr, OpenData, OptionalDimensions

__all__ = ["MAX_AMOUNT", "Amount", "Currency", "OutcomeData", "OutcomeKind"]


class OutcomeKind(str, Enum):
    """What happened to the customer's business: the CRM's event, one word."""

    purchase = "purchase"
    renewal = "renewal"
    upgrade = "upgrade"
    downgrade = "downgrade"
    churn = "churn"
    refund = "refund"


#: Largest ``amount`` of one outcome: 10^12 in the event's currency. With 4 decimal places it fits
#: ``Decimal(18, 4)`` (the ledger column) and a sum of a million of them stays exact in ``Decimal(38, 4)``.
MAX_AMOUNT = 10 ** 12
_CURRENCY = re.compile(r"[A-Z]{3}")


def _strict_amount(value: Any) -> Any:
    """An amount is a JSON number (not a string, not a boolean) with at most 4 decimal places.

    A float is read through its shortest decimal text (``19.99`` is ``Decimal("19.99")``, not the
    binary fraction), so what the producer wrote is what is summed."""
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        raise ValueError("amount must be a JSON number")
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError("amount must be a finite number")
        value = Decimal(repr(value))
    return Decimal(value)


def _upper_currency(value: Any) -> Any:
    if not isinstance(value, str) or not _CURRENCY.fullmatch(value):
        raise ValueError("currency must be an ISO 4217 code: three capital letters, e.g. EUR")
    return value


_AMOUNT_DOC = f"Non-negative amount in `currency`, at most {MAX_AMOUNT:,}, at most 4 decimal places; a JSON number."
Amount = Annotated[Decimal, BeforeValidator(_strict_amount),
                   Field(ge=0, le=MAX_AMOUNT, decimal_places=4, allow_inf_nan=False, description=_AMOUNT_DOC),
                   WithJsonSchema({"type": "number", "minimum": 0, "maximum": MAX_AMOUNT, "description": _AMOUNT_DOC})]
Currency = Annotated[str, BeforeValidator(_upper_currency),
                     Field(description="ISO 4217 currency code (three capital letters).",
                           json_schema_extra={"pattern": "^[A-Z]{3}$"})]


class _OutcomeFields(OpenData):
    """The fields of :class:`OutcomeData` but its dimensions."""

    customer_id: IdStr
    kind: OutcomeKind
    amount: Amount
    currency: Currency
    account_id: IdStr | None = None
    product: DimensionStr | None = None


class OutcomeData(OptionalDimensions, _OutcomeFields):
    """A business outcome of a customer, as the CRM or billing system records it.

    ``amount`` is the value the event books (a purchase's or renewal's price, an upgrade's or
    downgrade's new contract value, a refund paid back, a churned contract's lost value). The
    customer (and the account) are pseudonymized at ingest like every customer id."""
