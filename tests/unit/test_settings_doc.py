"""docs/configuration.md: generated from Settings, complete, and true about env names and errors."""
from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel, ValidationError

from cxpulse import settings_doc
from core.settings import ApiKey, Settings, _ShortAliases

DOC = settings_doc.DOC_PATH
PSEUDONYM_KEY = "test-only-pseudonym-key-0123456789"
_ROW = re.compile(r"^\| `([a-z_.]+)` \| `(CXPULSE_[A-Z_]+)`")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No CXPULSE_* variable (nor CXPULSE_CONFIG_FILE) from the caller's shell leaks in."""
    for var in [v for v in os.environ if v.upper().startswith("CXPULSE_")]:
        monkeypatch.delenv(var)


def _leaves(model: type[BaseModel], prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every leaf field of ``model``, walked recursively through nested models."""
    out: list[tuple[str, ...]] = []
    for name, field in model.model_fields.items():
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            out += _leaves(ann, (*prefix, name))
        else:
            out.append((*prefix, name))
    return out


def _doc_env() -> dict[str, str]:
    """Dotted setting -> env variable, read from the settings tables of the checked-in doc."""
    rows: dict[str, str] = {}
    for line in DOC.read_text(encoding="utf-8").splitlines():
        m = _ROW.match(line)
        if m:
            assert m.group(1) not in rows, f"{m.group(1)} documented twice"
            rows[m.group(1)] = m.group(2)
    return rows


def _get(settings: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        settings = getattr(settings, part)
    return settings


def test_checked_in_doc_is_generated() -> None:
    assert DOC.read_text(encoding="utf-8") == settings_doc.render(), (
        "docs/configuration.md is out of date: run `python -m cxpulse.settings_doc`"
    )


def test_check_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "configuration.md"
    assert settings_doc.main(["--check", "--output", str(out)]) == 1  # missing
    assert settings_doc.main(["--output", str(out)]) == 0
    assert settings_doc.main(["--check", "--output", str(out)]) == 0
    out.write_text(out.read_text() + "edited by hand\n")
    assert settings_doc.main(["--check", "--output", str(out)]) == 1
    assert "out of date" in capsys.readouterr().err


def test_every_field_is_documented_with_its_env_variable() -> None:
    leaves = _leaves(Settings)
    assert len(leaves) > 20
    documented = _doc_env()
    for path in leaves:
        dotted = ".".join(path)
        want_env = "CXPULSE_" + "__".join(p.upper() for p in path)
        assert documented.get(dotted) == want_env, f"{dotted}: documented as {documented.get(dotted)!r}"
    assert set(documented) == {".".join(p) for p in leaves}, "the doc lists a setting the model lacks"


def test_every_field_has_a_description() -> None:
    missing = [".".join(p) for p, f in settings_doc.iter_settings() if not f.description]
    missing += [f"ApiKey.{n}" for n, f in ApiKey.model_fields.items() if not f.description]
    sections = [n for n, f in Settings.model_fields.items() if not f.description]
    assert not missing and not sections, f"no description: {missing + sections}"


def test_short_aliases_are_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    for alias, (section, key) in _ShortAliases._ALIASES.items():
        assert f"| `{alias}` | `{section}.{key}` |" in text


@pytest.mark.parametrize(
    ("dotted", "value", "expected"),
    [
        ("kafka.partitions", "12", 12),  # int, nested
        ("kafka.rebalance_timeout_s", "30", 30.0),  # float, nested
        ("data_dir", "/var/lib/cxpulse", Path("/var/lib/cxpulse")),  # Path, top level
        ("log_level", "DEBUG", "DEBUG"),  # str, top level
        ("stream.window_sizes", '["1m", "1h"]', ["1m", "1h"]),  # list of literals (JSON)
        ("stream.views", '[[], ["channel", "segment"]]', [[], ["channel", "segment"]]),  # list of lists
        ("api.keys", '{"tok-123": {"tenant": "acme", "scopes": ["read"]}}',
         {"tok-123": ApiKey(tenant="acme", scopes=["read"])}),  # dict of models
        ("warehouse.dsn", "http://u:p@ch:8123/cx", "http://u:p@ch:8123/cx"),
    ],
)
def test_env_variable_named_in_doc_lands_in_field(
    monkeypatch: pytest.MonkeyPatch, dotted: str, value: str, expected: Any
) -> None:
    env = _doc_env()[dotted]
    monkeypatch.setenv(env, value)
    assert _get(Settings(), dotted) == expected


def test_precedence_env_over_alias_over_config_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cfg = tmp_path / "cxpulse.yaml"
    cfg.write_text("api:\n  port: 7001\n  host: 10.0.0.1\nkafka:\n  partitions: 3\n  bootstrap: file:9092\n")
    monkeypatch.setenv("CXPULSE_CONFIG_FILE", str(cfg))
    monkeypatch.setenv("CXPULSE_API_PORT", "7002")  # alias beats the file
    monkeypatch.setenv("CXPULSE_KAFKA_PARTITIONS", "5")
    monkeypatch.setenv("CXPULSE_KAFKA__PARTITIONS", "6")  # regular variable beats the alias
    s = Settings()
    assert (s.api.port, s.kafka.partitions) == (7002, 6)
    assert (s.api.host, s.kafka.bootstrap) == ("10.0.0.1", "file:9092")  # sections merge per setting
    assert Settings(kafka={"partitions": 9}).kafka.partitions == 9  # init arguments beat everything


def _assert_known_keys(data: dict[str, Any], model: type[BaseModel], where: str = "") -> None:
    """extra='ignore' would hide a misspelt key in the example, so check it against the model."""
    for key, value in data.items():
        assert key in model.model_fields, f"example config: {where}{key} is not a setting"
        ann = model.model_fields[key].annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            _assert_known_keys(value, ann, f"{where}{key}.")


def test_example_config_and_keys_file_load(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    text = DOC.read_text(encoding="utf-8")
    assert settings_doc.EXAMPLE_CONFIG_YAML in text and settings_doc.EXAMPLE_KEYS_YAML in text
    config = yaml.safe_load(settings_doc.EXAMPLE_CONFIG_YAML)
    _assert_known_keys(config, Settings)

    keys = tmp_path / "keys.yaml"
    keys.write_text(settings_doc.EXAMPLE_KEYS_YAML)
    config["api"]["keys_file"] = str(keys)
    config["data_dir"] = str(tmp_path / "data")
    cfg = tmp_path / "cxpulse.json"  # the JSON flavour of the same file
    cfg.write_text(json.dumps(config))
    monkeypatch.setenv("CXPULSE_CONFIG_FILE", str(cfg))
    monkeypatch.setenv("CXPULSE_PSEUDONYM_KEY", PSEUDONYM_KEY)
    s = Settings()
    assert s.kafka.partitions == 12 and s.kafka.replication_factor == 3
    assert s.stream.views[-1] == ["channel", "segment"] and s.stream.grace_s == 900
    assert s.api.host == "0.0.0.0"
    assert {k.tenant for k in s.api.keys.values()} == {"acme"}
    assert sorted(sorted(k.scopes) for k in s.api.keys.values()) == [["admin", "ingest", "read"], ["ingest"], ["read"]]


@pytest.mark.parametrize(
    ("env", "value", "field"),
    [
        ("CXPULSE_KAFKA__PARTITIONS", "0", "kafka.partitions"),
        ("CXPULSE_KAFKA_PARTITIONS", "2000", "kafka.partitions"),  # via the alias
        ("CXPULSE_PSEUDONYM_KEY", "changeme", "pseudonym_key"),
        ("CXPULSE_PSEUDONYM_KEY", "too-short", "pseudonym_key"),
        ("CXPULSE_STREAM__WINDOW_SIZES", '["5m"]', "stream.window_sizes.0"),
        ("CXPULSE_STREAM__GRACE_S", "-1", "stream.grace_s"),
        ("CXPULSE_API__PORT", "http", "api.port"),
        ("CXPULSE_API__KEYS", '{"tok": {"tenant": "Acme"}}', "api.keys.tok.tenant"),
    ],
)
def test_bad_value_names_the_field(monkeypatch: pytest.MonkeyPatch, env: str, value: str, field: str) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises(ValidationError) as exc:
        Settings()
    assert field in {".".join(str(p) for p in e["loc"]) for e in exc.value.errors()}
    assert field in str(exc.value)


def test_documented_error_message_is_real(monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in settings_doc.EXAMPLE_ERROR_ENV.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(ValidationError) as exc:
        Settings()
    lines = str(exc.value).splitlines()
    assert lines[0] == "1 validation error for Settings"
    assert tuple(lines[1:3]) == settings_doc.EXAMPLE_ERROR_LINES
