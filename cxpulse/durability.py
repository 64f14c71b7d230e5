"""Does the Kafka cluster keep what a 202 promises? A startup check of the ``cx.*`` topics.

``POST /v1/events`` answers 202 once Kafka acknowledged the events (producer
``acks=all``). On a server cluster that survives a broker loss only when every
topic has at least :data:`MIN_REPLICATION` replicas, ``min.insync.replicas`` of at
least :data:`MIN_INSYNC`, unclean leader election off, and the producer is
idempotent (docs/operations.md, "What a 202 means in server mode").

:func:`broker_durability_warnings` describes the topics with kafka-python's admin
client and returns one line per shortfall; it never raises (a broker that cannot
be asked gives a warning that says so). :func:`durability_warnings` is the pure
part: described facts in, warning strings out. Not meant for the local Tansu
broker, which is single-node by design.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.settings import Settings

__all__ = [
    "MIN_INSYNC",
    "MIN_REPLICATION",
    "TopicFacts",
    "broker_durability_warnings",
    "describe_topic_facts",
    "durability_warnings",
]

#: Replicas per partition so that losing one broker loses no acknowledged event and
#: still leaves :data:`MIN_INSYNC` replicas to write to.
MIN_REPLICATION = 3
#: In-sync replicas an ``acks=all`` write must reach before it is acknowledged.
MIN_INSYNC = 2


@dataclass(frozen=True)
class TopicFacts:
    """What the broker reported about one topic; ``None`` where it reported nothing."""

    name: str
    #: Smallest replica count over the topic's partitions.
    replication_factor: int | None = None
    min_insync_replicas: int | None = None
    unclean_leader_election: bool | None = None
    #: Why the topic could not be described (it is missing, not authorized, ...).
    error: str | None = None
    #: Why its configs could not be read (the replica count still was).
    config_error: str | None = None


def _grouped(issues: dict[str, list[str]]) -> list[str]:
    return [f"{text}: {', '.join(sorted(topics))}" for text, topics in issues.items()]


def durability_warnings(facts: Iterable[TopicFacts], *, idempotent: bool, replication_factor: int) -> list[str]:
    """Warnings for the described topics and the producer/topic-creation settings, in a fixed order.

    ``idempotent``: whether the ingest producer runs with idempotence;
    ``replication_factor``: what CX Pulse creates missing topics with
    (``kafka.replication_factor``). Topics sharing a shortfall are named in one line.
    """
    warnings: list[str] = []
    if not idempotent:
        warnings.append("producer idempotence is off: a retried send can write an event twice "
                        "(the stream processors drop duplicates by event id)")
    if replication_factor < MIN_REPLICATION:
        warnings.append(f"kafka.replication_factor is {replication_factor} (< {MIN_REPLICATION}): "
                        "topics CX Pulse creates are not replicated enough to survive a broker loss")
    errors: dict[str, list[str]] = {}
    low_rf: dict[str, list[str]] = {}
    low_isr: dict[str, list[str]] = {}
    tight_isr: dict[str, list[str]] = {}
    unclean: dict[str, list[str]] = {}
    unknown: dict[str, list[str]] = {}
    for t in facts:
        if t.error is not None:
            errors.setdefault(f"topic not described ({t.error})", []).append(t.name)
            continue
        rf = t.replication_factor
        if rf is None:
            unknown.setdefault("replication factor not reported (no partitions), could not check",
                               []).append(t.name)
        elif rf < MIN_REPLICATION:
            low_rf.setdefault(f"replication factor {rf} (< {MIN_REPLICATION}): losing a broker can lose "
                              "acknowledged events", []).append(t.name)
        missing = ("not reported by the broker" if t.config_error is None
                   else f"not read ({t.config_error})") + ", could not check"
        isr = t.min_insync_replicas
        if isr is None:
            unknown.setdefault(f"min.insync.replicas {missing}", []).append(t.name)
        elif isr < MIN_INSYNC:
            low_isr.setdefault(f"min.insync.replicas={isr} (< {MIN_INSYNC}): acks=all is acknowledged by "
                               f"{isr} replica{'s' if isr != 1 else ''}", []).append(t.name)
        elif rf is not None and isr >= rf:
            tight_isr.setdefault(f"min.insync.replicas={isr} >= replication factor {rf}: one replica down "
                                 "stops ingest (NOT_ENOUGH_REPLICAS)", []).append(t.name)
        if t.unclean_leader_election is None:
            unknown.setdefault(f"unclean.leader.election.enable {missing}", []).append(t.name)
        elif t.unclean_leader_election:
            unclean.setdefault("unclean.leader.election.enable=true: an out-of-sync replica can become "
                               "leader and drop acknowledged events", []).append(t.name)
    for group in (errors, low_rf, low_isr, tight_isr, unclean):
        warnings.extend(_grouped(group))
    warnings.extend(_grouped(unknown))
    return warnings


def _reason(exc: BaseException) -> str:
    """``Type: message`` (kafka-python's errors already start their message with the type)."""
    text, kind = str(exc), type(exc).__name__
    return text if text.startswith(kind) else f"{kind}: {text}" if text else kind


def _int(value: object) -> int | None:
    try:
        return int(str(value))
    except ValueError:
        return None


def _bool(value: object) -> bool | None:
    text = str(value).strip().lower()
    return {"true": True, "false": False}.get(text)


def describe_topic_facts(bootstrap: str, topics: Sequence[str], *, timeout_ms: int = 10_000) -> list[TopicFacts]:
    """Replica counts (Metadata) and the two topic configs (DescribeConfigs) of ``topics``.

    Raises what kafka-python raises when the metadata cannot be read (no broker, a dropped
    connection); a failed DescribeConfigs only sets ``config_error``. Every config key is
    asked for (``configs=None``, filter ``all``): values a topic inherits from the broker
    are reported with their effective value (Tansu answers that request with no entries,
    and drops the connection when asked for named keys).
    """
    from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient
    from kafka.errors import for_code

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="cxpulse-durability-check",
                             request_timeout_ms=timeout_ms, bootstrap_timeout_ms=timeout_ms)
    try:
        described = {t["name"]: t for t in admin.describe_topics(list(topics))}
        present = [n for n in topics if n in described and not described[n]["error_code"]]
        configs: dict[str, dict] = {}
        config_error = None
        if present:
            resources = [ConfigResource(ConfigResourceType.TOPIC, n, configs=None) for n in present]
            try:
                configs = admin.describe_configs(resources, config_filter="all").get("topic", {})
            except Exception as exc:  # the replica counts are still worth reporting
                config_error = _reason(exc)
    finally:
        admin.close()
    facts = []
    for name in topics:
        topic = described.get(name)
        if topic is None:
            facts.append(TopicFacts(name, error="not in the metadata answer"))
            continue
        if topic["error_code"]:
            facts.append(TopicFacts(name, error=for_code(topic["error_code"]).__name__))
            continue
        partitions = topic["partitions"]
        rf = min((len(p["replica_nodes"]) for p in partitions), default=None)
        entries = configs.get(name, {})
        isr = entries.get("min.insync.replicas", {}).get("value")
        unclean = entries.get("unclean.leader.election.enable", {}).get("value")
        facts.append(TopicFacts(name, replication_factor=rf,
                                min_insync_replicas=None if isr is None else _int(isr),
                                unclean_leader_election=None if unclean is None else _bool(unclean),
                                config_error=config_error))
    return facts


def broker_durability_warnings(bootstrap: str, topics: list[str], settings: Settings, *,
                               timeout_ms: int = 10_000) -> list[str]:
    """Warnings about what could lose an acknowledged event on this cluster; never raises.

    For a server broker (not the local Tansu): the ingest producer is idempotent when
    ``settings.kafka.tansu`` is false, topics are created with ``settings.kafka.replication_factor``.
    When the broker cannot be asked, the settings' warnings come with one that says the
    check of the topics could not run. ``timeout_ms`` bounds each broker request and the
    bootstrap.
    """
    idempotent, rf = not settings.kafka.tansu, settings.kafka.replication_factor
    try:
        facts = describe_topic_facts(bootstrap, topics, timeout_ms=timeout_ms)
    except Exception as exc:  # a diagnostic: whatever the client raises must not stop the start
        return durability_warnings((), idempotent=idempotent, replication_factor=rf) + [
            f"could not check the topics' replication on {bootstrap} ({_reason(exc)})"]
    return durability_warnings(facts, idempotent=idempotent, replication_factor=rf)
