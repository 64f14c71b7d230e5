"""`cxpulse status`: is the pipeline healthy, and how far behind is it?

Reports broker reachability, the CX Pulse topics and their partitions, the
stream processors' consumer lag per partition, the API's readiness (which
includes the warehouse) and how fresh each tenant's windows are.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition

from core.settings import Settings
from core.topics import topic_names
from schemas.records import EventType


@dataclass
class PartitionLag:
    topic: str
    partition: int
    committed: int | None
    end: int

    @property
    def lag(self) -> int:
        return self.end - (self.committed or 0)


@dataclass
class Status:
    broker: str = ""
    broker_ok: bool = False
    topics: dict[str, int] = field(default_factory=dict)
    lag: list[PartitionLag] = field(default_factory=list)
    api_ok: bool | None = None
    api_checks: dict[str, Any] = field(default_factory=dict)
    freshness: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.broker_ok and self.api_ok is not False and not self.errors


def broker_status(settings: Settings, bootstrap: str, status: Status) -> None:
    status.broker = bootstrap
    names = topic_names(settings.kafka.topic_prefix)
    try:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="cxpulse-status",
                                 request_timeout_ms=5000)
    except Exception as exc:  # noqa: BLE001 - any failure means unreachable
        status.errors.append(f"broker {bootstrap} unreachable: {exc}")
        return
    try:
        status.broker_ok = True
        described = {t["name"]: len(t["partitions"]) for t in admin.describe_topics(list(names.values()))
                     if not t.get("error_code")}
        status.topics = {n: described.get(n, 0) for n in names.values()}
        missing = [n for n, p in status.topics.items() if p == 0]
        if missing:
            status.errors.append(f"missing topics: {missing}")
        # kafka-python 3 renamed list_consumer_group_offsets to list_group_offsets.
        list_offsets = getattr(admin, "list_group_offsets", None) or admin.list_consumer_group_offsets
        committed = list_offsets(settings.stream.app_id)
        if settings.stream.app_id in committed:  # kafka-python 3 answers {group: {partition: offset}}
            committed = committed[settings.stream.app_id]
    finally:
        admin.close()
    typed = [names[t.value] for t in EventType]
    partitions = [TopicPartition(t, p) for t in typed for p in range(status.topics.get(t, 0))]
    if not partitions:
        return
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    try:
        if settings.kafka.tansu:
            from stream_processors import tansu_compat

            ends = tansu_compat.end_offsets(consumer, partitions)
        else:
            ends = consumer.end_offsets(partitions)
    finally:
        consumer.close()
    for tp in partitions:
        meta = committed.get(tp)
        status.lag.append(PartitionLag(tp.topic, tp.partition, meta.offset if meta else None, ends[tp]))


def api_status(base_url: str, key: str | None, status: Status) -> None:
    try:
        with httpx.Client(base_url=base_url, timeout=5,
                          headers={"Authorization": f"Bearer {key}"} if key else {}) as client:
            ready = client.get("/readyz")
            status.api_ok = ready.status_code == 200
            status.api_checks = ready.json().get("checks", {})
            if key:
                fresh = client.get("/v1/status")
                if fresh.status_code == 200:
                    status.freshness = fresh.json()["tenants"]
    except httpx.HTTPError as exc:
        status.api_ok = False
        status.errors.append(f"API {base_url} unreachable: {exc}")


def render(status: Status) -> str:
    lines = [f"broker      {status.broker or '-'}: {'ok' if status.broker_ok else 'UNREACHABLE'}"]
    for name, parts in status.topics.items():
        lines.append(f"  topic     {name}: {parts} partitions")
    if status.lag:
        lines.append(f"consumer lag (group of the stream processors): total {sum(p.lag for p in status.lag)}")
        for p in status.lag:
            lines.append(f"  {p.topic}[{p.partition}]  committed {p.committed if p.committed is not None else '-'}"
                         f"  end {p.end}  lag {p.lag}")
    if status.api_ok is not None:
        checks = ", ".join(_check(k, v) for k, v in status.api_checks.items())
        lines.append(f"api         {'ready' if status.api_ok else 'NOT READY'} ({checks or 'no answer'})")
    for t in status.freshness:
        lines.append(f"  tenant    {t['tenant']}: windows updated {t['seconds_since_update']:.0f} s ago, "
                     f"latest event at {t['latest_event']}")
    for e in status.errors:
        lines.append(f"ERROR       {e}")
    return "\n".join(lines)


def _check(name: str, value: Any) -> str:
    if name == "ingest_log" and isinstance(value, dict):
        return (f"ingest log {value.get('pending_events', 0)} events not yet stored "
                f"({value.get('segments', 0)} segments, {value.get('bytes', 0)} bytes)")
    if name == "broker_restarts":
        return f"local broker restarted {value} times"
    return f"{name} {'ok' if value else 'DOWN'}"
