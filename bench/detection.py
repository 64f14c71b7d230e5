"""Detection quality: live gap alerts vs naive fixed thresholds on simulated incidents (`make evaluate`).

What runs
1. A seeded scenario: one contact-center tenant at about 1,000 survey answers
   an hour (diurnal volume, small and large segments), one warm-up day, then
   ``--days`` evaluated days. Every other evaluated day holds three incidents
   of known start, scope and size, at business hours; the others are
   incident-free. Kinds, in turn: an NPS drop in one journey step x segment,
   a CSAT collapse in one team, a channel feed that stops.
2. The real pipeline: every event is POSTed to ``cxpulse up`` (HTTP ->
   Kafka/Tansu -> Faust -> chDB). When the worker has processed them all the
   stack stops and this process opens its warehouse.
3. Replay of the alert evaluator over simulated time, every minute: the
   same ``alerts.evaluator.evaluate`` (rules -> state machine) the worker
   runs, fed with windows read back from the warehouse, each evaluation
   seeing only data timed before it. Two rule sets, side by side:
   ``gap``   the live gap rules (``gaps.live``): baseline gaps of NPS and
             CSAT fanned out over channel, journey step, segment, team and
             journey step x segment, and data gaps of volume per channel;
   ``naive`` fixed thresholds on the current hour per value of the same
             dimensions (NPS and CSAT 15 and 10 points under the warm-up
             day's level, n >= 30) and "no contact for 5 minutes" per channel.
4. Scoring. An alert (a firing episode) is *explained* by an incident when it
   starts inside [start, end + 60 min] (the longest window), watches a metric the incident moves,
   and its scope does not contradict the incident's (alert {channel: phone}
   is explained by a team incident; {team: t-billing-1} is not by one in
   t-support-2). Precision = explained / all alerts; recall = incidents with
   an explained alert; time to detect = first explained alert - start;
   false alerts per incident-free day = unexplained alerts on those days.

Answer-based incidents shift answers *given* during the incident
(``Incident(affects="answers")``): time to detect then measures the
detector, not the survey programme's delay (a post-contact e-mail survey
answered 45 minutes later cannot be detected sooner, by any method).

Results are printed and written to bench/results/detection-<time>.json.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import orjson

from alerts.evaluator import evaluate
from alerts.rules import Rule
from alerts.state import AlertState, Status
from bench.e2e import KEY, _processed, _wait_ready, start_stack, stop_stack
from cxpulse.broker import free_port
from gaps.live import LiveFrame, LiveSpec
from alerts.gap_rules import live_spec
from clients.incidents import Incident
from clients.profiles import TenantProfile
from clients.simulator import ContactCenterSimulator
from clients.times import format_time
from kpi.counts import KpiCounts
from kpi.measures import Metric, measure
from core.windows import DAY_MS, HOUR_MS, MINUTE_MS, window_start
from warehouse import queries
from warehouse.client import Warehouse

TENANT = "demo"  # the tenant of the development key
START = datetime(2026, 11, 2, tzinfo=timezone.utc)  # a Monday
FAMILIES: tuple[tuple[str, ...], ...] = ((), ("channel",), ("journey_step",), ("segment",), ("team",),
                                         ("journey_step", "segment"))
#: The stored views: exactly the families the rules watch (fewer window rows to write for days of backfill).
VIEWS = [list(f) for f in FAMILIES]
#: An alert within this long after an incident's end is still explained by it: the longest
#: rolling window (60 min) holds answers from the incident that long.
GRACE_MS = 60 * MINUTE_MS

#: Incident scopes: key cells (>= 5 % of traffic), every team, the larger channels.
NPS_CELLS = [("support", "consumer"), ("billing", "consumer"), ("purchase", "consumer"), ("returns", "consumer"),
             ("support", "smb"), ("billing", "smb")]
TEAMS = ["t-billing-1", "t-billing-2", "t-support-1", "t-support-2", "t-sales-1", "t-returns-1"]
FEEDS = ["phone", "chat", "email", "web", "app"]


# --------------------------------------------------------------------------- scenario
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


def _profile() -> TenantProfile:
    # A contact centre surveying most contacts: ~1,000 answers an hour on a weekly mean.
    return TenantProfile(name=TENANT, invite_rate=0.6, response_rate=0.45)


def incident_metrics(inc: Incident) -> set[Metric]:
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


# --------------------------------------------------------------------------- ingest through the real stack
async def ingest(scenario: Scenario, data_dir: Path, batch: int = 1000, concurrency: int = 1) -> dict:
    port = free_port()
    # The scenario's calendar is fixed (from START), not the wall clock's: no event-time horizon.
    proc = start_stack(data_dir, port, CXPULSE_STREAM__VIEWS=json.dumps(VIEWS), CXPULSE_CASES__ENABLED="false",
                       CXPULSE_API__MAX_FUTURE_S="1e12", CXPULSE_API__MAX_EVENT_AGE_DAYS="1e6")
    sim = ContactCenterSimulator(scenario.seed, _profile(), incidents=scenario.incidents,
                                 rate_per_hour=scenario.rate_per_hour)
    posted = 0
    t0 = time.perf_counter()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=120,
                                     headers={"Authorization": f"Bearer {KEY}"}) as client:
            await _wait_ready(client, proc)
            headers = {"Content-Type": "application/cloudevents-batch+json"}
            end = scenario.end
            day = START
            later: list[dict] = []
            while day < end:
                nxt = day + timedelta(days=1)
                # Post in event-time order, as live traffic arrives: answers timed after this day wait for theirs.
                cut = format_time(min(nxt, end))
                fresh = sorted(later + sim.generate(day, nxt), key=lambda e: e["time"])
                events = [e for e in fresh if e["time"] < cut]
                later = [e for e in fresh if e["time"] >= cut]
                bodies = [orjson.dumps(events[i:i + batch]) for i in range(0, len(events), batch)]
                queue: asyncio.Queue[bytes] = asyncio.Queue()
                for b in bodies:
                    queue.put_nowait(b)

                async def sender() -> None:
                    while not queue.empty():
                        r = await client.post("/v1/events", content=queue.get_nowait(), headers=headers)
                        r.raise_for_status()

                await asyncio.gather(*(sender() for _ in range(concurrency)))
                posted += len(events)
                print(f"  {day:%a %d %b}: {len(events):>7} events posted ({posted} in all)", flush=True)
                day = nxt
            deadline = time.perf_counter() + 1800
            while _processed((await client.get("/metrics")).text) < posted:
                if time.perf_counter() > deadline:
                    raise SystemExit("the worker did not process every event within 30 minutes")
                await asyncio.sleep(0.5)
    finally:
        stop_stack(proc, 60)
    seconds = time.perf_counter() - t0
    return {"events": posted, "seconds": round(seconds, 1), "events_per_s": round(posted / seconds)}


# --------------------------------------------------------------------------- windows read back, in memory
@dataclass
class FamilyWindows:
    """Every 1m and 1h window of one dimension family, by group key."""

    minute0: int
    minutes: dict[tuple[str, ...], list[KpiCounts]]
    hour_rows: list[queries.WindowRow]
    hours: dict[tuple[str, ...], dict[int, KpiCounts]] = field(default_factory=dict)


async def load_windows(wh: Warehouse, scenario: Scenario) -> dict[tuple[str, ...], FamilyWindows]:
    first = int(START.timestamp() * 1000)
    last = int(scenario.end.timestamp() * 1000)
    n = (last - first) // MINUTE_MS
    zero = KpiCounts()
    out: dict[tuple[str, ...], FamilyWindows] = {}
    for dims in FAMILIES:
        view = queries.choose_view(VIEWS, set(dims))
        rows = await queries.read_windows(wh, TENANT, "1m", view, dims, {}, first // 1000, last // 1000)
        minutes: dict[tuple[str, ...], list[KpiCounts]] = {}
        for r in rows:
            minutes.setdefault(r.group, [zero] * n)[(r.window_start * 1000 - first) // MINUTE_MS] = r.counts
        hour_rows = await queries.read_windows(wh, TENANT, "1h", view, dims, {}, first // 1000, last // 1000)
        fw = FamilyWindows(first, minutes, hour_rows)
        for r in hour_rows:
            fw.hours.setdefault(r.group, {})[r.window_start * 1000] = r.counts
        out[dims] = fw
    return out


def frame_at(fw: FamilyWindows, end_ms: int, spec: LiveSpec) -> LiveFrame:
    """The frame the live evaluator would read at ``end_ms``: minutes before it, complete hours before it."""
    n = spec.longest_ms // MINUTE_MS
    i = (end_ms - fw.minute0) // MINUTE_MS
    minutes = {k: v[max(0, i - n):i] if i >= n else [KpiCounts()] * (n - i) + v[:i] for k, v in fw.minutes.items()}
    # Whole hours are passed: the detector reads only hours before the recent window, and earlier days.
    return LiveFrame(end_ms, minutes, fw.hours, first_data_ms=fw.minute0)


def counts_before(fw: FamilyWindows, key: tuple[str, ...], window: str, end_ms: int) -> KpiCounts:
    """Naive rules: the current (partial) bucket of ``window`` up to ``end_ms``, from minute windows."""
    size = {"1m": MINUTE_MS, "1h": HOUR_MS}[window]
    start = window_start(end_ms - 1, size)
    out = KpiCounts()
    series = fw.minutes.get(key)
    if series is None:
        return out
    for i in range((start - fw.minute0) // MINUTE_MS, (end_ms - fw.minute0) // MINUTE_MS):
        if 0 <= i < len(series):
            out.add(series[i])
    return out


# --------------------------------------------------------------------------- rules
def gap_rules(min_n: int = 10, alpha: float = 1e-4) -> list[Rule]:
    rules = []
    for metric in (Metric.nps, Metric.csat):
        for dims in FAMILIES:
            rid = f"gap-{metric.value}-{'-'.join(dims) or 'all'}"
            rules.append(Rule(id=rid, name=rid, metric=metric, condition="gap",
                              gap={"kind": "baseline", "dimensions": list(dims), "alpha": alpha},
                              min_n=min_n, severity="warning", labels={"family": "+".join(dims) or "all"}))
    for dims in ((), ("channel",)):
        rid = f"gap-volume-{'-'.join(dims) or 'all'}"
        rules.append(Rule(id=rid, name=rid, metric=Metric.volume, condition="gap",
                          gap={"kind": "data", "dimensions": list(dims), "lengths_min": [5, 15, 30]},
                          min_n=1, severity="critical", labels={"family": "+".join(dims) or "all"}))
    return rules


def naive_rules(windows: dict[tuple[str, ...], FamilyWindows], warmup_end_ms: int) -> list[Rule]:
    overall = windows[()]
    level = KpiCounts()
    for h, c in overall.hours[()].items():
        if h < warmup_end_ms:
            level.add(c)
    nps_level = measure(Metric.nps, level).value
    csat_level = measure(Metric.csat, level).value
    rules = []
    for dims in FAMILIES:
        keys = sorted(k for k in windows[dims].minutes if all(k))
        for key in keys:
            scope = dict(zip(dims, key))
            tag = "-".join(key) or "all"
            for metric, threshold in ((Metric.nps, round(nps_level - 15)), (Metric.csat, round(csat_level - 10))):
                rid = f"naive-{metric.value}-{tag}"
                rules.append(Rule(id=rid, name=rid, metric=metric, condition="below", threshold=threshold,
                                  window="1h", scope=scope, min_n=30, labels={"family": "+".join(dims) or "all"}))
    for (channel,) in sorted(k for k in windows[("channel",)].minutes if all(k)):
        rid = f"naive-volume-{channel}"
        rules.append(Rule(id=rid, name=rid, metric=Metric.volume, condition="below", threshold=1, window="1m",
                          scope={"channel": channel}, min_n=1, for_s=300, labels={"family": "channel"}))
    return rules


# --------------------------------------------------------------------------- replay
@dataclass(frozen=True)
class Episode:
    rule_id: str
    metric: Metric
    scope: dict[str, str]
    fired_ms: int


async def replay(rules: list[Rule], windows: dict[tuple[str, ...], FamilyWindows], start_ms: int,
                 end_ms: int, label: str) -> list[Episode]:
    """Step every rule once a simulated minute; the firing episodes, in order."""
    specs = {r.id: live_spec(r) for r in rules if r.gap is not None}
    family_of = {r.id: tuple(r.gap.dimensions) if r.gap is not None else tuple(r.scope) for r in rules}
    states: dict[tuple[str, str], AlertState] = {}
    episodes: list[Episode] = []

    async def read_counts(tenant: str, rule: Rule, now_ms: int) -> KpiCounts:
        dims = tuple(rule.scope)
        return counts_before(windows[dims], tuple(rule.scope[d] for d in dims), rule.window, now_ms)

    async def read_frame(tenant: str, rule: Rule, now_ms: int) -> LiveFrame:
        return frame_at(windows[family_of[rule.id]], now_ms, specs[rule.id])

    pairs = [(TENANT, r) for r in rules]
    total = (end_ms - start_ms) // MINUTE_MS
    t0 = time.perf_counter()
    for i, now in enumerate(range(start_ms, end_ms, MINUTE_MS)):
        for t in await evaluate(pairs, read_counts, now, states, None, read_frame):
            states[(t.tenant, t.fingerprint)] = t.after
            if t.after.status is Status.firing and t.before.status is not Status.firing:
                episodes.append(Episode(t.rule.id, t.rule.metric, dict(t.rule.scope), now))
        if i % 720 == 0 or i == total - 1:
            pct = 100 * (i + 1) / total
            print(f"\r  {label:<6} {pct:5.1f}% of {total} minutes, {len(episodes)} alerts, "
                  f"{time.perf_counter() - t0:.0f}s", end="", flush=True)
    print(flush=True)
    return episodes


# --------------------------------------------------------------------------- scoring
def explains(inc: Incident, ep: Episode) -> bool:
    start = int(inc.start.timestamp() * 1000)
    end = int(inc.end.timestamp() * 1000)
    if not (start <= ep.fired_ms <= end + GRACE_MS) or ep.metric not in incident_metrics(inc):
        return False
    return all(inc.scope.get(d, v) == v for d, v in ep.scope.items())


def score(scenario: Scenario, episodes: Sequence[Episode], rates: Sequence[float] | None = None) -> dict:
    explained = [ep for ep in episodes if any(explains(inc, ep) for inc in scenario.incidents)]
    ttd: list[float] = []
    per_incident = []
    for i, inc in enumerate(scenario.incidents):
        hits = [ep.fired_ms for ep in episodes if explains(inc, ep)]
        start = int(inc.start.timestamp() * 1000)
        minutes = (min(hits) - start) / MINUTE_MS if hits else None
        if minutes is not None:
            ttd.append(minutes)
        per_incident.append({"start": inc.start.isoformat(), "scope": inc.scope,
                             "metric": sorted(m.value for m in incident_metrics(inc)),
                             "detected_after_min": minutes,
                             "rate_per_min": rates[i] if rates else None})
    eval0 = int(scenario.eval_start.timestamp() * 1000)
    quiet_days = [d for d in range(scenario.days) if d not in scenario.incident_days]
    false_quiet = [ep for ep in episodes if ep not in explained
                   and (ep.fired_ms - eval0) // DAY_MS in quiet_days]
    ttd.sort()
    return {
        "alerts": len(episodes),
        "explained": len(explained),
        "precision": round(len(explained) / len(episodes), 3) if episodes else None,
        "recall": round(len(ttd) / len(scenario.incidents), 3),
        "ttd_median_min": statistics.median(ttd) if ttd else None,
        "ttd_p90_min": ttd[min(len(ttd) - 1, int(0.9 * len(ttd)))] if ttd else None,
        "false_per_quiet_day": round(len(false_quiet) / max(1, len(quiet_days)), 2),
        "incidents": per_incident,
        "false_alert_scopes": sorted({f"{ep.rule_id} {ep.scope}" for ep in episodes if ep not in explained})[:20],
    }


def scope_rates(scenario: Scenario, windows: dict[tuple[str, ...], FamilyWindows]) -> list[float]:
    """Events a minute in each incident's scope over the 30 minutes before it: what its detection
    can learn from. Answers (of the metric it moves) for answer incidents, contacts for feeds."""
    out: list[float] = []
    for inc in scenario.incidents:
        dims = next(f for f in FAMILIES if set(f) == set(inc.scope))
        fw = windows[dims]
        key = tuple(inc.scope[d] for d in dims)
        metric = next(iter(sorted(incident_metrics(inc) - {Metric.responses}, key=lambda m: m.value)))
        start = int(inc.start.timestamp() * 1000)
        total = KpiCounts()
        for i in range((start - 30 * MINUTE_MS - fw.minute0) // MINUTE_MS, (start - fw.minute0) // MINUTE_MS):
            if key in fw.minutes:
                total.add(fw.minutes[key][i])
        out.append(round(measure(metric, total).n / 30, 2))
    return out


# --------------------------------------------------------------------------- main
async def main_async(args: argparse.Namespace) -> dict:
    scenario = build_scenario(args.seed, args.days, args.warmup_days, args.rate)
    data = Path(args.data_dir or tempfile.mkdtemp(prefix="cxpulse-evaluate-"))
    data.mkdir(parents=True, exist_ok=True)
    print(f"scenario: seed {scenario.seed}, {scenario.warmup_days} warm-up + {scenario.days} days from "
          f"{START:%a %d %b %Y}, {len(scenario.incidents)} incidents; data in {data}", flush=True)
    ingested = None
    if not args.skip_ingest:
        print("ingest: POST -> Kafka -> Faust -> chDB", flush=True)
        ingested = await ingest(scenario, data)
    wh = await asyncio.to_thread(Warehouse.open, f"chdb://{(data / 'chdb').resolve()}", "cxpulse")
    windows = await load_windows(wh, scenario)
    responses = sum(measure(Metric.responses, c).n for c in windows[()].hours[()].values())
    hours = (scenario.end - START).total_seconds() / 3600
    eval0 = int(scenario.eval_start.timestamp() * 1000)
    end = int(scenario.end.timestamp() * 1000)
    results = {}
    rates = scope_rates(scenario, windows)
    for label, rules in (("gap", gap_rules(args.min_n, args.alpha)), ("naive", naive_rules(windows, eval0))):
        episodes = await replay(rules, windows, eval0, end, label)
        results[label] = score(scenario, episodes, rates) | {"rules": len(rules)}
    return {"scenario": {"seed": scenario.seed, "days": scenario.days, "warmup_days": scenario.warmup_days,
                         "incidents": len(scenario.incidents), "responses_per_hour": round(responses / hours)},
            "ingest": ingested, "results": results}


def _fmt(v: object) -> str:
    return "-" if v is None else (f"{v:.2f}" if isinstance(v, float) else str(v))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--days", type=int, default=8, help="evaluated days (every other one has incidents)")
    parser.add_argument("--warmup-days", type=int, default=1)
    parser.add_argument("--rate", type=float, default=3500, help="touchpoints per hour, weekly mean")
    parser.add_argument("--data-dir", help="keep the stack's data here (default: a temporary directory)")
    parser.add_argument("--min-n", type=int, default=10, help="gap rules: answers a recent window needs")
    parser.add_argument("--alpha", type=float, default=1e-4, help="gap rules: false-gap level per evaluation")
    parser.add_argument("--skip-ingest", action="store_true", help="reuse --data-dir from an earlier run")
    args = parser.parse_args()
    result = asyncio.run(main_async(args))
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    path = out / f"detection-{time.strftime('%Y%m%dT%H%M%S')}.json"
    path.write_text(json.dumps(result, indent=2, default=str) + "\n")
    s = result["scenario"]
    print(f"\nCX Pulse detection quality: {s['days']} days after {s['warmup_days']} warm-up, "
          f"{s['incidents']} incidents, {s['responses_per_hour']} answers/hour")
    if result["ingest"]:
        i = result["ingest"]
        print(f"  ingested {i['events']} events through the real pipeline in {i['seconds']} s "
              f"({i['events_per_s']} events/s)")
    rows = (("recall", "recall", ">= 0.95"), ("precision", "precision", ">= 0.90"),
            ("ttd_median_min", "median time to detect (min)", "<= 10"), ("ttd_p90_min", "p90 time to detect (min)", ""),
            ("false_per_quiet_day", "false alerts / incident-free day", "< 1"), ("alerts", "alerts fired", ""),
            ("rules", "rules", ""))
    print(f"  {'':34} {'gap detector':>14} {'naive threshold':>16}   target")
    for key, name, target in rows:
        print(f"  {name:34} {_fmt(result['results']['gap'][key]):>14} {_fmt(result['results']['naive'][key]):>16}"
              f"   {target}")
    print("\n  incidents (events a minute in scope before it; minutes to the first explained alert)")
    for g, n in zip(result["results"]["gap"]["incidents"], result["results"]["naive"]["incidents"]):
        scope = ", ".join(f"{k}={v}" for k, v in g["scope"].items())
        print(f"  {g['start'][:16]}  {'+'.join(g['metric']):16} {scope:40} {_fmt(g['rate_per_min']):>6}/min"
              f"  gap {_fmt(g['detected_after_min']):>5}  naive {_fmt(n['detected_after_min']):>5}")
    print(f"  written to {path}")


if __name__ == "__main__":
    main()
