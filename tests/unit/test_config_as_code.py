"""Configuration as code without a server: file validation (every error, with its path), the diff and its
rendering, the example files, exit codes before any request. The round trip on the real stack is in
tests/e2e/test_config_as_code.py."""
from __future__ import annotations

import argparse
import io
from pathlib import Path

import httpx
import orjson
import pytest

from alerts.rules import Rule
from core.settings import Settings
from cxpulse.config_as_code import (
    EXIT_ERROR, EXIT_USAGE, RULES, TARGETS, ApiError, Change, ConfigFileError, Diff, apply, diff, format_loc,
    load_file, render, run,
)
from warehouse.queries import choose_view

ROOT = Path(__file__).resolve().parents[2]


def _errors(text: str, resource) -> list[tuple[str, str]]:
    with pytest.raises(ConfigFileError) as exc:
        load_file(text, resource)
    return exc.value.errors


def test_format_loc() -> None:
    assert format_loc(("rules", 2, "window")) == "rules[2].window"
    assert format_loc(("targets", 0, "scope", "planet", "[key]")) == "targets[0].scope.planet"
    assert format_loc(("tenant",)) == "tenant"
    assert format_loc(()) == ""


def test_rules_file_reports_every_error_with_its_path() -> None:
    errors = _errors("""
rules:
  - {id: ok, name: OK, metric: csat, condition: below, threshold: 80}
  - {id: a, name: A, metric: happiness, condition: below, threshold: 1}
  - {id: b, name: B, metric: csat, condition: below, threshold: 1, window: 2h}
  - {id: c, name: C, metric: csat, scope: {planet: mars}, condition: below, threshold: 1, colour: red}
  - {id: d, name: D, metric: csat, condition: below, threshold: 80, recovery: 70}
  - {id: "bad id", name: E, metric: csat, condition: sideways, threshold: 1}
""", RULES)
    assert [p for p, _ in errors] == ["rules[1].metric", "rules[2].window", "rules[3].scope", "rules[3].colour",
                                      "rules[4]", "rules[5].condition", "rules[5].id"]
    msgs = dict(errors)
    assert msgs["rules[2].window"].startswith("unknown window '2h'")
    assert msgs["rules[4]"] == "recovery must be >= threshold for a `below` rule"
    assert msgs["rules[3].colour"] == "Extra inputs are not permitted"


def test_targets_file_reports_every_error_with_its_path() -> None:
    errors = _errors("""
tenant: acme
targets:
  - {metric: nps, value: 150, valid_from: "2026-01-01T00:00:00Z"}
  - {metric: nps, value: 10, valid_from: "2026-01-01T00:00:00"}
  - {metric: csat, scope: {planet: mars}, value: 80, valid_from: 2026-01-01T00:00:00Z}
  - {metric: csat, value: 80, valid_from: 2026-01-01T00:00:00Z, valid_to: 2025-01-01T00:00:00Z}
  - {metric: csat, vaule: 80, valid_from: 2026-01-01T00:00:00Z}
""", TARGETS)
    assert errors == [
        ("targets[0].value", "nps targets lie in [-100, 100]"),
        ("targets[1].valid_from", "Input should have timezone info"),
        ("targets[2].scope.planet", errors[2][1]),
        ("targets[3].valid_to", "must be after valid_from"),
        ("targets[4].value", "Field required"),
        ("targets[4].vaule", "Extra inputs are not permitted"),
    ]
    assert "'channel'" in errors[2][1]


@pytest.mark.parametrize(("text", "expected"), [
    ("", [("", "expected a mapping with a `rules:` list (and optionally `tenant:`)")]),
    ("- {id: a}", [("", "expected a mapping with a `rules:` list (and optionally `tenant:`)")]),
    ("rule: []", [("rules", "Field required"), ("rule", "Extra inputs are not permitted")]),
    ("tenant: 5\nrules: []", [("tenant", "Input should be a valid string")]),
    ("rules: {a: 1}", [("rules", "Input should be a valid list")]),
])
def test_file_shape_errors(text: str, expected: list[tuple[str, str]]) -> None:
    assert _errors(text, RULES) == expected


def test_yaml_syntax_error_names_the_line() -> None:
    ((path, msg),) = _errors("rules:\n  - {id: a\n", RULES)
    assert path == "" and msg.startswith("not valid YAML") and "line 2" in msg


def test_duplicate_keys_are_errors() -> None:
    rule = "{id: a, name: A, metric: csat, condition: below, threshold: 80}"
    assert _errors(f"rules: [{rule}, {rule.replace('id: a', 'id: b')}, {rule}]", RULES) == [
        ("rules[2]", "duplicate of rules[0] (a)")]
    # The same target written in two zones and precisions is the same key.
    errors = _errors("""targets:
  - {metric: nps, scope: {channel: chat}, value: 30, valid_from: "2026-01-01T01:00:00.0004+01:00"}
  - {metric: nps, scope: {channel: chat}, value: 40, valid_from: "2026-01-01T00:00:00Z"}
""", TARGETS)
    assert errors == [("targets[1]", "duplicate of targets[0] (nps{channel=chat} from 2026-01-01T00:00:00.000Z)")]


def test_records_are_normalized_like_the_server_answers() -> None:
    cfg = load_file("""tenant: acme
targets:
  - {metric: csat, scope: {team: t1, channel: chat}, value: 80, valid_from: "2026-01-01T02:00:00.123456+02:00"}
""", TARGETS)
    assert cfg.tenant == "acme"
    assert cfg.records == [{"metric": "csat", "scope": {"channel": "chat", "team": "t1"}, "value": 80.0,
                            "valid_from": "2026-01-01T00:00:00.123Z", "valid_to": None}]
    assert list(cfg.records[0]["scope"]) == ["channel", "team"]  # allowlist order
    (rule,) = load_file("rules: [{id: a, name: A, metric: csat, condition: below, threshold: 80}]", RULES).records
    assert rule == Rule(id="a", name="A", metric="csat", condition="below", threshold=80).model_dump(mode="json")


def test_diff_is_field_by_field_over_every_field() -> None:
    current = {"a": {"id": "a", "threshold": 80.0, "scope": {"channel": "chat", "team": "t1"}, "for_s": 0,
                     "routes": ["x"], "gap": None},
               "b": {"id": "b", "threshold": 1.0},
               "c": {"id": "c", "threshold": 2.0}}
    wanted = {"a": {"id": "a", "threshold": 75.0, "scope": {"channel": "email", "segment": "vip"}, "for_s": 0,
                    "routes": ["x", "y"], "gap": {"kind": "data"}, "new_field": True},
              "b": {"id": "b", "threshold": 1.0},
              "d": {"id": "d", "threshold": 3.0}}
    d = diff(wanted, current)
    assert d.added == ["d"] and d.unchanged == ["b"] and d.extra == ["c"]
    assert d.changed == [Change("a", {
        "threshold": (80.0, 75.0), "scope.channel": ("chat", "email"), "scope.team": ("t1", None),
        "scope.segment": (None, "vip"), "routes": (["x"], ["x", "y"]), "gap": (None, {"kind": "data"}),
        "new_field": (None, True)})]
    assert (d.changes(prune=False), d.changes(prune=True)) == (2, 3)
    assert diff(wanted, wanted) == Diff(unchanged=["a", "b", "d"])


def test_render() -> None:
    d = Diff(added=["d"], changed=[Change("a", {"threshold": (80.0, 75.0), "scope": ({"channel": "chat"}, None)})],
             extra=["c"], unchanged=["b"])
    out = io.StringIO()
    render(d, "rules", prune=False, dry_run=False, out=out)
    assert out.getvalue() == (
        "+ d\n~ a\n    scope: {\"channel\":\"chat\"} -> null\n    threshold: 80.0 -> 75.0\n"
        "= c (not in the file; kept, --prune deletes it)\n"
        "rules: 1 added, 1 changed, 0 removed, 1 unchanged, 1 not in the file (kept); 2 change(s) applied\n")
    out = io.StringIO()
    render(d, "rules", prune=True, dry_run=True, out=out)
    assert out.getvalue().splitlines()[-2:] == [
        "- c", "rules: 1 added, 1 changed, 1 removed, 1 unchanged; dry run, 3 change(s) not applied"]
    out = io.StringIO()
    render(Diff(unchanged=["a", "b"]), "targets", prune=True, dry_run=False, out=out)
    assert out.getvalue() == "targets: 0 added, 0 changed, 0 removed, 2 unchanged; no changes\n"


def test_example_files_are_valid_and_servable_by_default() -> None:
    rules = load_file((ROOT / "deploy/config/rules.example.yaml").read_text(), RULES)
    targets = load_file((ROOT / "deploy/config/targets.example.yaml").read_text(), TARGETS)
    assert rules.tenant == targets.tenant == "demo"  # the tenant of `cxpulse up --demo`
    views = Settings().stream.views
    for r in rules.records:  # the API answers 422 for a scope (and fan-out) no stored view covers
        choose_view(views, set(r["scope"]) | set((r.get("gap") or {}).get("dimensions", [])))
    assert {(r.get("gap") or {}).get("kind") for r in rules.records} >= {"data", "baseline"}
    assert {r["metric"] for r in rules.records} >= {"nps", "csat", "ces", "response_rate", "volume"}
    assert {t["metric"] for t in targets.records} >= {"nps", "csat", "ces", "response_rate"}


def _args(command: str, sub: str, **kw) -> argparse.Namespace:
    return argparse.Namespace(command=command, config_command=sub, dry_run=False, prune=False, output=None, **kw)


def test_exit_codes_before_any_request(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dead = "http://127.0.0.1:9"  # nothing listens: an attempted request would be an API error, not these
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules: [{id: a, name: A, metric: happiness, condition: below, threshold: 1}]\n")
    assert run(_args("rules", "apply", file=tmp_path / "missing.yaml"), dead, "k") == EXIT_USAGE
    assert run(_args("rules", "apply", file=bad), dead, None) == EXIT_USAGE
    assert "no API key" in capsys.readouterr().err
    assert run(_args("rules", "apply", file=bad), dead, "k") == EXIT_ERROR
    err = capsys.readouterr().err
    assert err.splitlines()[0] == f"invalid rules file {bad}, nothing changed:"
    assert err.splitlines()[1].startswith("  rules[0].metric: Input should be")
    good = tmp_path / "good.yaml"
    good.write_text("rules: []\n")
    assert run(_args("rules", "apply", file=good), dead, "k") == EXIT_ERROR
    assert "cannot reach the API at http://127.0.0.1:9" in capsys.readouterr().err


def test_server_side_rejection_in_the_precheck_changes_nothing() -> None:
    """A rule the server refuses (PUT ?dry_run=true answers 422) is reported at its path; no write is sent."""
    writes: list[str] = []

    def handler(req: httpx.Request) -> httpx.Response:
        if req.method == "GET":
            return httpx.Response(200, json={"data": [], "count": 0})
        if req.url.params.get("dry_run") != "true":
            writes.append(f"{req.method} {req.url.path}")
            return httpx.Response(200, json={})
        if req.url.path.endswith("/b"):
            return httpx.Response(422, json={"detail": [{"loc": ["body", "scope"], "msg": "no stored view covers"}]})
        return httpx.Response(200, json=orjson.loads(req.content))

    text = """rules:
  - {id: a, name: A, metric: csat, condition: below, threshold: 80}
  - {id: b, name: B, metric: csat, scope: {site: x}, condition: below, threshold: 80}
"""
    with httpx.Client(transport=httpx.MockTransport(handler), base_url="http://api") as api:
        with pytest.raises(ConfigFileError) as exc:
            apply(api, RULES, text, prune=False, dry_run=False, out=io.StringIO())
    assert exc.value.errors == [("rules[1].scope", "no stored view covers")]
    assert writes == []

    newer = {"data": [{"id": "z", "name": "Z", "metric": "csat", "condition": "sideways", "threshold": 1}], "count": 1}
    with httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(200, json=newer)),
                      base_url="http://api") as api:
        with pytest.raises(ApiError, match="the server's rules include one this client cannot read"):
            apply(api, RULES, text, prune=False, dry_run=True, out=io.StringIO())

    with httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(503, text="down")),
                      base_url="http://api") as api:
        with pytest.raises(ApiError, match="GET /v1/alert-rules: HTTP 503: down"):
            apply(api, RULES, text, prune=False, dry_run=True, out=io.StringIO())
