"""A seeded contact-center traffic simulator that emits CX Pulse CloudEvents.

It makes demo data, load for the benchmarks, and a known ground truth for
checking gap detection: an ``Incident`` shifts answers and volume inside a
scope for an interval, and the evaluation checks whether the pipeline finds it.

Model (all times UTC, ``time`` of a touchpoint = when the contact started):

* Volume: a non-homogeneous Poisson process per minute. Its rate is
  ``rate_per_hour`` times a diurnal weight (quiet at night, a late-morning
  and an early-evening peak, weekends lower) in the tenant's local time.
  The weights are normalised so ``rate_per_hour`` is the mean over a week.
* Each touchpoint picks a channel, a journey step, a customer (and so a
  segment), a queue of that channel, a team that serves the step, and an
  agent of the team. Outcomes (abandoned, transferred, resolved,
  first_contact, converted) depend on channel, wait, team quality and agent
  skill.
* A touchpoint gets a ``cx.survey.invitation.v1`` with probability
  ``invite_rate`` a few minutes after it ends; an invitation gets a
  ``cx.survey.response.v1`` with probability ``response_rate`` minutes to
  hours later. A response's ``time`` is when the customer answered, so it
  is always after its touchpoint and may lie in the future of the moment
  the touchpoint was generated (``drive`` holds such events back).
* Answers come from a latent satisfaction that rises with resolution and
  team quality and falls with waiting, transfers and repeat contacts.
  NPS is 0-10, CSAT 1-5 (4 and 5 are "satisfied").
  **CES convention: 1-7, higher = easier** ("the company made it easy to
  handle my issue", 1 = strongly disagree, 7 = strongly agree).
* A small share of responses are web intercept surveys: no
  ``interaction_id``, the respondent's ``channel``/``journey_step``/``segment``
  given in ``data`` as dimension overrides, and a sampling ``weight``.

Determinism: every minute of simulated time draws from its own RNG seeded by
``(seed, tenant, minute)``, and ids are ``uuid5`` values under a namespace
derived from the seed. So two runs with the same arguments are equal, and
``events_between(a, b) + events_between(b, c)`` yields the same events as
``generate(a, c)`` (chunking does not change the traffic).

Incidents act on touchpoints *started* inside ``[start, end)`` whose
dimensions match ``scope``; their survey answers are shifted even when the
response arrives after ``end`` (the experience happened during the incident).
Web intercept responses are shifted when they are answered inside the
interval and their overrides match the scope.
"""
from __future__ import annotations

import asyncio
import contextlib
import heapq
import math
import random
import time as _time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from core.dimensions import DIMENSIONS

__all__ = [
    "CES_HIGHER_IS_EASIER",
    "CHANNELS",
    "JOURNEY_STEPS",
    "SEGMENTS",
    "ContactCenterSimulator",
    "Incident",
    "TeamSpec",
    "TenantProfile",
    "default_profile",
    "diurnal_weight",
    "drive",
    "format_time",
    "parse_time",
]

Event = dict[str, Any]

CES_HIGHER_IS_EASIER = True

CHANNELS = ("phone", "chat", "email", "web", "store", "social", "app")
JOURNEY_STEPS = ("purchase", "billing", "support", "returns", "onboarding")
SEGMENTS = ("consumer", "smb", "enterprise", "vip")
INVITE_VIA = ("email", "sms", "ivr", "in-app")

TOUCHPOINT = "cx.touchpoint.v1"
INVITATION = "cx.survey.invitation.v1"
RESPONSE = "cx.survey.response.v1"

_MINUTE = 60.0
_WEEK_MINUTES = 7 * 24 * 60


# --------------------------------------------------------------------------- profile
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
class _ChannelSpec:
    queues: tuple[str, ...]
    wait_median_s: float
    handle_median_s: float
    abandon_base: float
    resolve_base: float
    via: tuple[str, ...]


_CHANNELS: dict[str, _ChannelSpec] = {
    "phone": _ChannelSpec(("phone-general", "phone-priority", "phone-callback"), 75, 330, 0.06, 0.80, ("ivr", "sms")),
    "chat": _ChannelSpec(("chat-general", "chat-tech"), 40, 540, 0.05, 0.76, ("in-app", "email")),
    "email": _ChannelSpec(("email-inbox",), 4 * 3600, 420, 0.0, 0.66, ("email",)),
    "web": _ChannelSpec(("web-form", "web-callback"), 15 * 60, 300, 0.03, 0.62, ("email",)),
    "store": _ChannelSpec(("store-front", "store-appointment"), 240, 600, 0.02, 0.84, ("sms", "email")),
    "social": _ChannelSpec(("social-care",), 25 * 60, 360, 0.02, 0.58, ("in-app", "email")),
    "app": _ChannelSpec(("app-messaging",), 60, 420, 0.04, 0.72, ("in-app",)),
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


@dataclass(frozen=True)
class Incident:
    """Shift answers (and volume) of touchpoints in ``scope`` during ``[start, end)``.

    ``scope`` maps dimension names (``core.dimensions.DIMENSIONS``) to a
    value; an empty scope means every touchpoint. ``nps_shift`` is in NPS
    points (0-10 scale), ``csat_shift`` in CSAT points (1-5), ``ces_shift`` in
    CES points (1-7, higher = easier, so a bad incident is negative).
    ``volume_factor`` multiplies the contact rate inside the scope.

    ``affects`` says which clock the incident runs on. ``"contacts"`` (the
    default): answers about contacts *started* inside the interval are
    shifted, so most of the signal arrives with the survey delay (minutes to
    hours). ``"answers"``: answers *given* inside the interval are shifted,
    whenever their contact was — a broken flow that customers report as they
    leave it. Detection latency can only be judged fairly on the second.
    """

    start: datetime
    end: datetime
    scope: Mapping[str, str] = field(default_factory=dict)
    nps_shift: float = 0.0
    csat_shift: float = 0.0
    volume_factor: float = 1.0
    ces_shift: float = 0.0
    affects: str = "contacts"

    def __post_init__(self) -> None:
        if self.affects not in ("contacts", "answers"):
            raise ValueError(f"incident affects 'contacts' or 'answers', not {self.affects!r}")
        object.__setattr__(self, "start", _utc(self.start))
        object.__setattr__(self, "end", _utc(self.end))
        object.__setattr__(self, "scope", dict(self.scope))
        if self.end <= self.start:
            raise ValueError("incident end must be after start")
        unknown = [k for k in self.scope if k not in DIMENSIONS]
        if unknown:
            raise ValueError(f"incident scope uses unknown dimension(s) {unknown}")
        if self.volume_factor < 0:
            raise ValueError("volume_factor must be >= 0")

    def active(self, at: datetime) -> bool:
        return self.start <= at < self.end

    def matches(self, dims: Mapping[str, Any]) -> bool:
        return all(dims.get(k) == v for k, v in self.scope.items())


# --------------------------------------------------------------------------- time helpers
def _utc(dt: datetime) -> datetime:
    return dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt.astimezone(timezone.utc)


def format_time(dt: datetime) -> str:
    """ISO-8601 UTC with millisecond precision and a ``Z`` suffix."""
    dt = _utc(dt)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _minute_index(dt: datetime) -> int:
    return int((_utc(dt) - _EPOCH).total_seconds() // _MINUTE)


def _minute_start(idx: int) -> datetime:
    return _EPOCH + timedelta(minutes=idx)


def _raw_weight(local: datetime, weekend_factor: float) -> float:
    # Linear interpolation between hour midpoints: a smooth curve, no steps.
    h = local.hour + local.minute / 60.0 - 0.5
    lo = math.floor(h)
    frac = h - lo
    w = _WEEKDAY_HOURLY[lo % 24] * (1 - frac) + _WEEKDAY_HOURLY[(lo + 1) % 24] * frac
    return w * (weekend_factor if local.weekday() >= 5 else 1.0)


def _weekly_mean(weekend_factor: float) -> float:
    monday = datetime(2024, 1, 1)  # a Monday; only weekday and clock time matter
    total = sum(_raw_weight(monday + timedelta(minutes=m), weekend_factor)
                for m in range(0, _WEEK_MINUTES, 5))
    return total / (_WEEK_MINUTES / 5)


def diurnal_weight(at: datetime, profile: TenantProfile | None = None) -> float:
    """Relative contact rate at ``at`` (mean 1.0 over a week)."""
    profile = profile or TenantProfile()
    local = _utc(at) + timedelta(hours=profile.utc_offset_hours)
    return _raw_weight(local.replace(tzinfo=None), profile.weekend_factor) / _weekly_mean(profile.weekend_factor)


# --------------------------------------------------------------------------- random helpers
def _poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam > 40:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def _pick(rng: random.Random, options: Sequence[str], weights: Sequence[float]) -> str:
    return rng.choices(options, weights=weights)[0]


def _clip(x: float, lo: float, hi: float) -> float:
    return lo if x < lo else hi if x > hi else x


def _lognormal(rng: random.Random, median: float, sigma: float) -> float:
    return median * math.exp(rng.gauss(0.0, sigma))


_COMMENTS = {
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


# --------------------------------------------------------------------------- simulator
class ContactCenterSimulator:
    """Seeded generator of touchpoints, survey invitations and responses for one tenant."""

    def __init__(
        self,
        seed: int,
        tenant_profile: TenantProfile | None = None,
        *,
        incidents: Iterable[Incident] = (),
        rate_per_hour: float = 600.0,
        source: str | None = None,
    ) -> None:
        self.seed = seed
        self.profile = tenant_profile or TenantProfile()
        self.incidents: tuple[Incident, ...] = tuple(incidents)
        self.rate_per_hour = rate_per_hour
        self.source = source or f"/contact-center/{self.profile.name}"
        self._ns = uuid.uuid5(uuid.NAMESPACE_URL, f"cxpulse-simulator:{self.profile.name}:{seed}")
        self._weekly_mean = _weekly_mean(self.profile.weekend_factor)

        p = self.profile
        self._channels = tuple(p.channel_mix)
        self._channel_w = tuple(p.channel_mix[c] for c in self._channels)
        self._steps = tuple(p.journey_mix)
        self._step_w = tuple(p.journey_mix[s] for s in self._steps)
        self._segments = tuple(p.segment_mix)
        self._segment_w = tuple(p.segment_mix[s] for s in self._segments)
        self._teams_for_step = {s: tuple(t for t in p.teams if s in t.journey_steps) for s in JOURNEY_STEPS}
        # Per-agent skill, fixed for the simulator's life and drawn from the seed.
        skill_rng = random.Random(f"{seed}:{p.name}:agents")
        self._agents: dict[str, tuple[tuple[str, float], ...]] = {
            t.id: tuple(
                (f"a-{t.id.removeprefix('t-')}-{k:02d}", skill_rng.gauss(0.0, 0.04))
                for k in range(1, t.agents + 1)
            )
            for t in p.teams
        }
        # Customer base split by segment in proportion to segment_mix.
        total_w = sum(self._segment_w)
        self._customers_per_segment = {
            s: max(1, round(p.customers * w / total_w)) for s, w in zip(self._segments, self._segment_w)
        }

    # -- public --------------------------------------------------------------
    def generate(self, start: datetime, end: datetime, rate_per_hour: float | None = None) -> list[Event]:
        """Every event caused by touchpoints started in ``[start, end)``, sorted by ``time``.

        Survey responses and invitations of late touchpoints may have a
        ``time`` after ``end``; filter on ``time`` if you need a closed window.
        """
        return self._events(_utc(start), _utc(end), self.rate_per_hour if rate_per_hour is None else rate_per_hour)

    def events_between(self, t0: datetime, t1: datetime) -> list[Event]:
        """Incremental form of ``generate`` at the simulator's ``rate_per_hour``.

        Consecutive calls over adjacent intervals return exactly the events
        ``generate`` returns for their union. Events may be timed after ``t1``.
        """
        return self._events(_utc(t0), _utc(t1), self.rate_per_hour)

    def expected_rate(self, at: datetime, rate_per_hour: float | None = None) -> float:
        """Expected touchpoints per hour at ``at`` (before incidents)."""
        rate = self.rate_per_hour if rate_per_hour is None else rate_per_hour
        return rate * self._weight(_utc(at))

    # -- generation ----------------------------------------------------------
    def _weight(self, at: datetime) -> float:
        local = at + timedelta(hours=self.profile.utc_offset_hours)
        return _raw_weight(local.replace(tzinfo=None), self.profile.weekend_factor) / self._weekly_mean

    def _events(self, t0: datetime, t1: datetime, rate_per_hour: float) -> list[Event]:
        if t1 <= t0 or rate_per_hour <= 0:
            return []
        keyed: list[tuple[datetime, str, Event]] = []
        first, last = _minute_index(t0), _minute_index(t1 - timedelta(microseconds=1))
        for m in range(first, last + 1):
            for at, ev in self._minute(m, rate_per_hour):
                # A minute is always generated whole, then cut: chunking cannot change it.
                if at < t0 or at >= t1:
                    continue
                for ev_time, e in ev:
                    keyed.append((ev_time, e["id"], e))
        keyed.sort(key=lambda k: (k[0], k[1]))
        return [e for _, _, e in keyed]

    def _minute(self, m: int, rate_per_hour: float) -> list[tuple[datetime, list[tuple[datetime, Event]]]]:
        """The events of one simulated minute, keyed by the time of their cause."""
        p = self.profile
        m0 = _minute_start(m)
        lam = rate_per_hour / 60.0 * self._weight(m0)
        rng = random.Random(f"{self.seed}:{p.name}:{m}")
        out: list[tuple[datetime, list[tuple[datetime, Event]]]] = []
        active = [inc for inc in self.incidents if inc.start < m0 + timedelta(minutes=1) and inc.end > m0]

        for k in range(_poisson(rng, lam)):
            at = m0 + timedelta(seconds=rng.random() * _MINUTE)
            ctx = self._draw_context(rng)
            # Volume below 1: thin in-scope touchpoints during the incident.
            if any(inc.volume_factor < 1 and inc.active(at) and inc.matches(ctx)
                   and rng.random() >= inc.volume_factor for inc in active):
                continue
            out.append((at, self._interaction(rng, f"{m}:{k}", at, ctx)))

        # Volume above 1: extra in-scope contacts, drawn by rejection from the same mix.
        for j, inc in enumerate(self.incidents):
            if inc.volume_factor <= 1 or not (inc.start < m0 + timedelta(minutes=1) and inc.end > m0):
                continue
            xrng = random.Random(f"{self.seed}:{p.name}:{m}:incident:{j}")
            for k in range(_poisson(xrng, lam * (inc.volume_factor - 1))):
                at = m0 + timedelta(seconds=xrng.random() * _MINUTE)
                ctx = self._draw_context(xrng)
                if inc.active(at) and inc.matches(ctx):
                    out.append((at, self._interaction(xrng, f"{m}:x{j}:{k}", at, ctx)))

        # Web intercept surveys: no interaction behind them.
        irng = random.Random(f"{self.seed}:{p.name}:{m}:intercept")
        for k in range(_poisson(irng, lam * p.intercept_ratio)):
            at = m0 + timedelta(seconds=irng.random() * _MINUTE)
            out.append((at, [(at, self._intercept(irng, f"{m}:{k}", at))]))
        return out

    def _draw_context(self, rng: random.Random) -> dict[str, Any]:
        channel = _pick(rng, self._channels, self._channel_w)
        step = _pick(rng, self._steps, self._step_w)
        segment = _pick(rng, self._segments, self._segment_w)
        cust = rng.randrange(self._customers_per_segment[segment])
        spec = _CHANNELS[channel]
        if channel == "phone":
            queue = "phone-priority" if segment in ("enterprise", "vip") else (
                "phone-callback" if rng.random() < 0.15 else "phone-general")
        elif channel == "chat":
            queue = "chat-tech" if step in ("support", "onboarding") else "chat-general"
        elif channel == "store":
            queue = "store-appointment" if rng.random() < 0.3 else "store-front"
        elif channel == "web":
            queue = "web-callback" if rng.random() < 0.25 else "web-form"
        else:
            queue = spec.queues[0]
        teams = self._teams_for_step[step]
        team = teams[rng.randrange(len(teams))]
        agent_id, skill = self._agents[team.id][rng.randrange(len(self._agents[team.id]))]
        return {
            "channel": channel, "journey_step": step, "segment": segment, "queue": queue,
            "team": team.id, "agent_id": agent_id, "site": team.site, "region": team.region,
            "_quality": team.quality, "_skill": skill, "_customer": f"cus-{segment[:3]}-{cust:06d}",
        }

    def _incident_shift(self, at: datetime, dims: Mapping[str, Any],
                        answered: datetime | None = None) -> tuple[float, float, float]:
        """Answer shifts of the incidents that hit a contact started ``at`` and answered ``answered``."""
        nps = csat = ces = 0.0
        for inc in self.incidents:
            clock = answered if inc.affects == "answers" and answered is not None else at
            if inc.active(clock) and inc.matches(dims):
                nps += inc.nps_shift
                csat += inc.csat_shift
                ces += inc.ces_shift
        return nps, csat, ces

    def _id(self, key: str) -> str:
        return str(uuid.uuid5(self._ns, key))

    def _interaction(
        self, rng: random.Random, key: str, at: datetime, ctx: dict[str, Any]
    ) -> list[tuple[datetime, Event]]:
        p = self.profile
        channel = ctx["channel"]
        spec = _CHANNELS[channel]
        quality = ctx["_quality"] + ctx["_skill"]
        load = self._weight(at)  # busy hours -> longer queues
        interaction_id = self._id(f"interaction:{key}")

        wait = _lognormal(rng, spec.wait_median_s * (0.6 + 0.4 * load) * (0.5 if ctx["queue"] == "phone-priority" else 1.0), 0.8)
        abandon_p = spec.abandon_base * (1 + wait / max(spec.wait_median_s, 1.0) / 2)
        abandoned = spec.abandon_base > 0 and rng.random() < _clip(abandon_p, 0, 0.6)
        if abandoned:
            handle = 0.0
            transferred = resolved = converted = False
            first_contact = rng.random() < 0.7
        else:
            handle = _lognormal(rng, spec.handle_median_s, 0.5)
            transferred = rng.random() < _clip(0.10 - quality * 0.5, 0.02, 0.4)
            resolve_p = spec.resolve_base + 0.06 + quality - (0.18 if transferred else 0.0) - min(wait / 7200, 0.1)
            resolved = rng.random() < _clip(resolve_p, 0.05, 0.98)
            first_contact = rng.random() < _clip(0.78 + quality, 0.4, 0.95)
            convert_p = 0.32 if ctx["journey_step"] == "purchase" else 0.04
            converted = rng.random() < convert_p * (1.3 if resolved else 0.5)
        dims = {d: ctx[d] for d in DIMENSIONS}
        tp_data = {
            "interaction_id": interaction_id,
            "customer_id": ctx["_customer"],
            **dims,
            "wait_s": round(wait, 1),
            "handle_s": round(handle, 1),
            "resolved": resolved,
            "first_contact": first_contact,
            "transferred": transferred,
            "abandoned": abandoned,
            "converted": converted,
        }
        events = [(at, self._envelope(TOUCHPOINT, self._id(f"tp:{interaction_id}"), at, tp_data, subject=interaction_id))]

        invite_p = p.invite_rate * (0.4 if abandoned else 1.0)
        if rng.random() >= invite_p:
            return events
        ended = at + timedelta(seconds=wait + handle)
        via = spec.via[rng.randrange(len(spec.via))]
        invited = ended + timedelta(seconds=(20 + rng.random() * 40) if via == "ivr" else (60 + rng.random() * 540))
        survey_id = f"srv-post-{channel}-v2"
        events.append((invited, self._envelope(INVITATION, self._id(f"inv:{interaction_id}"), invited, {
            "interaction_id": interaction_id, "customer_id": ctx["_customer"],
            "survey_id": survey_id, "via": via,
        })))

        # Angry and delighted customers answer more often than indifferent ones.
        latent = (
            9.0 + (0.4 if resolved else -2.2) + 6 * quality
            - (0.9 if transferred else 0.0) - (1.5 if abandoned else 0.0)
            - (0.7 if not first_contact else 0.0)
            - 0.5 * math.log1p(wait / max(spec.wait_median_s, 1.0))
            + {"consumer": 0.0, "smb": -0.2, "enterprise": -0.4, "vip": 0.3}[ctx["segment"]]
            + rng.gauss(0.0, 1.5)
        )
        response_p = p.response_rate * (1.15 if latent < 5 or latent > 9 else 0.9)
        if via == "ivr":
            response_p *= 1.2
        if rng.random() >= response_p:
            return events
        delay = (30 + rng.random() * 120) if via == "ivr" else min(_lognormal(rng, 45 * 60, 1.1), 3 * 86400)
        answered = invited + timedelta(seconds=delay)
        nps_shift, csat_shift, ces_shift = self._incident_shift(at, dims, answered)
        effort = (
            0.8 * math.log1p(wait / 60.0) + (1.3 if transferred else 0.0) + (0.9 if not first_contact else 0.0)
            + (1.1 if not resolved else 0.0) - 4 * quality + rng.gauss(0.0, 0.9)
        )
        answers = self._answers(
            rng,
            nps=latent + nps_shift,
            csat=3.0 + (latent - 6.0) * 0.45 + rng.gauss(0.0, 0.55) + csat_shift,
            ces=6.8 - effort + ces_shift,
            fcr=resolved and first_contact and not transferred,
        )
        data: dict[str, Any] = {
            "interaction_id": interaction_id, "customer_id": ctx["_customer"],
            "survey_id": survey_id, "answers": answers,
        }
        self._maybe_comment(rng, data, answers)
        events.append((answered, self._envelope(RESPONSE, self._id(f"resp:{interaction_id}"), answered, data)))
        return events

    def _answers(self, rng: random.Random, *, nps: float, csat: float, ces: float, fcr: bool) -> dict[str, Any]:
        rates = self.profile.answer_rates
        full = {
            "nps": int(round(_clip(nps, 0, 10))),
            "csat": int(round(_clip(csat, 1, 5))),
            "ces": int(round(_clip(ces, 1, 7))),
            "fcr": fcr,
        }
        kept = {k: v for k, v in full.items() if rng.random() < rates.get(k, 1.0)}
        return kept or {"nps": full["nps"]}

    def _maybe_comment(self, rng: random.Random, data: dict[str, Any], answers: Mapping[str, Any]) -> None:
        if rng.random() >= self.profile.comment_rate:
            return
        nps = answers.get("nps")
        if nps is None:
            csat = answers.get("csat", 3)
            band = "promoter" if csat >= 5 else "detractor" if csat <= 2 else "passive"
        else:
            band = "promoter" if nps >= 9 else "detractor" if nps <= 6 else "passive"
        options = _COMMENTS[band]
        # One draw whatever the band, so shifted answers do not shift the random stream.
        data["comment"] = options[int(rng.random() * len(options))]

    def _intercept(self, rng: random.Random, key: str, at: datetime) -> Event:
        segment = _pick(rng, self._segments, self._segment_w)
        step = _pick(rng, self._steps, self._step_w)
        overrides = {"channel": "web", "journey_step": step, "segment": segment}
        nps_shift, csat_shift, ces_shift = self._incident_shift(at, overrides, at)
        latent = 7.0 + rng.gauss(0.0, 2.0)
        answers = {"nps": int(round(_clip(latent + nps_shift, 0, 10)))}
        if rng.random() < 0.6:
            answers["csat"] = int(round(_clip(3.0 + (latent - 6.0) * 0.45 + rng.gauss(0, 0.6) + csat_shift, 1, 5)))
        if rng.random() < 0.4:
            answers["ces"] = int(round(_clip(5.2 + rng.gauss(0, 1.2) + ces_shift, 1, 7)))
        data: dict[str, Any] = {
            "customer_id": f"cus-{segment[:3]}-{rng.randrange(self._customers_per_segment[segment]):06d}",
            "survey_id": "srv-web-intercept-v1",
            "answers": answers,
            **overrides,
            # Intercepts sample ~1 in 4 visitors; the weight restores the population share.
            "weight": 4.0,
        }
        self._maybe_comment(rng, data, answers)
        return self._envelope(RESPONSE, self._id(f"intercept:{key}"), at, data)

    def _envelope(self, type_: str, id_: str, at: datetime, data: dict[str, Any], subject: str | None = None) -> Event:
        ev: Event = {
            "specversion": "1.0",
            "id": id_,
            "source": self.source,
            "type": type_,
            "time": format_time(at),
            "datacontenttype": "application/json",
            "data": data,
        }
        if subject is not None:
            ev["subject"] = subject
        return ev


# --------------------------------------------------------------------------- live driver
async def drive(
    post_batch: Callable[[list[Event]], Awaitable[None]],
    simulator: ContactCenterSimulator,
    speedup: float = 1.0,
    batch_size: int = 200,
    stop: asyncio.Event | None = None,
    *,
    start: datetime | None = None,
    until: datetime | None = None,
    tick_s: float = 0.5,
    clock: Callable[[], float] = _time.monotonic,
    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
) -> int:
    """Emit the simulator's traffic in (accelerated) real time, in batches.

    Simulated time is ``start + (clock() - clock_at_start) * speedup``
    (``start`` defaults to now, UTC). Each tick generates the touchpoints
    started since the previous tick and posts, in ``time`` order, every
    pending event whose ``time`` has come; events timed in the future
    (invitations and responses that come after their touchpoint) wait in a
    heap until then. Batches hold at most ``batch_size`` events and are
    awaited one by one, so a slow receiver slows the driver (backpressure);
    errors from ``post_batch`` propagate.

    Stops when ``stop`` is set or when simulated time reaches ``until``
    (events timed after ``until`` are not sent). Returns the number of
    events posted. ``clock`` and ``sleep`` exist for tests (a fake clock).
    """
    if speedup <= 0:
        raise ValueError("speedup must be > 0")
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    sim_start = _utc(start) if start is not None else datetime.now(timezone.utc)
    end = _utc(until) if until is not None else None
    real0 = clock()
    cursor = sim_start
    pending: list[tuple[str, str, int, Event]] = []
    seq = 0
    posted = 0

    while True:
        sim_now = sim_start + timedelta(seconds=(clock() - real0) * speedup)
        finished = end is not None and sim_now >= end
        if finished:
            sim_now = end
        if sim_now > cursor:
            for ev in simulator.events_between(cursor, sim_now):
                heapq.heappush(pending, (ev["time"], ev["id"], seq, ev))
                seq += 1
            cursor = sim_now
        due_before = format_time(sim_now)
        batch: list[Event] = []
        while pending and pending[0][0] <= due_before:
            batch.append(heapq.heappop(pending)[3])
            if len(batch) >= batch_size:
                await post_batch(batch)
                posted += len(batch)
                batch = []
        if batch:
            await post_batch(batch)
            posted += len(batch)
        if finished or (stop is not None and stop.is_set()):
            return posted
        if stop is not None and sleep is asyncio.sleep:
            # Wake up at once when asked to stop instead of finishing the tick.
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=tick_s)
        else:
            await sleep(tick_s)
