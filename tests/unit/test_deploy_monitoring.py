"""Monitoring files in deploy/ against the metrics the processes really expose.

* Every ``cxpulse_*`` series and label used by the Prometheus rules and the Grafana
  dashboard exists in the ``/metrics`` exposition of the API app and of the worker's
  metrics server, built as ``cxpulse.runtime`` builds them; the dashboard shows every
  metric; docs/operations.md's reference table is the registry's.
* ``promtool check config``, ``check rules`` and ``test rules`` pass.

A missing tool skips locally and fails in CI (``CI=true``): CI must install it (.ci/run).
"""
from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client import start_http_server
from prometheus_client.parser import text_string_to_metric_families

from core import metrics

ROOT = Path(__file__).resolve().parents[2]
PROM = ROOT / "deploy" / "prometheus"
RULE_FILES = sorted((PROM / "rules").glob("*.yml"))
DASHBOARDS = sorted((ROOT / "deploy" / "grafana" / "dashboards").glob("*.json"))
OPERATIONS_DOC = ROOT / "docs" / "operations.md"
#: Labels Prometheus adds to every scraped series, and the histogram bucket label.
TARGET_LABELS = {"job", "instance", "le"}


def need(tool: str) -> str:
    """Path of a CLI the deploy checks run: skipped locally when missing, a failure in CI."""
    path = shutil.which(tool)
    if path is None:
        message = f"{tool} is not installed (Debian package: see .ci/run)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


# -- the exposition, built the way the runtime builds it -------------------------------------------
def _series_names(text: str) -> dict[str, str]:
    """Series name -> family name, for every family of an exposition (also those with no sample yet)."""
    out: dict[str, str] = {}
    for fam in text_string_to_metric_families(text):
        if fam.name.endswith("_created"):
            continue
        suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"],
                    "summary": ["_sum", "_count", ""]}.get(fam.type, [""])
        for suffix in suffixes:
            out[fam.name + suffix] = fam.name
    return out


@pytest.fixture(scope="module")
def api_exposition() -> str:
    """GET /metrics of the FastAPI app `cxpulse api` serves (api.main.create_api, as in the runtime)."""
    from api.deps import Services
    from api.main import create_api
    from core.settings import Settings

    app = create_api(Services(Settings(), None, None, None))  # type: ignore[arg-type]  # /metrics uses none

    async def get() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as client:
            return await client.get("/metrics")

    resp = asyncio.run(get())
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/plain")
    return resp.text


@pytest.fixture(scope="module")
def worker_exposition() -> str:
    """GET of the metrics server `cxpulse worker` starts (prometheus_client.start_http_server), once the
    modules the worker runs are imported."""
    import alerts.evaluator  # noqa: F401 - the worker's timers
    import stream_processors.agents  # noqa: F401
    import stream_processors.checkpoint  # noqa: F401
    import stream_processors.webhook_agent  # noqa: F401

    server, thread = start_http_server(0, addr="127.0.0.1")
    try:
        resp = httpx.get(f"http://127.0.0.1:{server.server_port}/metrics", timeout=10)
    finally:
        server.shutdown()
        thread.join(5)
    assert resp.status_code == 200
    return resp.text


def _label_values(text: str) -> dict[tuple[str, str], set[str]]:
    """(series name, label) -> the values exposed (labels whose values are known up front, e.g. outcome)."""
    out: dict[tuple[str, str], set[str]] = {}
    for fam in text_string_to_metric_families(text):
        for sample in fam.samples:
            for label, value in sample.labels.items():
                out.setdefault((sample.name, label), set()).add(value)
    return out


@pytest.fixture(scope="module")
def exposed(api_exposition: str, worker_exposition: str) -> dict[str, str]:
    api, worker = _series_names(api_exposition), _series_names(worker_exposition)
    ours = {k: v for k, v in worker.items() if k.startswith("cxpulse_")}
    assert ours and ours == {k: v for k, v in api.items() if k.startswith("cxpulse_")}, \
        "the API and the worker expose different cxpulse metrics"
    return ours


def _label_names() -> dict[str, set[str]]:
    """Family name -> its label names, from the collectors of core.metrics (families without samples
    show no labels in the exposition)."""
    out: dict[str, set[str]] = {}
    for obj in vars(metrics).values():
        name = getattr(obj, "_name", None)
        if isinstance(name, str) and name.startswith("cxpulse_") and hasattr(obj, "_labelnames"):
            out[name] = set(obj._labelnames)
    return out


# -- the expressions in deploy/ ------------------------------------------------------------------------
def rule_expressions() -> list[tuple[str, str]]:
    out = []
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                out.append((f"{path.name}:{rule.get('alert') or rule.get('record')}", rule["expr"]))
    return out


def dashboard_expressions() -> list[tuple[str, str]]:
    out = []

    def walk(panels: list[dict[str, Any]], where: str) -> None:
        for panel in panels:
            for target in panel.get("targets", []):
                out.append((f"{where}:{panel['title']}", target["expr"]))
            walk(panel.get("panels", []), where)

    for path in DASHBOARDS:
        walk(json.loads(path.read_text())["panels"], path.name)
    return out


_NAME = re.compile(r"\b(cxpulse_[a-z0-9_]+)\b")
_SELECTOR = re.compile(r"\b(cxpulse_[a-z0-9_]+)\s*\{([^}]*)\}")
_MATCHER = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)")
_GROUPING = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")


def test_expressions_were_found() -> None:
    assert RULE_FILES and DASHBOARDS
    assert len(rule_expressions()) >= 10 and len(dashboard_expressions()) >= 20


@pytest.fixture(scope="module")
def exposed_values(worker_exposition: str) -> dict[tuple[str, str], set[str]]:
    from api.metrics import STATUS_CLASSES

    values = _label_values(worker_exposition)
    # Status classes appear as requests are answered (which ones depends on the tests run before this
    # one); their set is declared up front.
    values[("cxpulse_http_requests_total", "code")] = set(STATUS_CLASSES)
    return values


_EXACT = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)\s*!?=\s*"([^"]*)"')


@pytest.mark.parametrize("where,expr", rule_expressions() + dashboard_expressions())
def test_every_series_and_label_used_is_exposed(exposed: dict[str, str], exposed_values: dict, where: str,
                                                expr: str) -> None:
    labels = _label_names()
    names = _NAME.findall(expr)
    missing = sorted(set(names) - set(exposed))
    assert not missing, f"{where}: {missing} are not in /metrics"
    families = {exposed[n] for n in names}
    for name, matchers in _SELECTOR.findall(expr):
        for label in _MATCHER.findall(matchers):
            assert label in labels[exposed[name]] | TARGET_LABELS, f"{where}: {name} has no label {label!r}"
        for label, value in _EXACT.findall(matchers):
            known_values = exposed_values.get((name, label))
            if known_values:  # a label with a fixed set of values: the value must be one of them
                assert value in known_values, f"{where}: {name}{{{label}={value!r}}} never exists ({known_values})"
    known = set().union(TARGET_LABELS, *(labels[f] for f in families))
    for grouping in _GROUPING.findall(expr):
        for label in filter(None, (g.strip() for g in grouping.split(","))):
            assert label in known, f"{where}: grouping by {label!r}, which none of {sorted(families)} has"


def test_the_dashboard_shows_every_metric(exposed: dict[str, str]) -> None:
    shown = {exposed[n] for _, e in dashboard_expressions() for n in _NAME.findall(e) if n in exposed}
    assert set(exposed.values()) - shown == set(), "metrics without a panel in deploy/grafana/dashboards"


def test_every_alert_has_severity_and_a_runbook_section() -> None:
    doc = OPERATIONS_DOC.read_text()
    anchors = {m.lower() for m in re.findall(r"^#+ .*?\b(CxPulse[A-Za-z]+)\b", doc, flags=re.M)}
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                name = rule["alert"]
                assert rule["labels"]["severity"] in {"critical", "warning", "info"}, name
                assert rule["annotations"]["runbook"] == f"docs/operations.md#{name.lower()}", name
                assert name.lower() in anchors, f"docs/operations.md has no runbook heading for {name}"


def test_dashboard_and_provisioning_agree() -> None:
    ds = yaml.safe_load((ROOT / "deploy/grafana/provisioning/datasources/prometheus.yml").read_text())
    (source,) = ds["datasources"]
    providers = yaml.safe_load((ROOT / "deploy/grafana/provisioning/dashboards/cxpulse.yml").read_text())
    assert providers["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"
    for path in DASHBOARDS:
        dash = json.loads(path.read_text())
        assert dash["uid"] and dash["title"]
        uids = {t["datasource"]["uid"] for p in dash["panels"] for t in p.get("targets", [])}
        assert uids == {source["uid"]}, path.name
        ids = [p["id"] for p in dash["panels"]]
        assert len(ids) == len(set(ids)), f"{path.name}: duplicate panel ids"


def test_metrics_reference_in_the_docs_is_the_registry() -> None:
    doc = OPERATIONS_DOC.read_text()
    start, end = "<!-- metrics-table:start -->", "<!-- metrics-table:end -->"
    assert start in doc and end in doc
    table = doc.split(start, 1)[1].split(end, 1)[0].strip()
    assert table == metrics.reference_table().strip(), \
        "docs/operations.md is stale: paste the output of `python -m core.metrics`"


# -- promtool ------------------------------------------------------------------------------------------
def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("config", ["prometheus.yml", "prometheus-k8s.yml"])
def test_promtool_check_config(config: str) -> None:
    got = _run(need("promtool"), "check", "config", f"deploy/prometheus/{config}")
    assert got.returncode == 0, got.stdout + got.stderr
    assert f"{len(RULE_FILES)} rule files found" in got.stdout + got.stderr


def test_promtool_check_rules() -> None:
    got = _run(need("promtool"), "check", "rules", *map(str, RULE_FILES))
    assert got.returncode == 0, got.stdout + got.stderr
    found = sum(int(n) for n in re.findall(r"SUCCESS: (\d+) rules found", got.stdout + got.stderr))
    assert found == len(rule_expressions())


def test_promtool_rule_unit_tests() -> None:
    tests = sorted((PROM / "tests").glob("*.yml"))
    assert tests
    got = _run(need("promtool"), "test", "rules", *map(str, tests))
    assert got.returncode == 0, got.stdout + got.stderr
