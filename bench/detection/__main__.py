"""``python -m bench.detection`` (`make evaluate`): run the steps of ``bench.detection`` and report both rule sets."""
from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path

import bench.detection
from bench.detection.ingest import ingest
from bench.detection.replay import gap_rules, naive_rules, replay
from bench.detection.scenario import START, build_scenario, epoch_ms
from bench.detection.scoring import score, scope_rates
from bench.detection.windows import load_windows
from kpi.measures import Metric, measure
from warehouse.client import Warehouse


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
    eval0 = epoch_ms(scenario.eval_start)
    end = epoch_ms(scenario.end)
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
    parser = argparse.ArgumentParser(prog="python -m bench.detection", description=bench.detection.__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
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
    out = Path(__file__).parents[1] / "results"  # bench/results
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
