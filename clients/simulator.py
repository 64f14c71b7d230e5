"""A seeded contact-center traffic simulator that emits CX Pulse CloudEvents.

It makes demo data, load for the benchmarks, and a known ground truth for
checking gap detection (:mod:`clients.incidents`). Tenants differ by their
:class:`~clients.profiles.TenantProfile`.

Model (all times UTC, ``time`` of a touchpoint = when the contact started):

* Volume: a non-homogeneous Poisson process per minute at the profile's
  diurnal rate (:func:`clients.profiles.diurnal_weight`).
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
* A small share of responses are web intercept surveys: no
  ``interaction_id``, the respondent's ``channel``/``journey_step``/``segment``
  given in ``data`` as dimension overrides, and a sampling ``weight``.

Determinism: every minute of simulated time draws from its own RNG seeded by
``(seed, tenant, minute)``, and ids are ``uuid5`` values under a namespace
derived from the seed. So two runs with the same arguments are equal, and
``events_between(a, b) + events_between(b, c)`` yields the same events as
``generate(a, c)`` (chunking does not change the traffic).
"""
from __future__ import annotations

import math
import random
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from clients.incidents import Incident
from clients.profiles import CHANNEL_SPECS, COMMENTS, JOURNEY_STEPS, TenantProfile, raw_weight, weekly_mean
from clients.times import format_time, utc
from core.dimensions import DIMENSIONS
from schemas.records import EventType

__all__ = ["ContactCenterSimulator", "Event"]

Event = dict[str, Any]

_MINUTE = 60.0


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _minute_index(dt: datetime) -> int:
    return int((utc(dt) - _EPOCH).total_seconds() // _MINUTE)


def _minute_start(idx: int) -> datetime:
    return _EPOCH + timedelta(minutes=idx)


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
        self._weekly_mean = weekly_mean(self.profile.weekend_factor)

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
        return self._events(utc(start), utc(end), self.rate_per_hour if rate_per_hour is None else rate_per_hour)

    def events_between(self, t0: datetime, t1: datetime) -> list[Event]:
        """Incremental form of ``generate`` at the simulator's ``rate_per_hour``.

        Consecutive calls over adjacent intervals return exactly the events
        ``generate`` returns for their union. Events may be timed after ``t1``.
        """
        return self._events(utc(t0), utc(t1), self.rate_per_hour)

    def expected_rate(self, at: datetime, rate_per_hour: float | None = None) -> float:
        """Expected touchpoints per hour at ``at`` (before incidents)."""
        rate = self.rate_per_hour if rate_per_hour is None else rate_per_hour
        return rate * self._weight(utc(at))

    # -- generation ----------------------------------------------------------
    def _weight(self, at: datetime) -> float:
        local = at + timedelta(hours=self.profile.utc_offset_hours)
        return raw_weight(local.replace(tzinfo=None), self.profile.weekend_factor) / self._weekly_mean

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
        spec = CHANNEL_SPECS[channel]
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
        spec = CHANNEL_SPECS[channel]
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
        events = [(at, self._envelope(EventType.touchpoint, self._id(f"tp:{interaction_id}"), at, tp_data, subject=interaction_id))]

        invite_p = p.invite_rate * (0.4 if abandoned else 1.0)
        if rng.random() >= invite_p:
            return events
        ended = at + timedelta(seconds=wait + handle)
        via = spec.via[rng.randrange(len(spec.via))]
        invited = ended + timedelta(seconds=(20 + rng.random() * 40) if via == "ivr" else (60 + rng.random() * 540))
        survey_id = f"srv-post-{channel}-v2"
        events.append((invited, self._envelope(EventType.survey_invitation, self._id(f"inv:{interaction_id}"), invited, {
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
        events.append((answered, self._envelope(EventType.survey_response, self._id(f"resp:{interaction_id}"), answered, data)))
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
        options = COMMENTS[band]
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
        return self._envelope(EventType.survey_response, self._id(f"intercept:{key}"), at, data)

    def _envelope(self, type_: EventType, id_: str, at: datetime, data: dict[str, Any], subject: str | None = None) -> Event:
        ev: Event = {
            "specversion": "1.0",
            "id": id_,
            "source": self.source,
            "type": type_.value,
            "time": format_time(at),
            "datacontenttype": "application/json",
            "data": data,
        }
        if subject is not None:
            ev["subject"] = subject
        return ev
