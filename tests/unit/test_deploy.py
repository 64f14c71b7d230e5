"""Static checks of docker-compose.yml and deploy/: CI has no container engine."""
from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel, TypeAdapter

from core.settings import Settings, _ShortAliases
from core.topics import topic_names
from schemas.records import EventType

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "deploy" / "Dockerfile"

#: Values for the variables compose requires from the operator (>= 16 chars where secret).
OPERATOR_ENV = {
    "CXPULSE_PSEUDONYM_KEY": "test-only-pseudonym-key-0123456789",
    "CLICKHOUSE_PASSWORD": "test-only-clickhouse-password",
}

_VAR = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)")


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose-style ``${VAR}``, ``${VAR:-default}``, ``${VAR:?error}``, ``$$``."""

    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name = m.group(1) or m.group(4)
        op, arg = m.group(2), m.group(3)
        val = env.get(name)
        if op in (":-", "-"):
            return val if val not in (None, "") or (op == "-" and val is not None) else arg
        if op in (":?", "?"):
            if val in (None, "") if op == ":?" else val is None:
                raise KeyError(f"{name}: {arg}")
            return val
        return val or ""

    return _VAR.sub(sub, value)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def _env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items()}


# -- compose structure ----------------------------------------------------------
def test_compose_parses_and_has_the_services(services: dict[str, Any]) -> None:
    assert {"kafka", "clickhouse", "worker", "api"} <= set(services)


def test_every_service_has_an_image_or_a_build(services: dict[str, Any]) -> None:
    for name, svc in services.items():
        assert svc.get("image") or svc.get("build"), name


def test_images_are_the_expected_ones(services: dict[str, Any]) -> None:
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert services["clickhouse"]["image"].startswith("clickhouse/clickhouse-server:")
    for name in ("worker", "api"):
        build = services[name]["build"]
        assert build["dockerfile"] == "deploy/Dockerfile" and build["context"] == "."


def test_kafka_runs_kraft_single_node(services: dict[str, Any]) -> None:
    env = _env(services["kafka"])
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == "1@kafka:9093"
    assert "PLAINTEXT://kafka:9092" in env["KAFKA_ADVERTISED_LISTENERS"]
    assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "1"


def _health_command(svc: dict[str, Any]) -> str:
    test = svc["healthcheck"]["test"]
    return test if isinstance(test, str) else " ".join(test)


def test_kafka_and_clickhouse_have_health_checks(services: dict[str, Any]) -> None:
    for name in ("kafka", "clickhouse"):
        hc = services[name].get("healthcheck")
        assert hc and hc.get("test"), f"{name} needs a healthcheck"
        assert not hc.get("disable")
        assert int(hc.get("retries", 3)) >= 3
    assert "kafka-broker-api-versions" in _health_command(services["kafka"])
    assert "localhost:9092" in _health_command(services["kafka"])
    assert "8123/ping" in _health_command(services["clickhouse"])


@pytest.mark.parametrize("name", ["worker", "api"])
def test_services_wait_for_healthy_dependencies(services: dict[str, Any], name: str) -> None:
    deps = services[name]["depends_on"]
    assert isinstance(deps, dict), "long syntax is needed for conditions"
    for dep in ("kafka", "clickhouse"):
        assert deps[dep]["condition"] == "service_healthy"
    for dep in ("kafka-init", "migrate"):
        assert deps[dep]["condition"] == "service_completed_successfully"
        assert services[dep].get("restart") == "no"


def test_worker_and_api_commands(services: dict[str, Any]) -> None:
    assert services["worker"]["command"] == ["worker"]
    assert services["api"]["command"] == ["api"]
    assert services["migrate"]["command"] == ["migrate"]
    assert services["migrate"]["depends_on"]["clickhouse"]["condition"] == "service_healthy"
    assert any(str(p).endswith(":8000") for p in services["api"]["ports"])


def test_every_dependency_exists(services: dict[str, Any]) -> None:
    for name, svc in services.items():
        for dep in svc.get("depends_on", {}):
            assert dep in services, f"{name} depends on unknown {dep}"


# -- environment -> Settings --------------------------------------------------------
def _cxpulse_env(services: dict[str, Any]) -> dict[str, dict[str, str]]:
    return {
        name: {k: interpolate(v, OPERATOR_ENV) for k, v in _env(svc).items() if k.startswith("CXPULSE_")}
        for name, svc in services.items()
    }


def _field_path(env_name: str) -> tuple[str, ...]:
    """The Settings field an env name sets, or fail if it sets none (extra='ignore' would hide it)."""
    aliases = _ShortAliases._ALIASES
    if env_name in aliases:
        return aliases[env_name]
    parts = tuple(p.lower() for p in env_name.removeprefix("CXPULSE_").split("__"))
    model: type[BaseModel] = Settings
    for i, part in enumerate(parts):
        assert part in model.model_fields, f"{env_name}: {part!r} is not a field of {model.__name__}"
        ann = model.model_fields[part].annotation
        if i < len(parts) - 1:
            assert isinstance(ann, type) and issubclass(ann, BaseModel), f"{env_name}: {part} has no sub-fields"
            model = ann
    return parts


def _annotation(path: tuple[str, ...]) -> Any:
    model: Any = Settings
    for part in path:
        ann = model.model_fields[part].annotation
        model = ann
    return ann


def _get(settings: Settings, path: tuple[str, ...]) -> Any:
    value: Any = settings
    for part in path:
        value = getattr(value, part)
    return value


def test_compose_uses_only_real_settings(services: dict[str, Any]) -> None:
    used = {k for env in _cxpulse_env(services).values() for k in env}
    assert {"CXPULSE_KAFKA__BOOTSTRAP", "CXPULSE_WAREHOUSE__DSN", "CXPULSE_PSEUDONYM_KEY",
            "CXPULSE_API__KEYS_FILE"} <= used
    for name in used:
        _field_path(name)


@pytest.mark.parametrize("service", ["worker", "api", "migrate"])
def test_compose_env_lands_in_settings(
    services: dict[str, Any], service: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    env = _cxpulse_env(services)[service]
    assert env, f"{service} has no CXPULSE_* environment"
    if "CXPULSE_API__KEYS_FILE" in env:
        # The secret is mounted in the container; here, the example file stands in for it.
        keys = tmp_path / "keys.yaml"
        keys.write_text((ROOT / "deploy" / "api-keys.example.yaml").read_text())
        env["CXPULSE_API__KEYS_FILE"] = str(keys)
    for var in [v for v in __import__("os").environ if v.startswith("CXPULSE_")]:
        monkeypatch.delenv(var)
    for k, v in env.items():
        monkeypatch.setenv(k, v)

    settings = Settings()
    for k, v in env.items():
        path = _field_path(k)
        got = _get(settings, path)
        want = TypeAdapter(_annotation(path)).validate_python(v)  # "30" -> 30.0 for a float field
        assert got == want, f"{k}={v!r} became {got!r}"
    assert settings.kafka.bootstrap == "kafka:9092"
    assert settings.warehouse_dsn == f"http://default:{OPERATOR_ENV['CLICKHOUSE_PASSWORD']}@clickhouse:8123/cxpulse"
    assert not settings.embedded_warehouse
    assert settings.pseudonym_key == OPERATOR_ENV["CXPULSE_PSEUDONYM_KEY"]
    if service == "api":
        assert settings.api.port == 8000 and settings.api.host == "0.0.0.0"
        assert {k.tenant for k in settings.api.keys.values()} == {"acme"}


def test_secrets_have_no_default(compose: dict[str, Any]) -> None:
    text = COMPOSE.read_text()
    for var in OPERATOR_ENV:
        for m in re.finditer(r"\$\{" + var + r"(:?[-?])?", text):
            assert m.group(1) in (":?", "?"), f"{var} must be required (${{{var}:?...}}), not defaulted"
    assert re.search(r"\$\{CXPULSE_PSEUDONYM_KEY:\?", text)
    with pytest.raises(KeyError):
        interpolate(_env(compose["services"]["worker"])["CXPULSE_PSEUDONYM_KEY"], {})


def test_interpolate_follows_compose_rules() -> None:
    assert interpolate("a${X:-d}b", {}) == "adb"
    assert interpolate("${X:-d}", {"X": "v"}) == "v"
    assert interpolate("$${X}", {"X": "v"}) == "${X}"
    with pytest.raises(KeyError):
        interpolate("${X:?need X}", {"X": ""})


# -- files referenced --------------------------------------------------------------------
def _dockerfile_instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            op, _, rest = line.partition(" ")
            out.append((op.upper(), rest.strip()))
    return out


def test_dockerfile_shape() -> None:
    ins = _dockerfile_instructions()
    froms = [rest for op, rest in ins if op == "FROM"]
    assert froms and froms[-1].split()[0] == "python:3.11-slim"
    # Python stages, plus the node stage that bundles the board (no node in the final image).
    assert all(f.split()[0] in ("python:3.11-slim", "node:20-slim") for f in froms)
    users = [rest for op, rest in ins if op == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    entry = [rest for op, rest in ins if op == "ENTRYPOINT"]
    assert entry == ['["cxpulse"]']
    assert any(op == "RUN" and "pip install ." in rest for op, rest in ins)


def test_dockerfile_copy_sources_exist() -> None:
    for op, rest in _dockerfile_instructions():
        if op not in ("COPY", "ADD"):
            continue
        args = [a for a in shlex.split(rest) if not a.startswith("--")]
        if "--from=" in rest:
            continue  # copies from a build stage, not the context
        for src in args[:-1]:
            if "*" in src:
                continue  # a wildcard may match nothing (optional files such as README.md*)
            assert (ROOT / src).exists(), f"Dockerfile copies {src}, which is missing from the repository"


def test_image_contains_every_package() -> None:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = {p.rstrip("*") for p in project["tool"]["setuptools"]["packages"]["find"]["include"]}
    copied = {src for op, rest in _dockerfile_instructions() if op == "COPY" and "--from" not in rest
              for src in shlex.split(rest)[:-1] if "*" not in src}
    assert packages <= copied
    assert project["project"]["scripts"]["cxpulse"]  # the ENTRYPOINT
    ignore = (ROOT / "deploy" / "Dockerfile.dockerignore").read_text().splitlines()
    for src in copied:
        assert f"!{src}" in ignore or f"!{src}/**" in ignore, f"{src} is excluded from the build context"


def test_compose_bind_mounts_exist(compose: dict[str, Any]) -> None:
    for name, svc in compose["services"].items():
        for vol in svc.get("volumes", []):
            src = vol.split(":")[0] if isinstance(vol, str) else vol.get("source", "")
            if src.startswith("."):
                assert (ROOT / src).exists(), f"{name} mounts missing {src}"
        build = svc.get("build")
        if build:
            assert (ROOT / build["context"] / build["dockerfile"]).is_file()
    for secret in compose.get("secrets", {}).values():
        # The default keys file is operator-provided (git-ignored); its template must exist.
        assert secret["file"].endswith("./deploy/api-keys.yaml}")
        assert (ROOT / "deploy" / "api-keys.example.yaml").is_file()


def test_init_script_creates_the_topics_the_code_uses() -> None:
    script = (ROOT / "deploy" / "kafka" / "create-topics.sh").read_text()
    suffixes = re.search(r"for topic in ([^;]+);", script).group(1).split()
    created = {f"cx.{s}" for s in suffixes}
    assert created == set(topic_names("cx").values())
    assert {t.value for t in EventType} <= set(topic_names("cx"))
