"""cx.outcome.v1 at ingest: the record, pseudonymized ids, exact amounts, and each refusal's path."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ingest.pseudonymize import Pseudonymizer
from ingest.validation import validate_items, validate_raw_message
from tests.unit.test_ingest_validation import ENVELOPE, HORIZON, TIME_MS, fake_pseudonym, reasons


def outcome(id: str = "o-1", **data: Any) -> dict[str, Any]:
    payload = {"customer_id": "c-1", "kind": "renewal", "amount": 1200.5, "currency": "EUR", **data}
    return {**ENVELOPE, "id": id, "type": "cx.outcome.v1", "data": payload}


def test_an_outcome_becomes_a_record_with_pseudonymized_customer_and_account() -> None:
    records, rejections = validate_items(
        [outcome(account_id="acct-9", product="premium", segment="smb", region="eu", crm_stage="won")],
        "acme", fake_pseudonym, HORIZON)
    assert rejections == []
    (rec,) = records
    assert rec == {
        "tenant": "acme", "id": "o-1", "source": "/crm", "type": "cx.outcome.v1", "time_ms": TIME_MS,
        "subject": None, "interaction_id": "", "customer": "p(acme,c-1)", "dims": {"segment": "smb", "region": "eu"},
        "attributes": {"crm_stage": "won"}, "kind": "renewal", "amount": "1200.5", "currency": "EUR",
        "account": "p(acme,acct-9)", "product": "premium",
    }
    # the real keyed hash: neither raw id survives anywhere in the record
    key = Pseudonymizer(b"k" * 32)
    (real,), _ = validate_items([outcome(account_id="acct-9")], "acme", key, HORIZON)
    assert real["customer"] == key("acme", "c-1") and real["account"] == key("acme", "acct-9")
    assert b"c-1" not in orjson.dumps(real) and b"acct-9" not in orjson.dumps(real)


@given(st.decimals(min_value=0, max_value=10 ** 12, places=4, allow_nan=False, allow_infinity=False))
def test_an_amount_with_at_most_four_decimals_travels_exactly(amount: Decimal) -> None:
    as_float = float(amount)
    if Decimal(repr(as_float)) != amount:  # not representable as the shortest float text: send the int/str form
        return
    (rec,), _ = validate_items([outcome(amount=as_float)], "acme", fake_pseudonym, HORIZON)
    assert Decimal(rec["amount"]) == amount
    assert "E" not in rec["amount"]  # plain decimal text, as ClickHouse reads it into Decimal(18, 4)


@pytest.mark.parametrize("data, path, error", [
    ({"amount": "12.5"}, "data.amount", "amount must be a JSON number"),
    ({"amount": True}, "data.amount", "amount must be a JSON number"),
    ({"amount": -0.01}, "data.amount", "Input should be greater than or equal to 0"),
    ({"amount": 1e12 + 1}, "data.amount", "Input should be less than or equal to 1000000000000"),
    ({"amount": 0.00001}, "data.amount", "Decimal input should have no more than 4 decimal places"),
    ({"currency": "eur"}, "data.currency", "currency must be an ISO 4217 code: three capital letters, e.g. EUR"),
    ({"currency": "EURO"}, "data.currency", "currency must be an ISO 4217 code: three capital letters, e.g. EUR"),
    ({"kind": "win"}, "data.kind",
     "Input should be 'purchase', 'renewal', 'upgrade', 'downgrade', 'churn' or 'refund'"),
    ({"customer_id": None}, "data.customer_id", "Input should be a valid string"),
    ({"account_id": ""}, "data.account_id", "String should have at least 1 character"),
])
def test_each_bad_field_is_refused_at_its_path(data, path, error) -> None:
    records, rejections = validate_items([outcome(**data), outcome("o-2")], "acme", fake_pseudonym, HORIZON)
    assert [r["id"] for r in records] == ["o-2"]
    assert reasons(rejections) == [(0, path, error)]


def test_missing_customer_is_refused() -> None:
    event = outcome()
    del event["data"]["customer_id"]
    assert reasons(validate_items([event], "acme", fake_pseudonym, HORIZON)[1]) == [(0, "data.customer_id",
                                                                                      "field required")]


def test_the_raw_topic_validates_outcomes_like_http() -> None:
    good, bad = {**outcome("r-1"), "tenant": "acme"}, {**outcome("r-2", amount="1"), "tenant": "acme"}
    records, rejections = validate_raw_message(orjson.dumps([good, bad]), [], fake_pseudonym, HORIZON)
    assert [(r["id"], r["customer"], r["amount"]) for r in records] == [("r-1", "p(acme,c-1)", "1200.5")]
    assert [(r.index, r.path, r.error) for r in rejections] == [(1, "data.amount", "amount must be a JSON number")]
