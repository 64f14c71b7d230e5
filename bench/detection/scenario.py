"""The seeded scenario of `make evaluate`: the tenant, its calendar, the incidents and what each one moves."""
from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from clients.incidents import Incident
from clients.profiles import TenantProfile
from kpi.measures import Metric

TENANT = "demo"  # the tenant of the development key
START = datetime(2026, 11, 2, tzinfo=timezone.utc)  # a Monday
FAMILIES: tuple[tuple[str, ...], ...] = ((), ("channel",), ("journey_step",), ("segment",), ("team",),
                                         ("journey_step", "segment"))
#: The stored views: exactly the families the rules watch (fewer window rows to write for days of backfill).
VIEWS = [list(f) for f in FAMILIES]

#: Incident scopes: key cells (>= 5 % of traffic), every team, the larger channels.
NPS_CELLS = [("support", "consumer"), ("billing", "consumer"), ("purchase", "consumer"), ("returns", "consumer"),
             ("support", "smb"), ("billing", "smb")]
TEAMS = ["t-billing-1", "t-billing-2", "t-support-1", "t-support-2", "t-sales-1", "t-returns-1"]
FEEDS = ["phone", "chat", "email", "web", "app"]


def epoch_ms(dt: datetime) -> int:
    """``dt`` as the milliseconds since the epoch that windows and alert evaluations are timed in."""
    return int(dt.timestamp() * 1000)


@dataclass(frozen=True)
class Scenario:
    seed: int
    days: int
    warmup_days: int
    rate_per_hour: float
    incidents: tuple[Incident, ...]
    incident_days: tuple[int, ...]  # day indices (0 = first evaluated day)

    @property
    def eval_start(self) -> datetime:
        return START + timedelta(days=self.warmup_days)

    @property
    def end(self) -> datetime:
        return self.eval_start + timedelta(days=self.days)


def build_scenario(seed: int, days: int, warmup_days: int, rate_per_hour: float) -> Scenario:
    rng = random.Random(f"detection:{seed}")
    incidents: list[Incident] = []
    incident_days = tuple(range(0, days, 2))
    kind = 0
    for d in incident_days:
        day0 = START + timedelta(days=warmup_days + d)
        for slot_hour in (8, 12, 16):
            start = day0 + timedelta(hours=slot_hour, minutes=rng.randrange(60))
            end = start + timedelta(minutes=rng.randrange(60, 111))
            if kind % 3 == 0:
                step, seg = rng.choice(NPS_CELLS)
                incidents.append(Incident(start, end, {"journey_step": step, "segment": seg},
                                          nps_shift=-rng.uniform(3.0, 5.0), affects="answers"))
            elif kind % 3 == 1:
                incidents.append(Incident(start, end, {"team": rng.choice(TEAMS)},
                                          csat_shift=-rng.uniform(1.2, 2.2), affects="answers"))
            else:
                incidents.append(Incident(start, end, {"channel": rng.choice(FEEDS)}, volume_factor=0.0))
            kind += 1
    return Scenario(seed, days, warmup_days, rate_per_hour, tuple(incidents), incident_days)


def tenant_profile() -> TenantProfile:
    # A contact centre surveying most contacts: ~1,000 answers an hour on a weekly mean.
    return TenantProfile(name=TENANT, invite_rate=0.6, response_rate=0.45)


def incident_metrics(inc: Incident) -> set[Metric]:
    """The metrics ``inc`` moves: an alert on any other one is not explained by it."""
    out: set[Metric] = set()
    if inc.nps_shift:
        out.add(Metric.nps)
    if inc.csat_shift:
        out.add(Metric.csat)
    if inc.ces_shift:
        out.add(Metric.ces)
    if inc.volume_factor < 1:
        out |= {Metric.volume, Metric.responses}
    return out
