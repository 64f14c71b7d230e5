"""Per-key request rate limits: one token bucket per API key, in this API process.

The limit is per process: a deployment with N API replicas lets a key make up to N times its rate
(each replica refills its own bucket). That is the usual trade for no shared state on the request
path; put a shared limiter in front (an ingress) if a global bound matters more than that.

A key's own ``rate_per_s``/``burst`` (stored with it, ``POST /v1/api-keys``) wins over
``api.rate_limit``; a rate of 0 means no limit. The clock is injected, so tests pin it.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from core.pipeline_settings import RateLimitSettings

__all__ = ["RateLimiter", "TokenBucket", "retry_after_header"]


@dataclass
class TokenBucket:
    """``capacity`` requests at once, refilled at ``rate`` per second."""

    rate: float
    capacity: float
    tokens: float
    updated: float

    def take(self, now: float) -> float:
        """Take one token: 0.0 if there was one, else the seconds until there is (nothing taken)."""
        self.tokens = min(self.capacity, self.tokens + max(0.0, now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate


def retry_after_header(wait_s: float) -> str:
    """``Retry-After`` is whole seconds (RFC 9110): rounded up, so a client that waits that long gets in."""
    return str(max(1, math.ceil(wait_s)))


class RateLimiter:
    """The buckets of every key this process has seen (their number is the number of keys in use)."""

    def __init__(self, default: RateLimitSettings, clock: Callable[[], float] = time.monotonic) -> None:
        self.default, self.clock = default, clock
        self._buckets: dict[str, TokenBucket] = {}

    def check(self, key_id: str, rate_per_s: float | None = None, burst: int | None = None) -> float:
        """0.0 if ``key_id`` may make this request now, else the seconds to wait (see ``TokenBucket.take``)."""
        rate = self.default.requests_per_s if rate_per_s is None else rate_per_s
        if rate <= 0:
            return 0.0
        size = self.default.burst if burst is None else burst
        capacity = float(size) if size else max(1.0, rate)
        now = self.clock()
        bucket = self._buckets.get(key_id)
        if bucket is None or bucket.rate != rate or bucket.capacity != capacity:  # new, or its limit changed
            bucket = self._buckets[key_id] = TokenBucket(rate, capacity, capacity if bucket is None
                                                         else min(bucket.tokens, capacity), now)
        return bucket.take(now)
