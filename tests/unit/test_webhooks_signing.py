"""Signatures are accepted by the reference Standard Webhooks verifier."""
from __future__ import annotations

import base64
import time

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from schemas.webhooks import WebhookCreate, decode_secret, event_type_matches
from webhooks.signing import delivery_id, generate_secret, sign, signature_headers


def test_generated_secret_is_whsec_base64_of_32_bytes() -> None:
    secret = generate_secret()
    assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:])) == 32
    assert generate_secret() != secret


@pytest.mark.parametrize("body", [b'{"specversion":"1.0","id":"e1"}', "caf\u00e9 \u2603".encode(), b""])
def test_reference_verifier_accepts_our_signature(body: bytes) -> None:
    secret = generate_secret()
    ts = int(time.time())
    headers = signature_headers(secret, "msg_1", ts, body)
    assert headers["webhook-signature"].startswith("v1,")
    Webhook(secret).verify(body, headers, json_parse=False)  # raises on mismatch
    Webhook(secret[len("whsec_"):]).verify(body, headers, json_parse=False)


def test_reference_verifier_rejects_tampering() -> None:
    secret, ts = generate_secret(), int(time.time())
    headers = signature_headers(secret, "msg_1", ts, b'{"a":1}')
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(b'{"a":2}', headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(generate_secret()).verify(b'{"a":1}', headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(b'{"a":1}', {**headers, "webhook-id": "msg_2"})


def test_known_vector() -> None:
    # Vector from the Standard Webhooks spec test suite.
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"test": 2432232314}'
    assert sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body) == \
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_delivery_id_is_stable_and_distinct() -> None:
    a = delivery_id("acme", "wh_1", "/alerts", "e1")
    assert a == delivery_id("acme", "wh_1", "/alerts", "e1") and a.startswith("msg_")
    assert len({a, delivery_id("acme", "wh_2", "/alerts", "e1"), delivery_id("other", "wh_1", "/alerts", "e1"),
                delivery_id("acme", "wh_1", "/alerts", "e2")}) == 4


def test_secret_and_type_validation() -> None:
    with pytest.raises(ValueError):
        decode_secret("nope")
    with pytest.raises(ValueError):
        decode_secret("whsec_" + base64.b64encode(b"short").decode())
    assert event_type_matches("cx.alert.*", "cx.alert.firing.v1")
    assert not event_type_matches("cx.alert.*", "cx.alerting.v1")
    assert event_type_matches("*", "cx.case.opened.v1")
    assert not event_type_matches("cx.alert.firing.v1", "cx.alert.resolved.v1")
    with pytest.raises(ValueError):
        WebhookCreate(url="https://x.example/h", event_types=["cx.*.v1"])
