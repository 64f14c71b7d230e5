"""docker-compose.yml against the Compose Specification schema, and the monitoring services' wiring.

CI has no container engine (no `docker compose config`): the file is interpolated the
way compose does (``test_deploy.interpolate``) and validated with jsonschema against the
compose-spec JSON schema vendored in deploy/schemas (from the check-jsonschema package,
Apache-2.0). Structure checks of the pipeline services are in test_deploy.py.
"""
from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.unit.test_deploy import COMPOSE, OPERATOR_ENV, interpolate

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "deploy" / "schemas" / "compose-spec.json"
ENV = {**OPERATOR_ENV, "GRAFANA_ADMIN_PASSWORD": "test-only-grafana-password"}


def _validator():
    try:
        import jsonschema
    except ImportError:  # a dev dependency (via kubernetes-validate); CI must have it
        if os.environ.get("CI") == "true":
            pytest.fail("jsonschema is not installed")
        pytest.skip("jsonschema is not installed")
    schema = json.loads(SCHEMA.read_text())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def _interpolated(node: Any, env: dict[str, str]) -> Any:
    if isinstance(node, str):
        return interpolate(node, env)
    if isinstance(node, list):
        return [_interpolated(v, env) for v in node]
    if isinstance(node, dict):
        return {k: _interpolated(v, env) for k, v in node.items()}
    return node


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return _interpolated(yaml.safe_load(COMPOSE.read_text()), ENV)


def _errors(doc: dict[str, Any]) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in _validator().iter_errors(doc)]


def test_compose_file_is_valid_against_the_compose_spec(compose: dict[str, Any]) -> None:
    assert _errors(compose) == []


@pytest.mark.parametrize("path,value", [
    (("services", "worker", "depends_on", "kafka", "condition"), "service_ready"),
    (("services", "api", "healthcheck", "test"), 5),
    (("services", "grafana", "restrat"), "always"),
])
def test_the_schema_check_catches_mistakes(compose: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    bad = copy.deepcopy(compose)
    node = bad
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    assert _errors(bad), f"{'/'.join(path)}={value!r} passed the schema"


def test_every_required_variable_is_documented() -> None:
    text = COMPOSE.read_text()
    for var in ENV:
        assert f"${{{var}:?" in text
        with pytest.raises(KeyError):
            _interpolated(yaml.safe_load(text), {k: v for k, v in ENV.items() if k != var})


def test_long_running_services_have_health_checks(compose: dict[str, Any]) -> None:
    for name, svc in compose["services"].items():
        if svc.get("restart") == "no":
            continue  # one-shots: their dependants wait for service_completed_successfully
        hc = svc.get("healthcheck")
        assert hc and hc.get("test") and not hc.get("disable"), f"{name} has no health check"
    assert "/healthz" in " ".join(compose["services"]["api"]["healthcheck"]["test"])


def test_prometheus_scrapes_the_api_and_every_worker(compose: dict[str, Any]) -> None:
    services = compose["services"]
    prom = services["prometheus"]
    assert "./deploy/prometheus:/etc/prometheus:ro" in prom["volumes"]
    assert "--config.file=/etc/prometheus/prometheus.yml" in prom["command"]
    config = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    jobs = {j["job_name"]: j for j in config["scrape_configs"]}
    api_sd = jobs["cxpulse-api"]["dns_sd_configs"][0]
    worker_sd = jobs["cxpulse-worker"]["dns_sd_configs"][0]
    assert api_sd["names"] == ["api"] and api_sd["port"] == int(services["api"]["environment"]["CXPULSE_API__PORT"])
    assert worker_sd["names"] == ["worker"]
    assert worker_sd["port"] == int(services["worker"]["environment"]["CXPULSE_STREAM__METRICS_PORT"])
    assert jobs["cxpulse-api"]["metrics_path"] == jobs["cxpulse-worker"]["metrics_path"] == "/metrics"


def test_grafana_is_provisioned_with_prometheus_and_the_dashboards(compose: dict[str, Any]) -> None:
    grafana = compose["services"]["grafana"]
    mounts = {v.split(":")[1]: v.split(":")[0] for v in grafana["volumes"] if v.startswith("./")}
    assert mounts["/etc/grafana/provisioning"] == "./deploy/grafana/provisioning"
    providers = yaml.safe_load((ROOT / "deploy/grafana/provisioning/dashboards/cxpulse.yml").read_text())
    assert mounts[providers["providers"][0]["options"]["path"]] == "./deploy/grafana/dashboards"
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert (ROOT / "deploy/grafana/dashboards" / Path(home).name).is_file()
    ds = yaml.safe_load((ROOT / "deploy/grafana/provisioning/datasources/prometheus.yml").read_text())
    assert ds["datasources"][0]["url"] == "http://prometheus:9090"
    assert grafana["depends_on"]["prometheus"]["condition"] == "service_healthy"
    assert "prometheus" in compose["services"]
