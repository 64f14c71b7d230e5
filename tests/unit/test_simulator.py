"""The traffic simulator: determinism, event shape, timing, diurnal curve, incidents, live driver."""
from __future__ import annotations

import asyncio
import re
import statistics
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest

from clients.incidents import Incident
from clients.profiles import CHANNELS, JOURNEY_STEPS, SEGMENTS, TenantProfile
from clients.simulate import drive
from clients.simulator import ContactCenterSimulator
from clients.times import parse_time
from core.dimensions import DIMENSIONS

UTC = timezone.utc
MONDAY = datetime(2024, 5, 6, tzinfo=UTC)
TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
TP, INV, RESP = "cx.touchpoint.v1", "cx.survey.invitation.v1", "cx.survey.response.v1"


@pytest.fixture(scope="module")
def day() -> list[dict]:
    return ContactCenterSimulator(11).generate(MONDAY, MONDAY + timedelta(days=1), rate_per_hour=300)


@pytest.fixture(scope="module")
def week() -> list[dict]:
    return ContactCenterSimulator(5).generate(MONDAY, MONDAY + timedelta(days=7), rate_per_hour=120)


# -- determinism ---------------------------------------------------------------
def test_same_seed_gives_identical_events() -> None:
    t0, t1 = MONDAY + timedelta(hours=9), MONDAY + timedelta(hours=15)
    a = ContactCenterSimulator(42).generate(t0, t1, 200)
    b = ContactCenterSimulator(42).generate(t0, t1, 200)
    assert a == b
    assert len(a) > 500


def test_other_seed_gives_other_events() -> None:
    a = ContactCenterSimulator(1).generate(MONDAY, MONDAY + timedelta(hours=2), 200)
    b = ContactCenterSimulator(2).generate(MONDAY, MONDAY + timedelta(hours=2), 200)
    assert {e["id"] for e in a}.isdisjoint({e["id"] for e in b})


def test_chunked_generation_equals_one_shot() -> None:
    sim = ContactCenterSimulator(9, rate_per_hour=240)
    end = MONDAY + timedelta(hours=3)
    whole = sim.generate(MONDAY, end)
    cuts = [MONDAY + timedelta(seconds=s) for s in (0, 17.3, 600, 601.5, 3600, 7777.7)] + [end]
    parts = [e for t0, t1 in zip(cuts, cuts[1:]) for e in sim.events_between(t0, t1)]
    assert sorted(parts, key=lambda e: (e["time"], e["id"])) == whole


# -- shape -------------------------------------------------------------------
def _check_envelope(e: dict) -> None:
    assert e["specversion"] == "1.0"
    assert UUID_RE.match(e["id"])
    assert e["source"] == "/contact-center/acme"
    assert e["type"] in (TP, INV, RESP)
    assert TIME_RE.match(e["time"])
    assert "subject" not in e or isinstance(e["subject"], str)
    assert isinstance(e["data"], dict)


def _check_touchpoint(d: dict) -> None:
    assert UUID_RE.match(d["interaction_id"]) and d["customer_id"].startswith("cus-")
    assert d["channel"] in CHANNELS and d["journey_step"] in JOURNEY_STEPS and d["segment"] in SEGMENTS
    assert re.match(r"^t-[a-z]+-\d$", d["team"])
    assert d["agent_id"].startswith("a-" + d["team"].removeprefix("t-") + "-")
    assert d["queue"].startswith(d["channel"] + "-")
    for dim in DIMENSIONS:
        assert isinstance(d[dim], str) and d[dim]
    assert d["wait_s"] >= 0 and d["handle_s"] >= 0
    for flag in ("resolved", "first_contact", "transferred", "abandoned", "converted"):
        assert isinstance(d[flag], bool)
    if d["abandoned"]:
        assert not d["resolved"] and d["handle_s"] == 0


def _check_response(d: dict) -> None:
    answers = d["answers"]
    assert answers and set(answers) <= {"nps", "csat", "ces", "fcr"}
    if "nps" in answers:
        assert type(answers["nps"]) is int and 0 <= answers["nps"] <= 10
    if "csat" in answers:
        assert type(answers["csat"]) is int and 1 <= answers["csat"] <= 5
    if "ces" in answers:
        assert type(answers["ces"]) is int and 1 <= answers["ces"] <= 7
    if "fcr" in answers:
        assert isinstance(answers["fcr"], bool)
    assert isinstance(d["survey_id"], str) and isinstance(d["customer_id"], str)
    assert "comment" not in d or isinstance(d["comment"], str)
    assert "weight" not in d or d["weight"] > 0


def test_every_event_has_a_valid_shape(day: list[dict]) -> None:
    for e in day:
        _check_envelope(e)
        d = e["data"]
        if e["type"] == TP:
            _check_touchpoint(d)
        elif e["type"] == INV:
            assert UUID_RE.match(d["interaction_id"])
            assert d["via"] in ("email", "sms", "ivr", "in-app")
        else:
            _check_response(d)
    assert len({e["id"] for e in day}) == len(day)


def test_events_are_sorted_by_time(day: list[dict]) -> None:
    times = [parse_time(e["time"]) for e in day]
    assert times == sorted(times)
    assert all(t.tzinfo is not None for t in times)


def test_mix_covers_every_channel_team_and_segment(day: list[dict]) -> None:
    tps = [e["data"] for e in day if e["type"] == TP]
    assert {d["channel"] for d in tps} == set(CHANNELS)
    assert {d["segment"] for d in tps} == set(SEGMENTS)
    assert len({d["team"] for d in tps}) == 6
    assert len({d["agent_id"] for d in tps}) == 48
    seg = Counter(d["segment"] for d in tps)
    assert seg["consumer"] > seg["smb"] > seg["enterprise"] > seg["vip"]


def test_survey_rates_are_plausible(day: list[dict]) -> None:
    n = Counter(e["type"] for e in day)
    linked = sum(1 for e in day if e["type"] == RESP and "interaction_id" in e["data"])
    assert 0.25 < n[INV] / n[TP] < 0.40
    assert 0.22 < linked / n[INV] < 0.42
    intercepts = [e for e in day if e["type"] == RESP and "interaction_id" not in e["data"]]
    assert intercepts, "expected some web intercept responses"
    assert all(e["data"]["channel"] == "web" and e["data"]["weight"] > 0 for e in intercepts)


# -- timing ------------------------------------------------------------------
def test_invitations_and_responses_follow_their_touchpoint(day: list[dict]) -> None:
    started = {e["data"]["interaction_id"]: parse_time(e["time"]) for e in day if e["type"] == TP}
    invited = {e["data"]["interaction_id"]: parse_time(e["time"]) for e in day if e["type"] == INV}
    responses = [e for e in day if e["type"] == RESP and "interaction_id" in e["data"]]
    assert responses
    for iid, t in invited.items():
        assert t > started[iid]
    for e in responses:
        iid = e["data"]["interaction_id"]
        assert iid in invited, "a response always has an invitation"
        assert parse_time(e["time"]) > invited[iid] > started[iid]


# -- outcomes drive answers ------------------------------------------------------
def _nps(values: list[int]) -> float:
    return 100 * (sum(v >= 9 for v in values) - sum(v <= 6 for v in values)) / len(values)


def test_unresolved_contacts_make_detractors_and_teams_differ(week: list[dict]) -> None:
    tps = {e["data"]["interaction_id"]: e["data"] for e in week if e["type"] == TP}
    by_resolved: dict[bool, list[int]] = {True: [], False: []}
    by_team: dict[str, list[int]] = {}
    for e in week:
        a, iid = e["data"].get("answers", {}), e["data"].get("interaction_id")
        if e["type"] == RESP and iid and "nps" in a:
            by_resolved[tps[iid]["resolved"]].append(a["nps"])
            by_team.setdefault(tps[iid]["team"], []).append(a["nps"])
    assert _nps(by_resolved[True]) - _nps(by_resolved[False]) > 60
    assert _nps(by_team["t-support-1"]) - _nps(by_team["t-billing-2"]) > 40


# -- diurnal -------------------------------------------------------------------
def test_diurnal_peak_dwarfs_the_night(week: list[dict]) -> None:
    per_hour = Counter(parse_time(e["time"]).hour for e in week if e["type"] == TP)
    peak = max(per_hour.values())
    assert peak > 3 * per_hour[3]
    assert max(per_hour, key=per_hour.__getitem__) in (10, 11, 17, 18)


def test_weekends_are_quieter(week: list[dict]) -> None:
    per_day = Counter(parse_time(e["time"]).weekday() for e in week if e["type"] == TP)
    assert max(per_day[5], per_day[6]) < 0.75 * min(per_day[d] for d in range(5))


def test_rate_is_the_weekly_mean() -> None:
    sim = ContactCenterSimulator(3)
    hours = [MONDAY + timedelta(hours=h) for h in range(7 * 24)]
    assert statistics.mean(sim.expected_rate(h, 100) for h in hours) == pytest.approx(100, rel=0.02)


# -- incidents -----------------------------------------------------------------
INCIDENT = Incident(
    start=MONDAY + timedelta(hours=9), end=MONDAY + timedelta(hours=15),
    scope={"team": "t-billing-1"}, nps_shift=-4.0, csat_shift=-1.0,
)


def _scores_in_scope(events: list[dict], incident: Incident) -> list[int]:
    """NPS answers whose touchpoint started inside the incident and matches its scope."""
    tps = {e["data"]["interaction_id"]: e for e in events if e["type"] == TP}
    scores = []
    for e in events:
        iid = e["data"].get("interaction_id")
        if e["type"] != RESP or not iid or "nps" not in e["data"]["answers"]:
            continue
        tp = tps[iid]
        if incident.active(parse_time(tp["time"])) and incident.matches(tp["data"]):
            scores.append(e["data"]["answers"]["nps"])
    return scores


def test_incident_lowers_nps_in_scope_only() -> None:
    end = MONDAY + timedelta(days=1)
    base = ContactCenterSimulator(21).generate(MONDAY, end, 400)
    hit = ContactCenterSimulator(21, incidents=[INCIDENT]).generate(MONDAY, end, 400)
    # An answer-only incident consumes no randomness: same events, only scores move.
    assert [e["id"] for e in base] == [e["id"] for e in hit]
    before, during = _scores_in_scope(base, INCIDENT), _scores_in_scope(hit, INCIDENT)
    # Exact for this seed: pins the generator (update deliberately if the model changes).
    assert (len(before), sum(before)) == (65, 550)  # mean 8.4615...
    assert (len(during), sum(during)) == (65, 312)  # mean 4.8; clipping at 0 eats part of -4
    assert statistics.mean(before) - statistics.mean(during) > 2.5
    # Everything outside the scope is untouched.
    scoped = {e["data"]["interaction_id"] for e in base
              if e["type"] == TP and INCIDENT.active(parse_time(e["time"])) and INCIDENT.matches(e["data"])}

    def outside(evs: list[dict]) -> list[dict]:
        return [e for e in evs if e["type"] == RESP and e["data"].get("interaction_id") not in scoped]

    assert outside(base) == outside(hit)
    assert outside(base) != base


def test_incident_volume_factor_scales_scoped_volume() -> None:
    surge = Incident(MONDAY + timedelta(hours=8), MONDAY + timedelta(hours=20),
                     scope={"channel": "chat"}, volume_factor=3.0)
    end = MONDAY + timedelta(days=1)

    def scoped(evs: list[dict]) -> int:
        return sum(1 for e in evs if e["type"] == TP and surge.active(parse_time(e["time"]))
                   and e["data"]["channel"] == "chat")

    def others(evs: list[dict]) -> list[str]:
        return [e["id"] for e in evs if e["type"] == TP and e["data"]["channel"] != "chat"]

    base = ContactCenterSimulator(4).generate(MONDAY, end, 300)
    hit = ContactCenterSimulator(4, incidents=[surge]).generate(MONDAY, end, 300)
    assert 2.5 < scoped(hit) / scoped(base) < 3.5
    assert others(hit) == others(base)

    drop = Incident(surge.start, surge.end, scope={"channel": "chat"}, volume_factor=0.0)
    assert scoped(ContactCenterSimulator(4, incidents=[drop]).generate(MONDAY, end, 300)) == 0


def test_incident_rejects_unknown_dimension() -> None:
    with pytest.raises(ValueError, match="unknown dimension"):
        Incident(MONDAY, MONDAY + timedelta(hours=1), scope={"colour": "red"})
    with pytest.raises(ValueError):
        Incident(MONDAY, MONDAY, scope={})


def test_profile_rejects_unserved_journey_step() -> None:
    with pytest.raises(ValueError, match="no team serves"):
        TenantProfile(teams=TenantProfile().teams[:2])


# -- live driver ---------------------------------------------------------------
class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t

    async def sleep(self, dt: float) -> None:
        self.t += dt
        await asyncio.sleep(0)


async def test_drive_holds_back_future_events() -> None:
    sim = ContactCenterSimulator(8, rate_per_hour=600)
    clock, speedup = FakeClock(), 600.0  # one fake second = ten simulated minutes
    until = MONDAY + timedelta(hours=4)
    batches: list[tuple[datetime, list[dict]]] = []

    async def post(batch: list[dict]) -> None:
        sim_now = MONDAY + timedelta(seconds=(clock.t - 1000.0) * speedup)
        batches.append((sim_now, list(batch)))

    posted = await asyncio.wait_for(
        drive(post, sim, speedup=speedup, batch_size=50, start=MONDAY, until=until,
              tick_s=1.0, clock=clock, sleep=clock.sleep),
        timeout=30,
    )
    sent = [e for _, b in batches for e in b]
    assert posted == len(sent) and all(len(b) <= 50 for _, b in batches)
    # Nothing is sent before its time, and order is by time.
    for sim_now, batch in batches:
        assert all(parse_time(e["time"]) <= sim_now for e in batch)
    assert [e["time"] for e in sent] == sorted(e["time"] for e in sent)
    # Exactly the events due by `until`; the later ones (delayed responses) were held back.
    everything = sim.generate(MONDAY, until)
    due = [e for e in everything if parse_time(e["time"]) <= until]
    assert sorted(e["id"] for e in sent) == sorted(e["id"] for e in due)
    assert len(due) < len(everything)
    # Some responses were generated in an earlier tick and released in a later one.
    tp_tick = {e["data"]["interaction_id"]: t for t, b in batches for e in b if e["type"] == TP}
    late = [e for t, b in batches for e in b
            if e["type"] == RESP and e["data"].get("interaction_id") in tp_tick
            and t > tp_tick[e["data"]["interaction_id"]]]
    assert late


async def test_drive_stops_on_event() -> None:
    sim = ContactCenterSimulator(8, rate_per_hour=3600)
    stop = asyncio.Event()
    got: list[dict] = []

    async def post(batch: list[dict]) -> None:
        got.extend(batch)
        stop.set()

    # Real clock at a high speedup: bounded by wait_for, ends as soon as stop is set.
    posted = await asyncio.wait_for(drive(post, sim, speedup=3600, stop=stop, tick_s=0.05), timeout=10)
    assert posted == len(got) > 0
