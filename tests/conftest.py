"""Shared fixtures: one real Tansu broker and one chDB path per test session.

chDB serves one data path per process, so tests isolate by database and by
topic prefix / consumer group instead of by path.
"""
from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from cxpulse.broker import LocalBroker, free_port
from core.settings import ApiKey, Settings
from warehouse.client import Warehouse
from warehouse.migrate import migrate

TEST_KEY = "test-key-acme"
TEST_TENANT = "acme"
PSEUDONYM_KEY = "test-pseudonym-key-0123456789"


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory):
    log = tmp_path_factory.mktemp("tansu") / "tansu.log"
    with LocalBroker(log_file=log) as b:
        yield b


@pytest.fixture(scope="session")
def chdb_dsn(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"chdb://{tmp_path_factory.mktemp('chdb')}"


@contextmanager
def migrated_warehouse(dsn: str, prefix: str) -> Iterator[Warehouse]:
    """A migrated warehouse in a database of its own (``{prefix}_<random>``), dropped afterwards."""
    database = f"{prefix}_{uuid.uuid4().hex[:12]}"
    warehouse = Warehouse.open(dsn, database=database)
    try:
        migrate(warehouse)
        yield warehouse
    finally:
        warehouse.command(f"DROP DATABASE IF EXISTS {database}")


class FakePublisher:
    """Stands in for ``notifications.Publisher``: keeps what it is asked to publish."""

    def __init__(self) -> None:
        self.sent: list = []

    async def publish(self, messages) -> None:
        self.sent.extend(messages)


def make_settings(data_dir: Path, bootstrap: str, dsn: str, **stream: object) -> Settings:
    """Settings isolated from every other test: own topics, group, database, port."""
    tag = uuid.uuid4().hex[:8]
    return Settings(
        data_dir=data_dir,
        pseudonym_key=PSEUDONYM_KEY,
        kafka={"bootstrap": bootstrap, "partitions": 4, "topic_prefix": f"t{tag}", "tansu": True},
        warehouse={"dsn": dsn, "database": f"test_{tag}"},
        stream={"app_id": f"cxpulse-test-{tag}", "batch_within_s": 0.05, "metrics_port": 0, **stream},
        api={"port": free_port(), "keys": {TEST_KEY: ApiKey(tenant=TEST_TENANT, scopes=["ingest", "read"])}},
        # Test receivers listen on http://127.0.0.1:<port>, which the egress policy refuses by default
        # (https only, no loopback): the test configuration opts in explicitly, as an on-premise one would.
        webhooks={"allow_http": True, "egress_allow": ["127.0.0.1/32"]},
    )


#: What the stubbed resolver answers: tests never query DNS. `*.example` stands for a public receiver
#: (the address is never connected to: tests deliver only to 127.0.0.1); any other name does not resolve.
STUB_PUBLIC_ADDRESS = "93.184.215.14"


@pytest.fixture(autouse=True)
def _no_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    async def resolve(host: str, port: int) -> list[str]:
        if host == "localhost":
            return ["127.0.0.1"]
        if host.endswith(".example"):
            return [STUB_PUBLIC_ADDRESS]
        raise OSError(f"{host}: tests do not use DNS (tests/conftest.py _no_dns)")

    monkeypatch.setattr("webhooks.egress.system_resolve", resolve)


@pytest.fixture
def settings(tmp_path: Path, broker: LocalBroker, chdb_dsn: str) -> Settings:
    return make_settings(tmp_path, broker.bootstrap, chdb_dsn)
