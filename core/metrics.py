"""Prometheus metric objects of the pipeline's own health (one registry per process).

Every metric of every role is defined here (objects only: the helpers that know a domain live with
their owner: ``alerts.metrics``, ``webhooks.metrics``, ``api.metrics``, ``stream_processors.checkpoint``,
which also create the series of their known label values), so `cxpulse api` and `cxpulse worker`
expose the same names (a role's own series move, the others stay at zero), and
deploy/prometheus and deploy/grafana are checked against this registry
(tests/unit/test_deploy_monitoring.py). Reference: docs/operations.md.
"""
from __future__ import annotations

import sys

from prometheus_client import Counter, Gauge, Histogram

#: Seconds, 5 ms to 10 s: the buckets of the request, flush and commit latencies (one scale to compare them on).
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

EVENTS_ACCEPTED = Counter("cxpulse_events_accepted_total", "Events accepted by ingest", ["type"])
EVENTS_REJECTED = Counter("cxpulse_events_rejected_total", "Events rejected by ingest", ["reason"])
PRODUCE_LATENCY = Histogram(
    "cxpulse_produce_latency_seconds", "Time to produce one ingest request to Kafka (acks received)",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
INGEST_REFUSED = Counter(
    "cxpulse_ingest_refused_total", "Ingest requests not acknowledged (503/507), by reason", ["reason"])
INGEST_LOG_FLUSH_LATENCY = Histogram(
    "cxpulse_ingest_log_flush_seconds", "Time to append and flush one request to the ingest log (group commit)",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1),
)
INGEST_LOG_BYTES = Gauge("cxpulse_ingest_log_bytes", "Bytes in the ingest log (not yet known to be stored)")
INGEST_LOG_PENDING = Gauge(
    "cxpulse_ingest_log_pending_events", "Events in the ingest log not yet known to be in the warehouse")
INGEST_LOG_REPLAYED = Counter(
    "cxpulse_ingest_log_replayed_events_total", "Events published again from the ingest log (start, broker restart)")
BROKER_RESTARTS = Counter("cxpulse_broker_restarts_total", "Restarts of the local broker after it died")
BROKER_UP = Gauge("cxpulse_broker_up", "1 while the broker this process produces to is usable")
DEAD_LETTERS = Counter("cxpulse_dead_letters_total", "Records sent to the dead-letter topic", ["reason"])
RECORDS_PROCESSED = Counter("cxpulse_records_processed_total", "Records applied to windows")
DUPLICATES_SKIPPED = Counter("cxpulse_duplicates_skipped_total", "Replayed or re-sent records skipped")
REATTRIBUTED = Counter("cxpulse_answers_reattributed_total", "Answers moved to their touchpoint's dimensions")
WINDOW_UPDATES = Counter("cxpulse_window_updates_total", "Window cells written to the warehouse")
LATE_WINDOW_LOADS = Counter("cxpulse_late_window_loads_total", "Closed windows reloaded for late events")
CLOSED_WINDOW_READS = Counter(
    "cxpulse_closed_window_reads_total", "Ledger reads loading closed windows (at most one per batch)")
CLOSED_WINDOWS_HELD = Gauge(
    "cxpulse_closed_windows_held", "Closed windows kept in memory for late events (stream.closed_window_cells)")
PENDING_ATTRIBUTION = Gauge("cxpulse_pending_attribution", "Answers waiting for their touchpoint")
PENDING_SETTLED = Counter(
    "cxpulse_pending_attribution_settled_total",
    "Answers and invitations that stopped waiting for their touchpoint at stream.pending_attribution_max "
    "(counted under their own dimensions)")
# The rest of the worker's memory, each bounded by a setting (or by the grace), so a soak can tell a leak
# from a full cache.
WINDOWS_HELD = Gauge("cxpulse_windows_held", "Windows in memory, open and closed (open ones are bounded by stream.grace_s)")
WINDOW_CELLS_HELD = Gauge("cxpulse_window_cells_held", "Counter cells of the windows in memory")
INTERACTION_CACHE = Gauge(
    "cxpulse_interaction_cache_entries", "Interactions whose touchpoint dimensions are cached (stream.interaction_cache per shard)")
ANSWERED_CACHE = Gauge(
    "cxpulse_answered_cache_entries", "Interactions known to have an answer, cached (stream.interaction_cache per shard)")
CONSUMER_LAG = Gauge("cxpulse_consumer_lag", "Records behind the high watermark", ["topic", "partition"])
SINK_BATCH_ROWS = Histogram(
    "cxpulse_sink_batch_rows", "Rows per warehouse flush",
    buckets=(1, 10, 100, 500, 1000, 5000, 10000, 50000, 100000),
)
SINK_LATENCY = Histogram(
    "cxpulse_sink_latency_seconds", "Warehouse flush time",
    buckets=_LATENCY_BUCKETS,
)
SINK_RETRIES = Counter("cxpulse_sink_retries_total", "Failed warehouse writes (each is retried until stored)")
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
PANEL_RULE_INEXACT = Gauge(
    "cxpulse_panel_respondent_rule_inexact",
    "1 while the respondent rule (panel.cooldown_days) is on and this worker holds only some partitions of the "
    "typed topics, so repeats can be miscounted (docs/architecture.md, Panel health); 0 otherwise")
COMMIT_LATENCY = Histogram(
    "cxpulse_commit_latency_seconds", "Whole commit of one batch",
    buckets=_LATENCY_BUCKETS,
)


# -- API (HTTP) ----------------------------------------------------------------------------
HTTP_REQUESTS = Counter(
    "cxpulse_http_requests_total", "API requests answered, by route template and status class",
    ["method", "route", "code"])
HTTP_LATENCY = Histogram(
    "cxpulse_http_request_seconds", "API time to the end of an answer, by route template (event streams excluded)",
    ["route"], buckets=_LATENCY_BUCKETS,
)
API_RATE_LIMITED = Counter(
    "cxpulse_api_rate_limited_total", "API requests refused with 429 by their key's rate limit (per API process)")

# -- warehouse sink ------------------------------------------------------------------------
SINK_LAST_SUCCESS = Gauge(
    "cxpulse_sink_last_success_timestamp_seconds",
    "Unix time of the last batch whose windows and ledger rows were stored (0: none yet)",
)

# -- alerting (the evaluator runs in `cxpulse worker`) ----------------------------------------
ALERT_EVALUATIONS = Counter("cxpulse_alert_evaluations_total", "Alert evaluator rounds", ["outcome"])
ALERT_LAST_EVALUATION = Gauge(
    "cxpulse_alert_last_evaluation_timestamp_seconds", "Unix time of the last successful evaluator round")
ALERT_RULES_EVALUATED = Counter("cxpulse_alert_rules_evaluated_total", "Enabled alert rules stepped")
ALERTS = Gauge("cxpulse_alerts", "Alerts by state after the last evaluator round", ["status"])
ALERT_NOTIFICATIONS = Counter(
    "cxpulse_alert_notifications_total", "Alert notifications published to the notifications topic", ["kind"])

# -- webhook delivery (the webhook-deliveries agent) -------------------------------------------
WEBHOOK_ATTEMPTS = Counter("cxpulse_webhook_attempts_total", "Webhook delivery attempts", ["outcome"])
WEBHOOK_LATENCY = Histogram(
    "cxpulse_webhook_attempt_seconds", "Duration of one webhook POST (any outcome)",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
WEBHOOK_DEAD_LETTERS = Counter("cxpulse_webhook_dead_letters_total", "Webhook deliveries given up (dead letters)")
WEBHOOK_DISABLED = Counter(
    "cxpulse_webhook_endpoints_disabled_total", "Subscriptions disabled because their endpoint answered 410 Gone")
WEBHOOK_EGRESS_REFUSED = Counter(
    "cxpulse_webhook_egress_refused_total",
    "Webhook URLs refused by the egress policy, at registration (422) or delivery (dead letter, no connection)",
    ["stage"])


def reference_table() -> str:
    """The Markdown table of every metric in this module (docs/operations.md embeds it; a test compares)."""
    rows = ["| metric | type | labels | meaning |", "| --- | --- | --- | --- |"]
    for obj in vars(sys.modules[__name__]).values():
        if isinstance(obj, (Counter, Gauge, Histogram)):
            name = obj._name + ("_total" if isinstance(obj, Counter) else "")
            kind = type(obj).__name__.lower()
            labels = ", ".join(f"`{label}`" for label in obj._labelnames)
            rows.append(f"| `{name}` | {kind} | {labels} | {obj._documentation} |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    print(reference_table(), end="")
