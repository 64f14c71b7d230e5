"""Settings sections of the data path and the process around it, each a field of ``core.settings.Settings``.

Who owns what: ``kafka`` (broker and topics), ``warehouse`` (ClickHouse/chDB),
``stream`` (the Faust stream processors), ``api`` with its ``ApiKey`` entries
(HTTP ingest and queries), ``ingest_log`` (what a 202 stands on) and
``lifecycle`` (start, graceful stop, the local broker's watchdog). The
sections of the domain packages are in ``core.domain_settings``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from core.tenants import TENANT_PATTERN

Scope = Literal["ingest", "read", "admin"]


class ApiKey(BaseModel):
    tenant: str = Field(
        pattern=TENANT_PATTERN.pattern,
        description="Tenant the key acts for: lower-case letters, digits, `_` and `-`, at most 63 characters.",
    )
    scopes: list[Scope] = Field(
        default=["ingest", "read"],
        description="What the key may do: `ingest` (post events), `read` (query KPIs), `admin` (implies every scope).",
    )


class RateLimitSettings(BaseModel):
    requests_per_s: float = Field(
        default=0, ge=0,
        description="Requests per second each API key may make, refilled continuously (a token bucket per key, "
        "in each API process: with N API processes a key may make up to N times this). 0: no limit. A key "
        "created through `POST /v1/api-keys` may carry its own `rate_per_s`, which wins.",
    )
    burst: int = Field(
        default=0, ge=0,
        description="Requests a key may make at once after being idle (the bucket's size); 0: "
        "`max(1, requests_per_s)`. A key's own `burst` wins.",
    )


class KafkaSettings(BaseModel):
    bootstrap: str = Field(
        default="",
        description='Kafka bootstrap servers, "host:port[,host:port]"; '
        "empty means `cxpulse up` starts a local Tansu broker.",
    )
    partitions: int = Field(
        default=4, ge=1, le=1024,
        description="Partitions of every CX Pulse topic; the window state is sharded by it.",
    )
    replication_factor: int = Field(
        default=1, ge=1, description="Replication factor of the topics CX Pulse creates."
    )
    topic_prefix: str = Field(
        default="cx",
        description="Prefix of every topic name (`<prefix>.touchpoints.v1`, `<prefix>.events.dlq`, ...).",
    )
    tansu: bool = Field(
        default=False,
        description="The broker is Tansu (local development and tests): enables the workarounds in "
        "`stream_processors/tansu_compat.py`. `cxpulse up` sets it when it starts its own broker.",
    )
    local_port: int = Field(default=0, description="Local broker port for `cxpulse up` (0 = any free port).")
    rebalance_timeout_s: float = Field(
        default=4.0, gt=0,
        description="Faust/aiokafka consumer-group rebalance timeout, seconds. Tansu completes a join only "
        "after the rebalance timeout, so a short one makes starts fast; raise it on real clusters.",
    )
    session_timeout_s: float = Field(
        default=10.0, gt=0,
        description="Faust/aiokafka consumer-group session timeout, seconds; raise it on real clusters.",
    )
    heartbeat_interval_s: float = Field(
        default=1.0, gt=0,
        description="Faust/aiokafka consumer-group heartbeat interval, seconds; raise it on real clusters.",
    )
    max_record_bytes: int = Field(
        default=900_000, ge=10_000,
        description="Max bytes of one produced record (one record carries many events).",
    )


class WarehouseSettings(BaseModel):
    dsn: str = Field(
        default="",
        description='clickhouse-connect DSN: "chdb:///path" (embedded, in-process) or '
        '"http://user:pass@host:8123/db" (ClickHouse server). Empty = chDB under `data_dir`/chdb.',
    )
    database: str = Field(default="cxpulse", description="ClickHouse database holding the CX Pulse tables.")


class StreamSettings(BaseModel):
    app_id: str = Field(default="cxpulse", description="Faust application id (also the Kafka consumer group).")
    views: list[list[str]] = Field(
        default=[
            [], ["channel"], ["journey_step"], ["segment"], ["team"], ["agent_id"],
            ["queue"], ["channel", "segment"],
        ],
        description="Views kept as windowed state: each is a list of allowlisted dimensions "
        "(`[]` = overall), from the allowlist in `core/dimensions.py`.",
    )
    pending_views: list[list[str]] = Field(
        default=[],
        description="Views being added: the worker keeps them like `views` but reads do not use them (a "
        "crossing they hold is answered from the ledger) until `cxpulse views backfill` has written their "
        "history; then move them to `views`.",
    )
    window_sizes: list[Literal["1m", "1h", "1d"]] = Field(
        default=["1m", "1h", "1d"],
        description="Tumbling window sizes kept as state (rolling windows are answered from them).",
    )
    grace_s: int = Field(
        default=600, ge=0,
        description="How long (seconds) after the watermark a window stays in memory for late events.",
    )
    closed_window_cells: int = Field(
        default=50_000, ge=0,
        description="Cells of closed windows each shard keeps in memory, most recently touched first, so "
        "late events and history replayed behind the watermark update them without reloading them from "
        "the ledger (0: drop windows as soon as they close).",
    )
    batch_records: int = Field(default=500, ge=1, description="Micro-batch: records per take().")
    batch_within_s: float = Field(default=0.2, gt=0, description="Micro-batch: max wait of one take(), seconds.")
    interaction_cache: int = Field(
        default=200_000, ge=1000,
        description="Interactions whose dimensions stay cached for attributing survey answers.",
    )
    pending_attribution_max: int = Field(
        default=200_000, ge=1000,
        description="Answers and invitations each shard keeps waiting for their touchpoint (their interaction's "
        "first touchpoint not stored yet), whatever their age. Beyond it the oldest by event time is settled: it "
        "stays counted under its own dimensions, no later touchpoint moves it, and "
        "`cxpulse_pending_attribution_settled_total` counts it; a restarted worker restores exactly the ones "
        "still waiting.",
    )
    metrics_port: int = Field(
        default=9108, ge=0, le=65535,
        description="Port of the Prometheus `/metrics` endpoint of `cxpulse worker` (0: none). "
        "With the API in the same process, metrics are served by the API instead.",
    )


class ApiSettings(BaseModel):
    host: str = Field(default="127.0.0.1", description="Address the HTTP API listens on.")
    port: int = Field(default=8000, description="Port the HTTP API listens on.")
    max_body_bytes: int = Field(
        default=5_000_000, ge=1024, description="Largest request body the ingest endpoint accepts, bytes."
    )
    max_batch_events: int = Field(
        default=10_000, ge=1, description="Most events one ingest request may carry."
    )
    keys: dict[str, ApiKey] = Field(
        default={},
        description="API keys: Bearer token -> tenant and scopes. Also loadable from `keys_file`. For "
        "bootstrapping: keys created while running (`cxpulse keys`, `POST /v1/api-keys`) are stored hashed "
        "in the warehouse instead.",
    )
    keys_file: Path | None = Field(
        default=None,
        description="YAML/JSON file of API keys (same shape as `keys`); "
        "merged with `keys`, which win on the same token.",
    )

    key_cache_ttl_s: float = Field(
        default=5, ge=0, le=300,
        description="How long an API process trusts what it read of a stored API key (`POST /v1/api-keys`). "
        "A revocation or rotation takes effect at once in the process that made it, and within this many "
        "seconds in every other API process. 0: read the key on every request.",
    )
    key_last_used_flush_s: float = Field(
        default=30, gt=0, le=3600,
        description="How often an API process writes the last-used times of stored API keys (batched: no "
        "warehouse write per request; also written at shutdown). `GET /v1/api-keys` lags by up to this much.",
    )
    max_keys_per_tenant: int = Field(
        default=1000, ge=1,
        description="Most usable (neither revoked nor expired) stored API keys a tenant may have; "
        "`POST /v1/api-keys` answers 409 beyond it.",
    )
    rate_limit: RateLimitSettings = Field(
        default=RateLimitSettings(), description="Per-key request rate limits (429 with `Retry-After`).")

    @field_validator("keys_file", mode="before")
    @classmethod
    def _empty_is_unset(cls, v: object) -> object:
        return None if v == "" else v

    ingest_processes: int = Field(
        default=1, ge=0, le=64,
        description="Processes that parse and validate `POST /v1/events` bodies (0: in the event loop). "
        "Keeps CPU-bound validation off the loop the Faust worker shares in `cxpulse up`.",
    )
    min_sample: int = Field(
        default=30, ge=1, description="Values under this many answers are flagged `low_sample`."
    )
    max_future_s: float = Field(
        default=900, ge=0,
        description="Ingest rejects an event (path `time`) dated more than this many seconds ahead of the "
        "server clock: producer clocks may be a little fast, a year-9999 date is a bug.",
    )
    max_event_age_days: float = Field(
        default=3650, gt=0,
        description="Ingest rejects an event (path `time`) dated more than this many days before the server "
        "clock. Ten years by default, so backfills of any realistic history (and the fixed-date test and "
        "benchmark data) go through; lower it to refuse year-0001 style dates sooner.",
    )


class IngestLogSettings(BaseModel):
    """The ingest log (`ingest/log.py`): what a 202 stands on while the broker keeps messages in memory."""

    enabled: Literal["auto", "on", "off"] = Field(
        default="auto",
        description="Append every accepted request to a flushed log under `data_dir`/ingest-log before the 202 "
        "and replay it into the broker on start and after a broker restart. `auto`: on when the broker is "
        "Tansu (`kafka.tansu`, memory storage), off for Apache Kafka (whose `acks=all` with replication is "
        "the promise, see docs/operations.md).",
    )
    fsync: bool = Field(
        default=True,
        description="`fdatasync` the log before each acknowledgement (requests flushing together share one). "
        "false: a kill of the process loses nothing, a power loss can lose what the OS had not written.",
    )
    segment_bytes: int = Field(
        default=64 << 20, ge=1 << 16,
        description="Size at which a log segment is closed and a new one started; a segment is deleted whole "
        "once the warehouse holds all of it.",
    )
    max_bytes: int = Field(
        default=2 << 30, ge=1 << 20,
        description="Most bytes the log may hold; past it ingest answers 507 (the stream processors are too "
        "far behind) instead of acknowledging.",
    )
    trim_every_s: float = Field(
        default=2.0, gt=0, description="How often stored segments are deleted (and unacknowledged ones resent).")
    ack_timeout_s: float = Field(
        default=10.0, gt=0,
        description="Longest a request waits for Kafka's acknowledgement before it gets 503 (resending is safe).",
    )
    retry_after_s: int = Field(
        default=5, ge=1, description="`Retry-After` of a 503 while stopping or while the broker is down.")


class LifecycleSettings(BaseModel):
    """Start, graceful stop and the local broker's watchdog (`cxpulse/runtime.py`)."""

    drain_timeout_s: float = Field(
        default=60.0, ge=0,
        description="On SIGTERM/SIGINT: after ingest stopped accepting and requests in flight finished, how "
        "long the worker may drain the ingest log into the warehouse before the process exits (0 with what "
        "is left replayed on the next start). A second signal exits at once; nothing acknowledged is lost.",
    )
    broker_watch_every_s: float = Field(
        default=0.5, gt=0,
        description="How often `cxpulse up` checks that its local broker is alive; a dead one is restarted, "
        "the ingest log replayed into it and the worker reconnected.",
    )
