"""Tenant profiles of the traffic simulator: channels, journeys, segments, teams, the diurnal curve.

* Volume: the contact rate is ``rate_per_hour`` times a diurnal weight (quiet
  at night, a late-morning and an early-evening peak, weekends lower) in the
  tenant's local time. The weights are normalised so ``rate_per_hour`` is the
  mean over a week.
* Answers: NPS is 0-10, CSAT 1-5 (4 and 5 are "satisfied").
  **CES convention: 1-7, higher = easier** ("the company made it easy to
  handle my issue", 1 = strongly disagree, 7 = strongly agree).

How the simulator draws from a profile: :mod:`clients.simulator`.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from clients.times import utc

__all__ = [
    "CES_HIGHER_IS_EASIER",
    "CHANNELS",
    "CHANNEL_SPECS",
    "COMMENTS",
    "INVITE_VIA",
    "JOURNEY_STEPS",
    "SEGMENTS",
    "ChannelSpec",
    "TeamSpec",
    "TenantProfile",
    "default_profile",
    "diurnal_weight",
    "raw_weight",
    "weekly_mean",
]

CES_HIGHER_IS_EASIER = True

CHANNELS = ("phone", "chat", "email", "web", "store", "social", "app")
JOURNEY_STEPS = ("purchase", "billing", "support", "returns", "onboarding")
SEGMENTS = ("consumer", "smb", "enterprise", "vip")
INVITE_VIA = ("email", "sms", "ivr", "in-app")

_WEEK_MINUTES = 7 * 24 * 60


@dataclass(frozen=True)
class TeamSpec:
    """A team of agents at one site. ``quality`` is roughly -0.2 (poor) .. +0.1 (good)."""

    id: str
    journey_steps: tuple[str, ...]
    site: str
    region: str
    quality: float = 0.0
    agents: int = 8


@dataclass(frozen=True)
class ChannelSpec:
    queues: tuple[str, ...]
    wait_median_s: float
    handle_median_s: float
    abandon_base: float
    resolve_base: float
    via: tuple[str, ...]


CHANNEL_SPECS: dict[str, ChannelSpec] = {
    "phone": ChannelSpec(("phone-general", "phone-priority", "phone-callback"), 75, 330, 0.06, 0.80, ("ivr", "sms")),
    "chat": ChannelSpec(("chat-general", "chat-tech"), 40, 540, 0.05, 0.76, ("in-app", "email")),
    "email": ChannelSpec(("email-inbox",), 4 * 3600, 420, 0.0, 0.66, ("email",)),
    "web": ChannelSpec(("web-form", "web-callback"), 15 * 60, 300, 0.03, 0.62, ("email",)),
    "store": ChannelSpec(("store-front", "store-appointment"), 240, 600, 0.02, 0.84, ("sms", "email")),
    "social": ChannelSpec(("social-care",), 25 * 60, 360, 0.02, 0.58, ("in-app", "email")),
    "app": ChannelSpec(("app-messaging",), 60, 420, 0.04, 0.72, ("in-app",)),
}

# Weekday weight per local hour (index = hour). Peaks late morning and early evening.
_WEEKDAY_HOURLY = (
    0.16, 0.10, 0.07, 0.06, 0.07, 0.12, 0.30, 0.62, 1.02, 1.42, 1.66, 1.70,
    1.45, 1.25, 1.28, 1.32, 1.40, 1.55, 1.66, 1.50, 1.12, 0.78, 0.48, 0.28,
)


def _default_teams() -> tuple[TeamSpec, ...]:
    return (
        TeamSpec("t-billing-1", ("billing",), "lis-1", "eu-west", 0.06),
        TeamSpec("t-billing-2", ("billing",), "mnl-1", "apac", -0.14),
        TeamSpec("t-support-1", ("support", "onboarding"), "lis-1", "eu-west", 0.08),
        TeamSpec("t-support-2", ("support", "onboarding"), "waw-1", "eu-central", -0.06),
        TeamSpec("t-sales-1", ("purchase", "onboarding"), "waw-1", "eu-central", 0.03),
        TeamSpec("t-returns-1", ("returns", "purchase"), "mnl-1", "apac", -0.02),
    )


@dataclass(frozen=True)
class TenantProfile:
    """What differs between tenants: sizes, mixes, teams, survey programme."""

    name: str = "acme"
    #: Local time = UTC + this many hours (drives the diurnal curve).
    utc_offset_hours: float = 0.0
    channel_mix: Mapping[str, float] = field(default_factory=lambda: {
        "phone": 0.34, "chat": 0.22, "email": 0.14, "web": 0.10,
        "store": 0.07, "social": 0.05, "app": 0.08,
    })
    journey_mix: Mapping[str, float] = field(default_factory=lambda: {
        "support": 0.34, "billing": 0.26, "purchase": 0.16, "returns": 0.14, "onboarding": 0.10,
    })
    #: Share of contacts per segment (and so the relative customer-base sizes).
    segment_mix: Mapping[str, float] = field(default_factory=lambda: {
        "consumer": 0.68, "smb": 0.20, "enterprise": 0.09, "vip": 0.03,
    })
    teams: tuple[TeamSpec, ...] = field(default_factory=_default_teams)
    customers: int = 40_000
    weekend_factor: float = 0.55
    invite_rate: float = 0.35
    response_rate: float = 0.30
    #: Web intercept responses per touchpoint (no interaction id).
    intercept_ratio: float = 0.02
    #: Probability of each answer in a post-contact survey (at least one is kept).
    answer_rates: Mapping[str, float] = field(default_factory=lambda: {
        "nps": 0.95, "csat": 0.85, "ces": 0.70, "fcr": 0.60,
    })
    comment_rate: float = 0.18

    def __post_init__(self) -> None:
        for name, mix, allowed in (
            ("channel_mix", self.channel_mix, CHANNELS),
            ("journey_mix", self.journey_mix, JOURNEY_STEPS),
            ("segment_mix", self.segment_mix, SEGMENTS),
        ):
            bad = set(mix) - set(allowed)
            if bad or not mix or any(w < 0 for w in mix.values()) or sum(mix.values()) <= 0:
                raise ValueError(f"{name}: weights over {allowed} expected, got {dict(mix)}")
        served = {s for t in self.teams for s in t.journey_steps}
        missing = [s for s in self.journey_mix if self.journey_mix[s] > 0 and s not in served]
        if missing:
            raise ValueError(f"no team serves journey step(s) {missing}")
        if len({t.id for t in self.teams}) != len(self.teams):
            raise ValueError("team ids must be unique")


def default_profile(name: str = "acme", **overrides: Any) -> TenantProfile:
    return TenantProfile(name=name, **overrides)


def raw_weight(local: datetime, weekend_factor: float) -> float:
    # Linear interpolation between hour midpoints: a smooth curve, no steps.
    h = local.hour + local.minute / 60.0 - 0.5
    lo = math.floor(h)
    frac = h - lo
    w = _WEEKDAY_HOURLY[lo % 24] * (1 - frac) + _WEEKDAY_HOURLY[(lo + 1) % 24] * frac
    return w * (weekend_factor if local.weekday() >= 5 else 1.0)


def weekly_mean(weekend_factor: float) -> float:
    monday = datetime(2024, 1, 1)  # a Monday; only weekday and clock time matter
    total = sum(raw_weight(monday + timedelta(minutes=m), weekend_factor)
                for m in range(0, _WEEK_MINUTES, 5))
    return total / (_WEEK_MINUTES / 5)


def diurnal_weight(at: datetime, profile: TenantProfile | None = None) -> float:
    """Relative contact rate at ``at`` (mean 1.0 over a week)."""
    profile = profile or TenantProfile()
    local = utc(at) + timedelta(hours=profile.utc_offset_hours)
    return raw_weight(local.replace(tzinfo=None), profile.weekend_factor) / weekly_mean(profile.weekend_factor)


#: Survey comments by NPS band (promoter 9-10, passive 7-8, detractor 0-6).
COMMENTS = {
    "promoter": (
        "Quick and friendly, sorted in one go.",
        "The agent really knew the product.",
        "Great service, thanks!",
        "Easy, no waiting.",
    ),
    "passive": (
        "Fine, but it took a while.",
        "Solved in the end.",
        "OK experience.",
        "Had to explain my issue twice.",
    ),
    "detractor": (
        "Waited far too long.",
        "Still not fixed.",
        "I was transferred three times.",
        "Nobody could answer my question.",
        "The bill is still wrong.",
    ),
}
