"""Standard Webhooks signatures (https://www.standardwebhooks.com).

``webhook-signature`` is ``v1,`` + base64(HMAC-SHA256(key, f"{id}.{timestamp}.{body}")),
where ``key`` is the base64-decoded part of the ``whsec_`` secret after the prefix.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from schemas.webhooks import SECRET_PREFIX, decode_secret


def generate_secret(nbytes: int = 32) -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(nbytes)).decode()


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    key = decode_secret(secret)
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def signature_headers(secret: str, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, msg_id, timestamp, body),
    }


def delivery_id(tenant: str, subscription_id: str, source: str, event_id: str) -> str:
    """The ``webhook-id`` of one event to one subscription: the same on every retry, redelivery and replay,
    so receivers can deduplicate."""
    digest = hashlib.blake2b(f"{tenant}\x1f{subscription_id}\x1f{source}\x1f{event_id}".encode(),
                             digest_size=16).hexdigest()
    return f"msg_{digest}"
