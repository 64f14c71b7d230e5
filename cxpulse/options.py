"""What one ``cxpulse`` process runs: the API, the worker, or both, and the demo traffic."""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["RunOptions"]


@dataclass
class RunOptions:
    api: bool = True
    worker: bool = True
    #: start the embedded broker (Tansu) when none is configured (``cxpulse up``)
    allow_local_broker: bool = False
    demo: bool = False
    demo_rate_per_hour: float = 6000.0
    demo_backfill_hours: float = 3.0
