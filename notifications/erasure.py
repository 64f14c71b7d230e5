"""Erasure commands: one customer's data to remove, broadcast to every partition of the erasures topic.

The API publishes one copy per partition (``erasure_messages``); partition *p* is read by the worker
that owns shard *p* (``stream_processors.erasure``), which retracts the customer's events of that
shard from its windows and deletes them from the ledger. ``customer`` is the pseudonym, never the
id the request named: the command lives in Kafka as long as the topic keeps it, like every event.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import orjson

from notifications.messages import OutgoingMessage

__all__ = ["ErasureCommand", "decode_erasure", "erasure_messages"]


@dataclass(frozen=True)
class ErasureCommand:
    tenant: str
    erasure_id: str
    #: the pseudonym (``ingest.pseudonymize``), as the ledger stores it
    customer: str
    requested_at_ms: int
    #: the audit actor (an API key id), written in the audit entry when every shard reported
    actor: str
    #: partitions of the topic when it was sent: the shards that must report
    shards: int


def erasure_messages(topic: str, command: ErasureCommand) -> list[OutgoingMessage]:
    """One message per partition, each keyed by the erasure id (every copy is the same command)."""
    value = orjson.dumps(asdict(command))
    key = command.erasure_id.encode()
    return [OutgoingMessage(topic, p, key, value) for p in range(command.shards)]


def decode_erasure(value: bytes | None) -> ErasureCommand:
    """The command of one message; ``ValueError`` when it is not one."""
    try:
        raw = orjson.loads(value or b"")
        cmd = ErasureCommand(**raw)
    except (orjson.JSONDecodeError, TypeError) as exc:
        raise ValueError(f"not an erasure command: {exc}") from exc
    if not (cmd.tenant and cmd.erasure_id and cmd.customer) or not isinstance(cmd.shards, int):
        raise ValueError("an erasure command needs tenant, erasure_id, customer and shards")
    return cmd
