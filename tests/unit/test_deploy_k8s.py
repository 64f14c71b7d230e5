"""Kubernetes manifests in deploy/k8s, checked offline (CI has no cluster).

* Every object validates against the Kubernetes OpenAPI schemas shipped by the PyPI
  package ``kubernetes-validate`` (strict: unknown fields are errors).
* The wiring a schema cannot see: kustomization lists every manifest, env names are
  real settings and reach ``Settings``, secrets and config maps referenced exist,
  Services select pods and name their ports, probes hit /healthz and /readyz, worker
  replicas <= Kafka partitions, Prometheus finds every pod, the ClickHouse cluster's
  Keeper and replica lists agree with the StatefulSets.
"""
from __future__ import annotations

import copy
import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from pydantic import TypeAdapter

from core.settings import Settings
from tests.unit.test_deploy import _annotation, _field_path, _get

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
KUBERNETES_VERSION = "1.30.0"  # oldest minor still supported upstream when this was written
SECRET_TEMPLATE = "secret.example.yaml"
NAMESPACE = "cxpulse"


def _load(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


MANIFESTS = sorted(p for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")
OBJECTS = [(p.name, d) for p in MANIFESTS for d in _load(p)]


def _kv():
    try:
        import kubernetes_validate
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail("kubernetes-validate is not installed (a dev dependency)")
        pytest.skip("kubernetes-validate is not installed")
    return kubernetes_validate


def obj(kind: str, name: str) -> dict[str, Any]:
    found = [d for _, d in OBJECTS if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


def pod_spec(kind: str, name: str) -> dict[str, Any]:
    return obj(kind, name)["spec"]["template"]["spec"]


def container(kind: str, name: str) -> dict[str, Any]:
    (c,) = pod_spec(kind, name)["containers"]
    return c


CONFIG = obj("ConfigMap", "cxpulse-config")["data"]
SECRET = obj("Secret", "cxpulse-secrets")["stringData"]


# -- schema ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("where,doc", OBJECTS, ids=[f"{f}:{d['kind']}/{d['metadata']['name']}" for f, d in OBJECTS])
def test_manifest_matches_the_kubernetes_schema(where: str, doc: dict[str, Any]) -> None:
    _kv().validate(doc, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("mutate", [
    lambda d: d["spec"]["template"]["spec"]["containers"][0].__setitem__("livenessprobe", {}),  # typo
    lambda d: d["spec"].__setitem__("replicas", "three"),
    lambda d: d["spec"]["template"]["spec"]["containers"][0]["ports"][0].__setitem__("containerPort", "http"),
])
def test_the_schema_check_catches_mistakes(mutate) -> None:
    kv = _kv()
    bad = copy.deepcopy(obj("Deployment", "cxpulse-api"))
    mutate(bad)
    with pytest.raises(kv.ValidationError):
        kv.validate(bad, KUBERNETES_VERSION, strict=True)


# -- kustomize and namespaces ---------------------------------------------------------------------------
def test_kustomization_lists_every_manifest_but_the_secret_template() -> None:
    kust = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert kust["namespace"] == NAMESPACE
    assert sorted(kust["resources"]) == sorted(p.name for p in MANIFESTS if p.name != SECRET_TEMPLATE)
    assert {i["name"] for i in kust["images"]} == {c["image"] for _, d in OBJECTS if "template" in d.get("spec", {})
                                                   for c in d["spec"]["template"]["spec"]["containers"]
                                                   if not c["image"].startswith("clickhouse/")}


def test_every_object_is_in_the_namespace() -> None:
    for where, d in OBJECTS:
        if d["kind"] != "Namespace":
            assert d["metadata"].get("namespace") == NAMESPACE, f"{where}: {d['kind']}/{d['metadata']['name']}"


# -- settings -------------------------------------------------------------------------------------------
def _cxpulse_workloads() -> list[tuple[str, str]]:
    return [(d["kind"], d["metadata"]["name"]) for _, d in OBJECTS
            if d["kind"] in ("Deployment", "Job") and d["metadata"]["name"].startswith("cxpulse-")]


def _env(kind: str, name: str) -> dict[str, str]:
    """The CXPULSE_* environment the container gets: its config maps, then its env entries (secrets resolved
    from the template)."""
    c = container(kind, name)
    env: dict[str, str] = {}
    for src in c.get("envFrom", []):
        assert obj("ConfigMap", src["configMapRef"]["name"])
        env.update(obj("ConfigMap", src["configMapRef"]["name"])["data"])
    for item in c.get("env", []):
        if "value" in item:
            env[item["name"]] = item["value"]
        else:
            ref = item["valueFrom"]["secretKeyRef"]
            assert ref["key"] in obj("Secret", ref["name"])["stringData"], f"{name}: {ref}"
            env[item["name"]] = obj("Secret", ref["name"])["stringData"][ref["key"]]
    return env


def test_workloads() -> None:
    assert sorted(_cxpulse_workloads()) == [("Deployment", "cxpulse-api"), ("Deployment", "cxpulse-worker"),
                                            ("Job", "cxpulse-migrate")]
    assert {k: container(*w)["args"] for w in _cxpulse_workloads() for k in [w[1]]} == {
        "cxpulse-api": ["api"], "cxpulse-worker": ["worker"], "cxpulse-migrate": ["migrate"]}


@pytest.mark.parametrize("workload", _cxpulse_workloads(), ids=lambda w: w[1])
def test_environment_lands_in_settings(workload: tuple[str, str], monkeypatch: pytest.MonkeyPatch,
                                       tmp_path: Path) -> None:
    env = {k: v for k, v in _env(*workload).items() if k.startswith("CXPULSE_")}
    mounts = {m["mountPath"]: m["name"] for m in container(*workload).get("volumeMounts", [])}
    # Settings reads the keys file at load: where it is set, it must be mounted (api only needs it).
    assert ("CXPULSE_API__KEYS_FILE" in env) == (workload[1] == "cxpulse-api")
    if "CXPULSE_API__KEYS_FILE" in env:
        mount = str(Path(env["CXPULSE_API__KEYS_FILE"]).parent)
        assert mount in mounts, f"{workload[1]}: the keys file's directory is not mounted"
        volume = next(v for v in pod_spec(*workload)["volumes"] if v["name"] == mounts[mount])
        assert volume["secret"]["secretName"] == "cxpulse-secrets"
        assert volume["secret"]["items"] == [{"key": "api-keys.yaml", "path": Path(env["CXPULSE_API__KEYS_FILE"]).name}]
        keys = tmp_path / "api-keys.yaml"  # what the mount holds, here
        keys.write_text(SECRET["api-keys.yaml"])
        env["CXPULSE_API__KEYS_FILE"] = str(keys)
    assert env["CXPULSE_DATA_DIR"] in mounts, "the data dir must be a writable volume (read-only root)"
    for var in [v for v in os.environ if v.startswith("CXPULSE_")]:
        monkeypatch.delenv(var)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    settings = Settings()
    for k, v in env.items():
        path = _field_path(k)
        assert _get(settings, path) == TypeAdapter(_annotation(path)).validate_python(v), k
    assert not settings.embedded_warehouse
    if workload[1] == "cxpulse-api":
        assert {k.tenant for k in settings.api.keys.values()} == {"acme"}


def test_worker_replicas_do_not_exceed_partitions() -> None:
    replicas = obj("Deployment", "cxpulse-worker")["spec"]["replicas"]
    assert 1 <= replicas <= int(CONFIG["CXPULSE_KAFKA__PARTITIONS"])
    assert "<= CXPULSE_KAFKA__PARTITIONS" in (K8S / "worker.yaml").read_text()


# -- probes, services, scraping ------------------------------------------------------------------------
def _port(c: dict[str, Any], ref: str | int) -> int:
    if isinstance(ref, int):
        return ref
    (p,) = [p["containerPort"] for p in c["ports"] if p["name"] == ref]
    return p


def test_api_probes_hit_healthz_and_readyz() -> None:
    c = container("Deployment", "cxpulse-api")
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert _port(c, c[probe]["httpGet"]["port"]) == int(CONFIG["CXPULSE_API__PORT"])
    from api.main import create_api  # the routes exist
    paths = set(create_api(None).openapi()["paths"])  # type: ignore[arg-type]
    assert {"/healthz", "/readyz", "/metrics"} <= paths


def test_services_select_pods_and_name_their_ports() -> None:
    pods = [d["spec"]["template"] for _, d in OBJECTS if d["kind"] in ("Deployment", "StatefulSet")]
    for where, svc in [(w, d) for w, d in OBJECTS if d["kind"] == "Service"]:
        sel = svc["spec"]["selector"]
        matching = [t for t in pods if sel.items() <= t["metadata"]["labels"].items()]
        assert matching, f"{where}: Service {svc['metadata']['name']} selects no pods"
        for port in svc["spec"]["ports"]:
            target = port.get("targetPort", port["port"])
            for t in matching:
                (c,) = t["spec"]["containers"]
                assert _port(c, target), f"{svc['metadata']['name']}: no port {target}"


@pytest.mark.parametrize("name,port_setting", [("cxpulse-api", "CXPULSE_API__PORT"),
                                                ("cxpulse-worker", "CXPULSE_STREAM__METRICS_PORT")])
def test_prometheus_finds_every_pod(name: str, port_setting: str) -> None:
    port = int(CONFIG[port_setting])
    ann = obj("Deployment", name)["spec"]["template"]["metadata"]["annotations"]
    assert ann["prometheus.io/scrape"] == "true" and int(ann["prometheus.io/port"]) == port
    assert ann["prometheus.io/path"] == "/metrics"
    svc = obj("Service", f"{name}-metrics")
    assert svc["spec"]["clusterIP"] == "None", "headless: one DNS record per pod"
    assert [p["port"] for p in svc["spec"]["ports"]] == [port]
    config = yaml.safe_load((ROOT / "deploy/prometheus/prometheus-k8s.yml").read_text())
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == name]
    (sd,) = job["dns_sd_configs"]
    assert sd["names"] == [f"{name}-metrics.{NAMESPACE}.svc.cluster.local"] and sd["port"] == port


# -- ClickHouse cluster ------------------------------------------------------------------------------------
def _xml(configmap: str, key: str) -> ET.Element:
    return ET.fromstring(obj("ConfigMap", configmap)["data"][key])


def test_keeper_ensemble_matches_its_statefulset() -> None:
    sts = obj("StatefulSet", "clickhouse-keeper")
    n = sts["spec"]["replicas"]
    assert n >= 3 and n % 2 == 1, "a Raft ensemble needs an odd number of members >= 3"
    raft = _xml("clickhouse-keeper-config", "keeper_config.xml").findall(".//raft_configuration/server")
    svc = sts["spec"]["serviceName"]
    assert [(s.findtext("id"), s.findtext("hostname")) for s in raft] == [
        (str(i + 1), f"clickhouse-keeper-{i}.{svc}.{NAMESPACE}.svc.cluster.local") for i in range(n)]
    assert obj("Service", svc)["spec"]["clusterIP"] == "None"
    assert "${HOSTNAME##*-} + 1" in " ".join(container("StatefulSet", "clickhouse-keeper")["command"])


def test_clickhouse_replicas_match_the_cluster_config() -> None:
    sts = obj("StatefulSet", "clickhouse")
    n = sts["spec"]["replicas"]
    assert n >= 2
    cfg = _xml("clickhouse-config", "cluster.xml")
    svc = sts["spec"]["serviceName"]
    replicas = [r.findtext("host") for r in cfg.findall(".//remote_servers/cxpulse/shard/replica")]
    assert replicas == [f"clickhouse-{i}.{svc}.{NAMESPACE}.svc.cluster.local" for i in range(n)]
    keepers = obj("StatefulSet", "clickhouse-keeper")
    nodes = [(z.findtext("host"), z.findtext("port")) for z in cfg.findall(".//zookeeper/node")]
    assert nodes == [(f"clickhouse-keeper-{i}.clickhouse-keeper.{NAMESPACE}.svc.cluster.local", "9181")
                     for i in range(keepers["spec"]["replicas"])]
    assert cfg.find(".//macros/replica").get("from_env") == "HOSTNAME"
    profile = _xml("clickhouse-config", "profile.xml").find(".//profiles/default")
    assert int(profile.findtext("insert_quorum")) == n
    assert profile.findtext("database_replicated_allow_only_replicated_engine") == "1"


def test_the_app_reaches_the_replicated_database() -> None:
    sql = obj("ConfigMap", "clickhouse-config")["data"]["001-database.sql"]
    db = CONFIG["CXPULSE_WAREHOUSE__DATABASE"]
    assert re.search(rf"CREATE DATABASE IF NOT EXISTS {db} ENGINE = Replicated\(", sql)
    dsn = urlsplit(SECRET["CXPULSE_WAREHOUSE__DSN"])
    assert dsn.hostname == f"clickhouse.{NAMESPACE}.svc" and dsn.port == 8123 and dsn.path == f"/{db}"
    assert dsn.password == SECRET["CLICKHOUSE_PASSWORD"]
    env = {e["name"]: e for e in container("StatefulSet", "clickhouse")["env"]}
    assert env["CLICKHOUSE_USER"]["value"] == dsn.username
    assert env["CLICKHOUSE_PASSWORD"]["valueFrom"]["secretKeyRef"]["key"] == "CLICKHOUSE_PASSWORD"
    assert "CLICKHOUSE_DB" not in env, "the image would create an Atomic (unreplicated) database"
    mounts = {m["mountPath"]: m.get("subPath") for m in container("StatefulSet", "clickhouse")["volumeMounts"]}
    assert mounts["/docker-entrypoint-initdb.d/001-database.sql"] == "001-database.sql"
