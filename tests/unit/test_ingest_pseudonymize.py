"""Keyed pseudonyms: exact values, tenant separation, key hygiene."""
from __future__ import annotations

import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ingest.pseudonymize import Pseudonymizer


def test_known_vector() -> None:
    assert Pseudonymizer(b"k" * 32)("t", "c") == "0e343f879c69b2a8ec1a33a80b1d6f81"


@given(st.binary(min_size=1, max_size=64), st.text(max_size=63), st.text(max_size=40))
def test_equals_truncated_hmac_sha256_of_tenant_unit_separator_id(key: bytes, tenant: str, customer: str) -> None:
    pseudonymize = Pseudonymizer(key)
    expected = hmac.new(key, f"{tenant}\x1f{customer}".encode(), hashlib.sha256).hexdigest()[:32]
    assert pseudonymize(tenant, customer) == expected
    assert pseudonymize(tenant, customer) == expected  # the keyed state is not consumed by a call


def test_tenants_and_keys_separate_pseudonyms() -> None:
    a = Pseudonymizer(b"key-a-0123456789")
    assert a("acme", "c-1") != a("globex", "c-1")
    assert a("acme", "c-1") != Pseudonymizer(b"key-b-0123456789")("acme", "c-1")


def test_empty_key_is_refused_and_repr_hides_the_key() -> None:
    with pytest.raises(ValueError, match="non-empty secret"):
        Pseudonymizer(b"")
    assert repr(Pseudonymizer(b"super-secret-key")) == "Pseudonymizer(<key>)"
