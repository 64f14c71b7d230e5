"""Settings for every CX Pulse service, one section per service.

Loaded from the environment (``CXPULSE_<SECTION>__<FIELD>``, plus a few
short aliases documented in ``docs/configuration.md``) and optionally a
YAML/JSON file named by ``CXPULSE_CONFIG_FILE``. ``get_settings()`` is cached
and never called at import time, so tests build their own ``Settings``.
A bad value stops the process at start with pydantic's message.

This module holds the root model, its sources and ``get_settings``; the
sections are in ``core.pipeline_settings`` (broker, warehouse, stream, API,
ingest log, lifecycle) and ``core.domain_settings`` (gaps, alerts, webhooks,
cases) and ``core.privacy_settings`` (retention, erasure).
"""
from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

import orjson
import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from core.aspects import validate_specs
from core.dimensions import DIMENSIONS, validate_custom, validate_view
from core.domain_settings import AlertSettings, CaseSettings, GapSettings, OutcomeSettings, WebhookSettings
from core.experience import ExperienceSettings
from core.panel_settings import PanelSettings
from core.privacy_settings import ErasureSettings, RetentionSettings
from core.pipeline_settings import (
    ApiKey, ApiSettings, IngestLogSettings, KafkaSettings, LifecycleSettings, StreamSettings, WarehouseSettings,
)

#: ``ApiKey`` is re-exported: callers build keys next to ``Settings``.
__all__ = ["PLACEHOLDER_SECRETS", "ApiKey", "AspectConfig", "Settings", "get_settings"]

PLACEHOLDER_SECRETS = {"", "changeme", "change-me", "secret", "dev"}


class AspectConfig(BaseModel):
    """One rated aspect (``core.aspects``): its label, integer scale and top-2-box threshold."""

    model_config = ConfigDict(extra="forbid")

    label: str = Field(default="", description="Display name; the aspect's name when empty.")
    min: int = Field(default=1, strict=True, description="Lowest score of the scale.")
    max: int = Field(default=5, strict=True, description="Highest score of the scale.")
    top2_min: int | None = Field(default=None, strict=True,
                                 description="Lowest score of the top-2 box; `max - 1` when unset.")

    def as_spec_input(self) -> dict[str, object]:
        return {k: v for k, v in self.model_dump().items() if v is not None and v != ""}


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
    custom_dimensions: list[str] = Field(
        default=[],
        description="Dimensions of this deployment besides the built-in ones (e.g. `account`, `market`, "
        "`product`): lowercase identifiers, not a built-in or reserved name, at most 32. Events carry them "
        "as string fields of `data` (at most 128 characters); they filter, group and make views like the "
        "built-in ones, and adding one needs no migration (the `extra_dims` map column of migration 0013).",
    )
    aspects: dict[str, AspectConfig] = Field(
        default={},
        description="Rated aspects of the experience answers may carry in `data.answers.aspects` "
        "(`{wait_time: {label: Wait time, min: 1, max: 5, top2_min: 4}}`): names are lowercase identifiers, "
        "scales integers with 0 <= min < max <= 100, `top2_min` (default max - 1) the lowest score of the "
        "top-2 box, at most 64. An unknown aspect or a score outside its scale is rejected per item at "
        "`data.answers.aspects.<name>`. Each is a metric: `aspect:<name>` (mean, t interval) and "
        "`aspect_top2:<name>` (top-2-box %, Wilson), and a candidate driver of `GET /v1/drivers`.",
    )
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
    retention: RetentionSettings = Field(
        default=RetentionSettings(), description="Storage limitation: how long personal data is kept (ClickHouse TTL).")
    erasure: ErasureSettings = Field(default=ErasureSettings(), description="Erasure of one customer's data.")
    experience: ExperienceSettings = Field(
        default=ExperienceSettings(),
        description="Positive and negative experiences per metric (the positive:negative ratio, the share of "
        "negative signals). Stored windows keep the definition in force when they were counted.")
    panel: PanelSettings = Field(
        default=PanelSettings(), description="Panel health: respondent rule, quality flags, gaming detection.")
    outcomes: OutcomeSettings = Field(
        default=OutcomeSettings(), description="Business outcomes joined to the experience; revenue at risk, ROI.")

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
        custom = validate_custom(self.custom_dimensions)
        validate_specs(self.aspect_inputs())
        # Canonical order (built-in then custom, allowlist order): the worker names a view's rows by it
        # and reads look them up by it (``warehouse.queries.choose_view``), so both must agree.
        allowed = DIMENSIONS + custom
        self.stream.views = [list(validate_view(v, allowed)) for v in self.stream.views]
        self.stream.pending_views = [list(validate_view(v, allowed)) for v in self.stream.pending_views]
        for tenant in [None, *self.retention.tenants]:
            if self.retention.days("ledger_days", tenant) <= self.api.max_event_age_days:
                raise ValueError(
                    f"retention.ledger_days{'' if tenant is None else f' of tenant {tenant}'} must exceed "
                    f"api.max_event_age_days ({self.api.max_event_age_days:g}): a late event older than the "
                    "ledger keeps would rebuild its window from an expired ledger")
        return self

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _ShortAliases(settings_cls), _ConfigFile(settings_cls))

    # -- derived values ------------------------------------------------------
    def aspect_inputs(self) -> dict[str, dict[str, object]]:
        """``aspects`` as ``core.aspects.configure`` takes them."""
        return {name: cfg.as_spec_input() for name, cfg in self.aspects.items()}

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


class _WholeMappingSource(PydanticBaseSettingsSource):
    """A source that returns all its values at once from ``__call__``; pydantic's per-field hook is unused."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:  # pragma: no cover
        return None, field_name, False


class _ShortAliases(_WholeMappingSource):
    """Short env names scripts use (`CXPULSE_API_PORT`, `CXPULSE_KAFKA_BOOTSTRAP`, ...)."""

    _ALIASES = {
        "CXPULSE_API_PORT": ("api", "port"),
        "CXPULSE_API_HOST": ("api", "host"),
        "CXPULSE_KAFKA_BOOTSTRAP": ("kafka", "bootstrap"),
        "CXPULSE_KAFKA_PARTITIONS": ("kafka", "partitions"),
        "CXPULSE_WAREHOUSE_DSN": ("warehouse", "dsn"),
    }

    def __call__(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for env, (section, key) in self._ALIASES.items():
            if env in os.environ:
                out.setdefault(section, {})[key] = os.environ[env]
        return out


class _ConfigFile(_WholeMappingSource):
    """Lowest-priority source: the YAML/JSON file named by CXPULSE_CONFIG_FILE."""

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
