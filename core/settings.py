"""Settings for every CX Pulse service, one section per service.

Loaded from the environment (``CXPULSE_<SECTION>__<FIELD>``, plus a few
short aliases documented in ``docs/configuration.md``) and optionally a
YAML/JSON file named by ``CXPULSE_CONFIG_FILE``. ``get_settings()`` is cached
and never called at import time, so tests build their own ``Settings``.
A bad value stops the process at start with pydantic's message.
"""
from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Annotated, Any, Literal

import orjson
import yaml
from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from core.tenants import TENANT_PATTERN

PLACEHOLDER_SECRETS = {"", "changeme", "change-me", "secret", "dev"}

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
    window_sizes: list[Literal["1m", "1h", "1d"]] = Field(
        default=["1m", "1h", "1d"],
        description="Tumbling window sizes kept as state (rolling windows are answered from them).",
    )
    grace_s: int = Field(
        default=600, ge=0,
        description="How long (seconds) after the watermark a window stays in memory for late events.",
    )
    batch_records: int = Field(default=500, ge=1, description="Micro-batch: records per take().")
    batch_within_s: float = Field(default=0.2, gt=0, description="Micro-batch: max wait of one take(), seconds.")
    interaction_cache: int = Field(
        default=200_000, ge=1000,
        description="Interactions whose dimensions stay cached for attributing survey answers.",
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
        description="API keys: Bearer token -> tenant and scopes. Also loadable from `keys_file`.",
    )
    keys_file: Path | None = Field(
        default=None,
        description="YAML/JSON file of API keys (same shape as `keys`); "
        "merged with `keys`, which win on the same token.",
    )

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


class GapSettings(BaseModel):
    """Live gap detection (`GET /v1/gaps`, stream evaluation). Owned by `gaps/`."""

    confidence: float = Field(default=0.95, gt=0.5, lt=1.0, description="Confidence level of gap significance.")
    min_n: int = Field(
        default=30, ge=1,
        description="Answers (touchpoints for operational metrics) a value needs on each side before a gap "
        "on it can be significant; smaller samples are reported with `low_sample` and never flagged.",
    )
    min_expected_volume: float = Field(
        default=5.0, gt=0,
        description="Data gaps: a scope is checked only when its baseline expects at least this many events "
        "in the window; 0 events against such a baseline is `silent`.",
    )
    baseline_weeks: int = Field(
        default=4, ge=1, le=52,
        description="Baseline of `window=1h` gaps: the same hour of this many previous weeks.",
    )
    baseline_days: int = Field(
        default=7, ge=1, le=90,
        description="Baseline of `window=1d` gaps: this many previous days.",
    )
    live_lengths_min: list[Annotated[int, Field(ge=1, le=1440)]] = Field(
        default=[10, 20, 30, 60], min_length=1,
        description="`window=live` gaps: rolling lengths (minutes) of the recent window tested against the "
        "scope's own history (`baseline_days` days of hourly windows); the most significant is reported.",
    )
    live_alpha: float = Field(
        default=1e-4, gt=0, lt=1,
        description="`window=live` gaps: family-wise false-gap level per evaluation, split over scopes x "
        "lengths. Small because live gaps are re-tested every minute (see `make evaluate`).",
    )
    live_min_n: int = Field(
        default=10, ge=1, description="`window=live` gaps: answers the recent window needs before it is tested "
        "(small samples get exact tails).")


class AlertSettings(BaseModel):
    """Threshold alert rules and their state machine. Owned by `alerts/`."""

    evaluate_every_s: float = Field(default=15.0, gt=0, description="How often rules are evaluated.")
    max_rules_per_tenant: int = Field(
        default=1000, ge=1, description="Most alert rules one tenant may hold (API and rules files).")
    max_silence_s: int = Field(
        default=30 * 86_400, ge=60, description="Longest a silence may last, seconds (silences are time-boxed).")
    max_history: int = Field(
        default=1000, ge=1, description="Most alert history entries one `GET /v1/alerts` returns.")


class WebhookSettings(BaseModel):
    """Signed webhook deliveries (Standard Webhooks). Owned by `webhooks/`."""

    timeout_s: float = Field(default=10.0, gt=0, description="Per-attempt HTTP timeout of a delivery.")
    max_attempts: int = Field(
        default=8, ge=1, le=50,
        description="Attempts per delivery (the first one included); after the last failed one the "
        "delivery becomes a dead letter, replayable with `POST /v1/webhooks/deliveries/{id}/replay`.",
    )
    backoff_base_s: float = Field(
        default=1.0, gt=0,
        description="Backoff before retry *n* is drawn uniformly from [0, min(max_backoff_s, "
        "backoff_base_s * 2^(n-1))] (exponential backoff with full jitter), seconds.",
    )
    max_backoff_s: float = Field(
        default=300.0, gt=0,
        description="Longest wait between two attempts, seconds; also caps a receiver's `Retry-After`.",
    )
    max_in_flight: int = Field(
        default=32, ge=1, le=1024,
        description="Most HTTP requests in flight at once per worker, over every subscription.",
    )
    agent_concurrency: int = Field(
        default=8, ge=1, le=256,
        description="Notifications the delivery agent handles at once per worker, so a slow receiver "
        "holds up at most this many.",
    )
    subscription_cache_ttl_s: float = Field(
        default=5.0, ge=0,
        description="How long the delivery agent caches a tenant's subscriptions, seconds "
        "(API changes apply after at most this long).",
    )
    content_type: Literal["application/cloudevents+json", "application/json"] = Field(
        default="application/cloudevents+json",
        description="Content-Type of delivered bodies (a structured-mode CloudEvent either way).",
    )
    user_agent: str = Field(default="cxpulse-webhooks/0.1", description="User-Agent of deliveries.")
    external_url: str = Field(
        default="",
        description="Public base URL of this CX Pulse API, sent as `externalURL` of Alertmanager-format bodies; "
        "their `generatorURL` links the alert rule under it (empty: both empty).",
    )


CaseSeverity = Literal["low", "medium", "high", "critical"]


class CaseCondition(BaseModel):
    """One answer compared with a value, e.g. ``{"name": "detractor", "metric": "nps", "op": "le", "value": 6}``.
    Evaluated by ``cases.conditions``."""

    name: str = Field(min_length=1, max_length=64, description="Reason recorded on the case.")
    metric: Literal["nps", "csat", "ces", "fcr"] = Field(description="Answer compared (fcr: 1 = yes, 0 = no).")
    op: Literal["le", "lt", "ge", "gt", "eq"] = Field(description="Comparison: answer <op> value.")
    value: float = Field(description="Value the answer is compared with.")
    severity: CaseSeverity = Field(default="medium", description="Severity of a case this condition opens.")


DEFAULT_CASE_CONDITIONS: list[CaseCondition] = [
    CaseCondition(name="detractor", metric="nps", op="le", value=6, severity="high"),
    CaseCondition(name="low_csat", metric="csat", op="le", value=2, severity="high"),
    CaseCondition(name="high_effort", metric="ces", op="le", value=3, severity="medium"),
]


class CaseSettings(BaseModel):
    """Closed loop: cases opened by single responses. Owned by `cases/`."""

    enabled: bool = Field(
        default=True,
        description="Open cases from survey responses (the `case-opener` agent, micro-batched like "
        "`kpi-windows`) and escalate them past their SLA.",
    )
    conditions: list[CaseCondition] = Field(
        default=DEFAULT_CASE_CONDITIONS,
        description="Conditions on one answer that open a case, each `{name, metric: nps|csat|ces|fcr, "
        "op: le|lt|ge|gt|eq, value, severity: low|medium|high|critical}`; default: a detractor (NPS <= 6), "
        "CSAT <= 2, CES <= 3. A response matching several opens one case at the highest severity.",
    )
    scope_dims: list[str] = Field(
        default=["channel", "queue", "team"],
        description="Dimensions of a response that make up its case scope; at most one case per customer "
        "and scope is open at a time (later responses are suppressed into it).",
    )
    routing: list[str] = Field(
        default=["team", "queue"],
        description="Dimensions consulted in order to find a case owner in `owners` (e.g. the agent's team "
        "lead first, then the queue owner).",
    )
    owners: dict[str, dict[str, str]] = Field(
        default={},
        description='Owner by dimension and value, e.g. `{"team": {"billing": "lead-billing"}, '
        '"queue": {"vip": "vip-owner"}}`.',
    )
    default_owner: str = Field(default="cx-ops", description="Owner of a case no `routing` dimension matched.")
    sla_s: dict[CaseSeverity, int] = Field(
        default={"critical": 3_600, "high": 4 * 3_600, "medium": 24 * 3_600, "low": 72 * 3_600},
        description="Time to close a case by severity, seconds; an open or acknowledged case past it is "
        "escalated (`cx.case.escalated.v1`).",
    )
    escalate_every_s: float = Field(default=30.0, gt=0, description="How often cases are checked against their SLA.")
    batch_within_s: float = Field(
        default=1.0, gt=0,
        description="Micro-batch of the `case-opener` agent: longest a response waits before its case opens, "
        "seconds (at most `stream.batch_records` messages per batch). Its warehouse round trips are per batch, "
        "so a longer wait costs less at high response rates.",
    )
    routes: list[str] = Field(
        default=[],
        description="Webhook subscription ids every case notification is routed to (`data.routes`); "
        "empty: subscriptions match by event type and filters.",
    )
    max_list: int = Field(default=1000, ge=1, description="Most cases one `GET /v1/cases` returns.")

    @field_validator("scope_dims", "routing")
    @classmethod
    def _known_dimensions(cls, v: list[str]) -> list[str]:
        from core.dimensions import validate_view

        validate_view(v)
        return v

    @field_validator("owners")
    @classmethod
    def _known_owner_dimensions(cls, v: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
        from core.dimensions import validate_view

        validate_view(list(v))
        return v


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CXPULSE_", env_nested_delimiter="__", extra="ignore"
    )

    data_dir: Path = Field(
        default=Path(".cxpulse"),
        description="State directory: Faust state, the embedded chDB, generated dev secrets, local broker log.",
    )
    pseudonym_key: str = Field(
        default="",
        description="Keyed-hash secret that pseudonymizes customer ids before they reach Kafka; "
        "at least 16 characters, not a placeholder. Empty: generated under `data_dir` for local "
        "runs (local broker or embedded warehouse), otherwise the process refuses to start.",
    )
    dev_api_key: str = Field(
        default="",
        description="Development key created by `cxpulse up` (tenant `demo`, all scopes); "
        "generated under `data_dir` when empty.",
    )
    log_level: str = Field(default="INFO", description="Python logging level name (DEBUG, INFO, WARNING, ...).")
    kafka: KafkaSettings = Field(default=KafkaSettings(), description="Kafka broker and topics.")
    warehouse: WarehouseSettings = Field(default=WarehouseSettings(), description="ClickHouse / chDB warehouse.")
    stream: StreamSettings = Field(
        default=StreamSettings(), description="Faust stream processors (windowed KPI state)."
    )
    api: ApiSettings = Field(default=ApiSettings(), description="HTTP API (ingest and KPI queries).")
    gaps: GapSettings = Field(default=GapSettings(), description="Live gap detection.")
    alerts: AlertSettings = Field(default=AlertSettings(), description="Threshold alert rules.")
    webhooks: WebhookSettings = Field(default=WebhookSettings(), description="Signed webhook deliveries.")
    cases: CaseSettings = Field(default=CaseSettings(), description="Closed loop: cases from single responses.")
    ingest_log: IngestLogSettings = Field(
        default=IngestLogSettings(), description="Durable acknowledgement: the ingest log under `data_dir`.")
    lifecycle: LifecycleSettings = Field(
        default=LifecycleSettings(), description="Graceful stop and the local broker's watchdog.")

    @field_validator("pseudonym_key")
    @classmethod
    def _reject_placeholder_key(cls, v: str) -> str:
        if v and (v.lower() in PLACEHOLDER_SECRETS or len(v) < 16):
            raise ValueError("pseudonym_key must be a real secret of at least 16 characters")
        return v

    @model_validator(mode="after")
    def _load_keys_file(self) -> "Settings":
        if self.api.keys_file:
            raw = _read_structured(self.api.keys_file)
            self.api.keys = {**{k: ApiKey.model_validate(v) for k, v in raw.items()}, **self.api.keys}
        for view in self.stream.views:
            from core.dimensions import validate_view

            validate_view(view)
        return self

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _ShortAliases(settings_cls), _ConfigFile(settings_cls))

    # -- derived values ------------------------------------------------------
    @property
    def warehouse_dsn(self) -> str:
        return self.warehouse.dsn or f"chdb://{(self.data_dir / 'chdb').resolve()}"

    @property
    def ingest_log_on(self) -> bool:
        """Whether ingest acknowledges through the ingest log (``ingest_log.enabled``)."""
        return self.ingest_log.enabled == "on" or (self.ingest_log.enabled == "auto" and self.kafka.tansu)

    @property
    def embedded_warehouse(self) -> bool:
        return self.warehouse_dsn.startswith("chdb://")


class _ShortAliases(PydanticBaseSettingsSource):
    """Short env names scripts use (`CXPULSE_API_PORT`, `CXPULSE_KAFKA_BOOTSTRAP`, ...)."""

    _ALIASES = {
        "CXPULSE_API_PORT": ("api", "port"),
        "CXPULSE_API_HOST": ("api", "host"),
        "CXPULSE_KAFKA_BOOTSTRAP": ("kafka", "bootstrap"),
        "CXPULSE_KAFKA_PARTITIONS": ("kafka", "partitions"),
        "CXPULSE_WAREHOUSE_DSN": ("warehouse", "dsn"),
    }

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:  # pragma: no cover
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for env, (section, key) in self._ALIASES.items():
            if env in os.environ:
                out.setdefault(section, {})[key] = os.environ[env]
        return out


class _ConfigFile(PydanticBaseSettingsSource):
    """Lowest-priority source: the YAML/JSON file named by CXPULSE_CONFIG_FILE."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:  # pragma: no cover
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        path = os.environ.get("CXPULSE_CONFIG_FILE")
        return _read_structured(Path(path)) if path else {}


def _read_structured(path: Path) -> dict[str, Any]:
    text = Path(path).read_bytes()
    data = orjson.loads(text) if str(path).endswith(".json") else yaml.safe_load(text)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping at the top level")
    return data


@functools.lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
