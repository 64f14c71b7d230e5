"""Prometheus metrics of the pipeline's own health (one registry per process)."""
from __future__ import annotations

from typing import Any

from prometheus_client import Counter, Gauge, Histogram

EVENTS_ACCEPTED = Counter("cxpulse_events_accepted_total", "Events accepted by ingest", ["type"])
EVENTS_REJECTED = Counter("cxpulse_events_rejected_total", "Events rejected by ingest", ["reason"])
PRODUCE_LATENCY = Histogram(
    "cxpulse_produce_latency_seconds", "Time to produce one ingest request to Kafka (acks received)",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
DEAD_LETTERS = Counter("cxpulse_dead_letters_total", "Records sent to the dead-letter topic", ["reason"])
RECORDS_PROCESSED = Counter("cxpulse_records_processed_total", "Records applied to windows")
DUPLICATES_SKIPPED = Counter("cxpulse_duplicates_skipped_total", "Replayed or re-sent records skipped")
REATTRIBUTED = Counter("cxpulse_answers_reattributed_total", "Answers moved to their touchpoint's dimensions")
WINDOW_UPDATES = Counter("cxpulse_window_updates_total", "Window cells written to the warehouse")
LATE_WINDOW_LOADS = Counter("cxpulse_late_window_loads_total", "Closed windows reloaded for late events")
PENDING_ATTRIBUTION = Gauge("cxpulse_pending_attribution", "Answers waiting for their touchpoint")
CONSUMER_LAG = Gauge("cxpulse_consumer_lag", "Records behind the high watermark", ["topic", "partition"])
SINK_BATCH_ROWS = Histogram(
    "cxpulse_sink_batch_rows", "Rows per warehouse flush",
    buckets=(1, 10, 100, 500, 1000, 5000, 10000, 50000, 100000),
)
SINK_LATENCY = Histogram(
    "cxpulse_sink_latency_seconds", "Warehouse flush time",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
SINK_RETRIES = Counter("cxpulse_sink_retries_total", "Warehouse writes retried")
_FRESHNESS_BUCKETS = (0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 30, 60)
RECEIVE_DELAY = Histogram(
    "cxpulse_produce_to_receive_seconds",
    "From a message's Kafka timestamp to the stream processor receiving it in a batch",
    buckets=_FRESHNESS_BUCKETS,
)
FRESHNESS = Histogram(
    "cxpulse_produce_to_stored_seconds",
    "From a message's Kafka timestamp (ingest produced it) to its windows being stored",
    buckets=_FRESHNESS_BUCKETS,
)
COMMIT_LATENCY = Histogram(
    "cxpulse_commit_latency_seconds", "Whole commit of one batch",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


def observe_commit(result: Any, stats: Any, seconds: float, pending: int) -> None:
    RECORDS_PROCESSED.inc(result.applied)
    DUPLICATES_SKIPPED.inc(result.duplicates)
    REATTRIBUTED.inc(result.reattributed)
    WINDOW_UPDATES.inc(stats.window_rows)
    SINK_BATCH_ROWS.observe(stats.ledger_rows + stats.window_rows)
    SINK_LATENCY.observe(stats.seconds)
    SINK_RETRIES.inc(stats.retries)
    COMMIT_LATENCY.observe(seconds)
    PENDING_ATTRIBUTION.set(pending)
