"""Throughput of the ingest hot path on one core: ``python -m bench.validation``.

Measures parse (orjson) + validate + flatten + pseudonymize for a mixed batch
of ~250-byte events, the shape ``POST /v1/events`` sees. It exists so a change
to the models or the pipeline shows its cost before it ships.
"""
from __future__ import annotations

import argparse
import time
from typing import Any

import orjson

from ingest.pseudonymize import Pseudonymizer
from ingest.validation import parse_body, validate_items


def sample_events(n: int) -> list[dict[str, Any]]:
    """``n`` realistic events: 50% touchpoints, 35% responses, 15% invitations."""
    events: list[dict[str, Any]] = []
    for i in range(n):
        envelope = {
            "specversion": "1.0",
            "id": f"evt-{i:012d}",
            "source": "/crm",
            "time": "2024-05-01T12:34:56Z",
        }
        kind = i % 20
        if kind < 10:
            events.append({**envelope, "type": "cx.touchpoint.v1", "data": {
                "interaction_id": f"int-{i:010d}", "customer_id": f"cust-{i % 5000:08d}",
                "channel": "chat", "journey_step": "billing", "segment": "gold",
                "wait_s": 42.5, "handle_s": 310, "resolved": True,
            }})
        elif kind < 17:
            events.append({**envelope, "type": "cx.survey.response.v1", "data": {
                "interaction_id": f"int-{i - 3:010d}", "customer_id": f"cust-{i % 5000:08d}",
                "survey_id": "post-contact", "answers": {"nps": 9, "csat": 5, "fcr": True},
                "comment": "quick",
            }})
        else:
            events.append({**envelope, "type": "cx.survey.invitation.v1", "data": {
                "interaction_id": f"int-{i - 1:010d}", "customer_id": f"cust-{i % 5000:08d}",
                "survey_id": "post-contact", "via": "email",
            }})
    return events


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=10_000, help="events per batch")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)

    body = orjson.dumps(sample_events(args.events))
    pseudonymizer = Pseudonymizer(b"bench-key-0123456789abcdef")
    best = float("inf")
    for _ in range(args.rounds):
        started = time.perf_counter()
        records, rejections = validate_items(parse_body(body, "application/json"), "acme", pseudonymizer)
        best = min(best, time.perf_counter() - started)
        assert len(records) == args.events and not rejections
    print(
        f"{args.events} events, {len(body) / args.events:.0f} bytes/event: "
        f"{args.events / best:,.0f} events/s (best of {args.rounds}, one core)"
    )


if __name__ == "__main__":
    main()
