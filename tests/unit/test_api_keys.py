"""API keys as data, the pure parts: token format, hash, constant-time checks, token buckets (pinned clocks)."""
from __future__ import annotations

import hashlib

import pytest

from api.keys import refusal
from api.rate_limit import RateLimiter, TokenBucket, retry_after_header
from core import api_keys
from core.api_keys import SettingsKeys, hash_token, matches, new_key_id, new_token, parse_token, settings_key_id
from core.pipeline_settings import RateLimitSettings
from warehouse.key_queries import KeyRow


def test_a_new_token_carries_its_tenant_and_id_and_64_hex_of_secret() -> None:
    for tenant in ("acme", "a_b-c", "x" * 63, "0"):
        key_id = new_key_id()
        token = new_token(tenant, key_id)
        prefix = f"cxp_{tenant}_{key_id}_"
        assert token.startswith(prefix) and len(token) == len(prefix) + 64
        assert int(token[len(prefix):], 16) >= 0
        parsed = parse_token(token)
        assert (parsed.tenant, parsed.key_id, parsed.token) == (tenant, key_id, token)
    assert new_token("acme", "0" * 16) != new_token("acme", "0" * 16)  # the secret is random


@pytest.mark.parametrize("token", [
    "test-key-acme",  # a settings-file key
    "cxp_acme_0123456789abcdef_" + "a" * 63,  # secret one short
    "cxp_acme_0123456789abcdef_" + "A" * 64,  # upper-case hex
    "cxp_acme_0123456789abcde_" + "a" * 64,  # id one short
    "cxp_Acme_0123456789abcdef_" + "a" * 64,  # not a tenant
    "cxp__0123456789abcdef_" + "a" * 64,  # no tenant
    "xcxp_acme_0123456789abcdef_" + "a" * 64,
    "cxp_acme_0123456789abcdef_" + "a" * 64 + "\n",
])
def test_anything_else_is_not_a_stored_key(token: str) -> None:
    assert parse_token(token) is None


def test_the_hash_is_the_sha256_of_the_whole_token() -> None:
    token = "cxp_acme_0123456789abcdef_" + "ab" * 32
    assert hash_token(token) == hashlib.sha256(token.encode()).hexdigest()
    assert len(hash_token(token)) == 64
    assert matches(hashlib.sha256(token.encode()).hexdigest(), token)
    assert not matches(hashlib.sha256(token.encode()).hexdigest(), token[:-1] + "c")
    assert not matches(None, token)


def test_stored_hashes_are_compared_in_constant_time(monkeypatch) -> None:
    """One ``hmac.compare_digest`` per check, with a row or without (an unknown id costs the same)."""
    calls: list[tuple] = []
    real = api_keys.hmac.compare_digest
    monkeypatch.setattr(api_keys.hmac, "compare_digest", lambda a, b: calls.append((a, b)) or real(a, b))
    token = new_token("acme", new_key_id())
    assert matches(hash_token(token), token) and not matches(None, token) and not matches("0" * 64, token)
    assert [b for _, b in calls] == [hash_token(token)] * 3
    assert len(calls[1][0]) == 64  # the dummy hash has a real hash's length


def test_settings_keys_are_compared_with_every_entry_wherever_the_match_is(monkeypatch) -> None:
    calls: list[int] = []
    real = api_keys.hmac.compare_digest
    monkeypatch.setattr(api_keys.hmac, "compare_digest", lambda a, b: calls.append(1) or real(a, b))
    keys = SettingsKeys({"first": "A", "second": "B", "third": "C"})
    for token, want in (("first", ("settings:" + hashlib.sha256(b"first").hexdigest()[:12], "A")),
                        ("third", (settings_key_id("third"), "C")), ("nope", None), ("firs", None)):
        calls.clear()
        assert keys.find(token) == want
        assert len(calls) == 3, token
    assert settings_key_id("third") == "settings:" + hashlib.sha256(b"third").hexdigest()[:12]


def _row(**kw) -> KeyRow:
    return KeyRow("acme", "0123456789abcdef", "h", "n", ("read",), None, None, 1_000, "settings:x", **kw)


def test_refusal_reasons_at_their_exact_times() -> None:
    assert refusal(_row(), 10**15) is None
    assert refusal(_row(expires_at_ms=5_000), 4_999) is None
    assert refusal(_row(expires_at_ms=5_000), 5_000) == "API key expired"
    assert refusal(_row(revoked_at_ms=7_000), 6_999) is None  # a rotation's grace period
    assert refusal(_row(revoked_at_ms=7_000), 7_000) == "API key revoked"
    assert refusal(_row(revoked_at_ms=7_000, rotated_to="fedcba9876543210"), 8_000) == \
        "API key revoked (rotated to fedcba9876543210)"
    assert refusal(_row(revoked_at_ms=7_000, expires_at_ms=6_000), 8_000) == "API key revoked"


def test_token_bucket_with_a_pinned_clock() -> None:
    b = TokenBucket(rate=2.0, capacity=3.0, tokens=3.0, updated=100.0)
    assert [b.take(100.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert b.take(100.0) == pytest.approx(0.5)  # one token takes 1/2 s
    assert b.take(100.25) == pytest.approx(0.25)  # half a token refilled, nothing taken
    assert b.take(100.5) == 0.0
    assert b.take(1000.0) == 0.0 and b.tokens == pytest.approx(2.0)  # refilled up to its capacity only
    assert b.take(999.0) == 0.0  # a clock going back refills nothing (and takes the last but one)
    assert b.tokens == pytest.approx(1.0)


def test_retry_after_is_whole_seconds_rounded_up() -> None:
    assert [retry_after_header(s) for s in (0.001, 0.5, 1.0, 1.0001, 2.5, 59.9)] == ["1", "1", "1", "2", "3", "60"]


def test_rate_limiter_defaults_overrides_and_separate_keys() -> None:
    now = [0.0]
    off = RateLimiter(RateLimitSettings(), lambda: now[0])
    assert all(off.check("k") == 0.0 for _ in range(1000))  # 0: no limit
    limited = RateLimiter(RateLimitSettings(requests_per_s=1, burst=2), lambda: now[0])
    assert [limited.check("a") for _ in range(3)] == [0.0, 0.0, 1.0]
    assert limited.check("b") == 0.0  # each key has its own bucket
    assert [limited.check("c", 10, 1), limited.check("c", 10, 1)] == [0.0, pytest.approx(0.1)]  # the key's own
    assert all(limited.check("d", 0, None) == 0.0 for _ in range(10))  # a key exempted by rate 0
    assert [limited.check("e", 0.5, 0), limited.check("e", 0.5, 0)] == [0.0, 2.0]  # burst 0: max(1, rate)
    now[0] = 1.0
    assert limited.check("a") == 0.0 and limited.check("a") == 1.0
