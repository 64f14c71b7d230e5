"""What the deploy files give a 202 (docs/operations.md, "What a 202 means in server mode"), statically."""
from __future__ import annotations

import re
from pathlib import Path

import yaml

from tests.unit.test_deploy import _env

ROOT = Path(__file__).resolve().parents[2]
SERVICES = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
SCRIPT = (ROOT / "deploy" / "kafka" / "create-topics.sh").read_text()


def test_compose_broker_is_single_node_with_what_one_node_allows() -> None:
    env = _env(SERVICES["kafka"])
    # One voter, one broker: one copy of each partition is all there can be.
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"].count("@") == 1
    assert env["KAFKA_DEFAULT_REPLICATION_FACTOR"] == "1"
    assert env["KAFKA_MIN_INSYNC_REPLICAS"] == "1"
    assert env["KAFKA_UNCLEAN_LEADER_ELECTION_ENABLE"] == "false"
    assert "for development" in (ROOT / "deploy" / "README.md").read_text()


def test_topics_are_created_with_the_durability_settings_compose_passes() -> None:
    env = _env(SERVICES["kafka-init"])
    assert (env["REPLICATION_FACTOR"], env["MIN_INSYNC_REPLICAS"]) == ("1", "1")
    create = re.search(r"kafka-topics\.sh [^\n]*--create(?:[^\n]*\\\n)+[^\n]*\n", SCRIPT).group(0)
    assert '--replication-factor "$REPLICATION_FACTOR"' in create
    assert '--config "min.insync.replicas=$MIN_INSYNC_REPLICAS"' in create
    assert "--config unclean.leader.election.enable=false" in create
    # The script's defaults are the single-node values, so running it by hand changes nothing.
    assert 'REPLICATION_FACTOR="${REPLICATION_FACTOR:-1}"' in SCRIPT
    assert 'MIN_INSYNC_REPLICAS="${MIN_INSYNC_REPLICAS:-1}"' in SCRIPT


def test_kubernetes_creates_topics_with_three_replicas() -> None:
    docs = [d for d in yaml.safe_load_all((ROOT / "deploy" / "k8s" / "config.yaml").read_text()) if d]
    config = next(d for d in docs if d["kind"] == "ConfigMap")["data"]
    assert int(config["CXPULSE_KAFKA__REPLICATION_FACTOR"]) >= 3
