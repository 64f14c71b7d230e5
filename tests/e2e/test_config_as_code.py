"""Configuration as code on the real stack (Tansu + chDB + API in this process): `cxpulse rules|targets
apply|export` run in-process through `cxpulse.cli.main` against the running API, while the stack owns
the embedded chDB path."""
from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
import yaml

from cxpulse.cli import main
from core.settings import ApiKey
from tests.conftest import TEST_KEY, TEST_TENANT, make_settings

pytestmark = [pytest.mark.e2e]

ADMIN_KEY = "test-key-acme-admin"
OTHER_ADMIN_KEY = "test-key-globex-admin"
DEMO_ADMIN_KEY = "test-key-demo-admin"
EXAMPLES = Path(__file__).resolve().parents[2] / "deploy" / "config"
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


@pytest.fixture
def settings(tmp_path, broker, chdb_dsn):
    s = make_settings(tmp_path, broker.bootstrap, chdb_dsn)
    s.api.keys[ADMIN_KEY] = ApiKey(tenant=TEST_TENANT, scopes=["read", "admin"])
    s.api.keys[OTHER_ADMIN_KEY] = ApiKey(tenant="globex", scopes=["read", "admin"])
    s.api.keys[DEMO_ADMIN_KEY] = ApiKey(tenant="demo", scopes=["read", "admin"])
    return s


class Cli:
    """`cxpulse ...` in a worker thread (the API serves on this test's event loop), exit code and output."""

    def __init__(self, url: str, capsys: pytest.CaptureFixture[str]) -> None:
        self.url, self.capsys = url, capsys

    async def __call__(self, *argv: str, token: str = ADMIN_KEY) -> tuple[int, str, str]:
        self.capsys.readouterr()
        try:
            await asyncio.to_thread(main, [*argv, "--api-url", self.url, "--token", token])
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        out, err = self.capsys.readouterr()
        return code, out, err


@pytest.fixture
def cli(stack: httpx.AsyncClient, capsys: pytest.CaptureFixture[str]) -> Cli:
    return Cli(str(stack.base_url).rstrip("/"), capsys)


def _rule(rule_id: str, **kw) -> dict:
    return {"id": rule_id, "name": f"Rule {rule_id}", "metric": "csat", "condition": "below", "threshold": 80, **kw}


def _write(path: Path, key: str, items: list[dict], tenant: str | None = TEST_TENANT) -> Path:
    path.write_text(yaml.safe_dump({**({"tenant": tenant} if tenant else {}), key: items}, sort_keys=False))
    return path


async def _rules(client: httpx.AsyncClient) -> dict[str, dict]:
    return {r["id"]: r for r in (await client.get("/v1/alert-rules")).json()["data"]}


async def test_rules_round_trip(stack: httpx.AsyncClient, cli: Cli, tmp_path: Path) -> None:
    f = tmp_path / "rules.yaml"
    a = _rule("csat-chat", scope={"channel": "chat"}, severity="critical", labels={"owner": "digital"})
    b = _rule("nps-all", metric="nps", threshold=20, window="24h", min_n=100)
    c = _rule("ces-billing", metric="ces", threshold=4.5, scope={"journey_step": "billing"})
    _write(f, "rules", [a, b, c])

    # dry run: the diff, nothing stored
    assert await cli("rules", "apply", str(f), "--dry-run") == (0, (
        "+ csat-chat\n+ nps-all\n+ ces-billing\n"
        "rules: 3 added, 0 changed, 0 removed, 0 unchanged; dry run, 3 change(s) not applied\n"), "")
    assert await _rules(stack) == {}

    # apply: stored exactly as in the file
    code, out, _ = await cli("rules", "apply", str(f))
    assert (code, out.splitlines()[-1]) == (0, "rules: 3 added, 0 changed, 0 removed, 0 unchanged; 3 change(s) applied")
    stored = await _rules(stack)
    assert sorted(stored) == ["ces-billing", "csat-chat", "nps-all"]
    for want in (a, b, c):
        assert {k: stored[want["id"]][k] for k in want} == want
    assert stored["nps-all"]["for_s"] == 0 and stored["csat-chat"]["window"] == "1h"  # defaults filled in

    # the same file again: nothing changes, nothing is written
    assert await cli("rules", "apply", str(f)) == (
        0, "rules: 0 added, 0 changed, 0 removed, 3 unchanged; no changes\n", "")
    assert {k: r["updated_at"] for k, r in (await _rules(stack)).items()} == \
        {k: r["updated_at"] for k, r in stored.items()}

    # modified: one field pair changed, one rule added, one left out (kept without --prune)
    d = _rule("response-rate", metric="response_rate", threshold=8, window="1d", min_n=200, severity="info")
    _write(f, "rules", [{**a, "threshold": 75, "for_s": 600, "labels": {"owner": "cx-digital"}}, b, d])
    assert await cli("rules", "apply", str(f)) == (0, (
        "+ response-rate\n~ csat-chat\n    for_s: 0 -> 600\n    labels.owner: \"digital\" -> \"cx-digital\"\n"
        "    threshold: 80.0 -> 75.0\n"
        "= ces-billing (not in the file; kept, --prune deletes it)\n"
        "rules: 1 added, 1 changed, 0 removed, 1 unchanged, 1 not in the file (kept); 2 change(s) applied\n"), "")
    stored = await _rules(stack)
    assert sorted(stored) == ["ces-billing", "csat-chat", "nps-all", "response-rate"]
    assert (stored["csat-chat"]["threshold"], stored["csat-chat"]["for_s"], stored["csat-chat"]["labels"]) == (
        75.0, 600, {"owner": "cx-digital"})

    # --prune: first as a dry run, then for real
    code, out, _ = await cli("rules", "apply", str(f), "--prune", "--dry-run")
    assert out == "- ces-billing\nrules: 0 added, 0 changed, 1 removed, 3 unchanged; dry run, 1 change(s) not applied\n"
    assert "ces-billing" in await _rules(stack)
    code, out, _ = await cli("rules", "apply", str(f), "--prune")
    assert (code, out) == (0, "- ces-billing\nrules: 0 added, 0 changed, 1 removed, 3 unchanged; 1 change(s) applied\n")
    assert sorted(await _rules(stack)) == ["csat-chat", "nps-all", "response-rate"]

    # export -> apply: no changes; the export holds exactly the server's rules
    exported = tmp_path / "exported.yaml"
    code, out, _ = await cli("rules", "export", "-o", str(exported))
    assert code == 0 and out == ""
    doc = yaml.safe_load(exported.read_text())
    assert doc["tenant"] == TEST_TENANT
    stored = await _rules(stack)
    assert [r["id"] for r in doc["rules"]] == sorted(stored)
    for r in doc["rules"]:
        assert r == {k: v for k, v in stored[r["id"]].items() if k not in ("fingerprint", "updated_at")}
    assert await cli("rules", "apply", str(exported), "--prune") == (
        0, "rules: 0 added, 0 changed, 0 removed, 3 unchanged; no changes\n", "")
    code, out, _ = await cli("rules", "export")
    assert code == 0 and yaml.safe_load(out) == doc


async def test_rules_invalid_file_changes_nothing(stack: httpx.AsyncClient, cli: Cli, tmp_path: Path) -> None:
    f = _write(tmp_path / "rules.yaml", "rules", [_rule("keep")])
    assert (await cli("rules", "apply", str(f)))[0] == 0
    before = await _rules(stack)

    # client-side: every error with its path
    _write(f, "rules", [_rule("new-ok"), _rule("bad-window", window="2h"), _rule("bad-metric", metric="happiness"),
                        _rule("keep")])
    code, out, err = await cli("rules", "apply", str(f), "--prune")
    assert (code, out) == (1, "")
    lines = err.splitlines()
    assert lines[0] == f"invalid rules file {f}, nothing changed:"
    assert [line.split(":")[0].strip() for line in lines[1:]] == ["rules[1].window", "rules[2].metric"]

    # server-side (a scope no stored view covers): caught by the dry-run precheck, before any write
    _write(f, "rules", [_rule("new-ok"), _rule("by-site", scope={"site": "lis-1"})])
    code, out, err = await cli("rules", "apply", str(f), "--prune")
    assert (code, out) == (1, "")
    assert err.splitlines()[1].startswith("  rules[1].scope: ") and "no stored view" in err
    assert await _rules(stack) == before

    # the file's tenant must be the key's
    _write(f, "rules", [_rule("keep")], tenant="globex")
    code, out, err = await cli("rules", "apply", str(f))
    assert (code, out) == (1, "")
    assert err == "error: the file is for tenant 'globex' but the API key is for tenant 'acme'\n"
    # ... and tenants stay apart: globex's key sees none of acme's rules
    _write(f, "rules", [], tenant=None)
    assert await cli("rules", "apply", str(f), "--prune", "--dry-run", token=OTHER_ADMIN_KEY) == (
        0, "rules: 0 added, 0 changed, 0 removed, 0 unchanged; no changes\n", "")

    # a read-only key: the API refuses, exit 1
    _write(f, "rules", [_rule("keep"), _rule("other")])
    code, _, err = await cli("rules", "apply", str(f), token=TEST_KEY)
    assert code == 1 and "HTTP 403" in err
    assert await _rules(stack) == before

    # usage errors: exit 2
    assert (await cli("rules", "apply", str(tmp_path / "missing.yaml")))[0] == 2
    assert (await cli("rules", "frobnicate"))[0] == 2


async def test_targets_round_trip(stack: httpx.AsyncClient, cli: Cli, tmp_path: Path) -> None:
    f = tmp_path / "targets.yaml"
    t1 = {"metric": "nps", "value": 30, "valid_from": "2026-01-01T00:00:00Z", "valid_to": "2026-04-01T00:00:00Z"}
    t2 = {"metric": "nps", "value": 35, "valid_from": "2026-04-01T00:00:00Z"}
    t3 = {"metric": "csat", "scope": {"team": "t-billing-2", "channel": "chat"}, "value": 75,
          "valid_from": "2026-01-01T01:00:00+01:00"}
    _write(f, "targets", [t1, t2, t3])
    k1, k2 = "nps{} from 2026-01-01T00:00:00.000Z", "nps{} from 2026-04-01T00:00:00.000Z"
    k3 = "csat{channel=chat,team=t-billing-2} from 2026-01-01T00:00:00.000Z"

    assert await cli("targets", "apply", str(f)) == (0, (
        f"+ {k1}\n+ {k2}\n+ {k3}\ntargets: 3 added, 0 changed, 0 removed, 0 unchanged; 3 change(s) applied\n"), "")
    listed = (await stack.get("/v1/targets")).json()["data"]
    assert sorted((t["metric"], t["scope"], t["value"], t["valid_from"], t["valid_to"]) for t in listed) == [
        ("csat", {"channel": "chat", "team": "t-billing-2"}, 75.0, "2026-01-01T00:00:00Z", None),
        ("nps", {}, 30.0, "2026-01-01T00:00:00Z", "2026-04-01T00:00:00Z"),
        ("nps", {}, 35.0, "2026-04-01T00:00:00Z", None),
    ]
    assert await cli("targets", "apply", str(f)) == (
        0, "targets: 0 added, 0 changed, 0 removed, 3 unchanged; no changes\n", "")

    # modified: value and valid_to of one, another left out, then pruned
    _write(f, "targets", [{**t1, "value": 32, "valid_to": None}, t3])
    assert await cli("targets", "apply", str(f)) == (0, (
        f"~ {k1}\n    valid_to: \"2026-04-01T00:00:00.000Z\" -> null\n    value: 30.0 -> 32.0\n"
        f"= {k2} (not in the file; kept, --prune deletes it)\n"
        "targets: 0 added, 1 changed, 0 removed, 1 unchanged, 1 not in the file (kept); 1 change(s) applied\n"), "")
    assert await cli("targets", "apply", str(f), "--prune") == (
        0, f"- {k2}\ntargets: 0 added, 0 changed, 1 removed, 2 unchanged; 1 change(s) applied\n", "")
    listed = (await stack.get("/v1/targets")).json()["data"]
    assert sorted((t["metric"], t["value"], t["valid_to"]) for t in listed) == [("csat", 75.0, None), ("nps", 32.0, None)]

    # export -> apply: no changes
    code, out, _ = await cli("targets", "export")
    assert code == 0
    exported = tmp_path / "exported.yaml"
    exported.write_text(out)
    assert len(yaml.safe_load(out)["targets"]) == 2
    assert await cli("targets", "apply", str(exported), "--prune") == (
        0, "targets: 0 added, 0 changed, 0 removed, 2 unchanged; no changes\n", "")

    # an invalid file changes nothing
    _write(f, "targets", [t1, {**t2, "value": 150}, {**t3, "scope": {"planet": "mars"}}])
    code, out, err = await cli("targets", "apply", str(f), "--prune")
    assert (code, out) == (1, "")
    assert [line.split(":")[0].strip() for line in err.splitlines()[1:]] == ["targets[1].value",
                                                                             "targets[2].scope.planet"]
    assert len((await stack.get("/v1/targets")).json()["data"]) == 2


async def test_api_additions(stack: httpx.AsyncClient) -> None:
    """GET /v1/whoami; PUT /v1/alert-rules/{id}?dry_run=true stores nothing; DELETE /v1/targets deletes one."""
    assert (await stack.get("/v1/whoami")).json() == {"tenant": TEST_TENANT, "scopes": ["ingest", "read"]}
    assert (await stack.get("/v1/whoami", headers={"Authorization": "Bearer nope"})).status_code == 401
    body = {k: v for k, v in _rule("x").items() if k != "id"}
    r = await stack.put("/v1/alert-rules/x", json=body, params={"dry_run": "true"}, headers=ADMIN)
    assert r.status_code == 201 and r.json()["threshold"] == 80
    assert (await stack.get("/v1/alert-rules/x")).status_code == 404
    r = await stack.put("/v1/alert-rules/x", json={**body, "scope": {"site": "x"}}, params={"dry_run": "true"},
                        headers=ADMIN)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "scope"]

    target = {"metric": "csat", "scope": {"channel": "chat"}, "value": 80, "valid_from": "2026-01-01T00:00:00Z"}
    assert (await stack.put("/v1/targets", json=target, headers=ADMIN)).status_code == 200
    assert (await stack.put("/v1/targets", json={**target, "scope": {}}, headers=ADMIN)).status_code == 200
    key = {"metric": "csat", "valid_from": "2026-01-01T00:00:00Z", "channel": "chat"}
    assert (await stack.delete("/v1/targets", params=key)).status_code == 403  # read key
    assert (await stack.delete("/v1/targets", params={**key, "channel": "email"}, headers=ADMIN)).status_code == 404
    assert (await stack.delete("/v1/targets", params=key, headers=ADMIN)).status_code == 204
    assert (await stack.delete("/v1/targets", params=key, headers=ADMIN)).status_code == 404
    assert [(t["scope"], t["value"]) for t in (await stack.get("/v1/targets")).json()["data"]] == [({}, 80.0)]
    # put again after the delete: stored again
    assert (await stack.put("/v1/targets", json={**target, "value": 70}, headers=ADMIN)).status_code == 200
    assert sorted((t["scope"].get("channel", ""), t["value"]) for t in (await stack.get("/v1/targets")).json()["data"]) \
        == [("", 80.0), ("chat", 70.0)]


@pytest.mark.parametrize("kind", ["rules", "targets"])
async def test_example_files_apply_and_round_trip(stack: httpx.AsyncClient, cli: Cli, tmp_path: Path,
                                                  kind: str) -> None:
    """The shipped examples (tenant `demo`) are accepted by the server, and export -> apply is a no-op."""
    example = EXAMPLES / f"{kind}.example.yaml"
    n = len(yaml.safe_load(example.read_text())[kind])
    code, out, err = await cli(kind, "apply", str(example), token=DEMO_ADMIN_KEY)
    assert (code, err) == (0, "")
    assert out.splitlines()[-1] == f"{kind}: {n} added, 0 changed, 0 removed, 0 unchanged; {n} change(s) applied"
    assert await cli(kind, "apply", str(example), token=DEMO_ADMIN_KEY) == (
        0, f"{kind}: 0 added, 0 changed, 0 removed, {n} unchanged; no changes\n", "")
    code, out, _ = await cli(kind, "export", token=DEMO_ADMIN_KEY)
    exported = tmp_path / "exported.yaml"
    exported.write_text(out)
    assert await cli(kind, "apply", str(exported), "--prune", token=DEMO_ADMIN_KEY) == (
        0, f"{kind}: 0 added, 0 changed, 0 removed, {n} unchanged; no changes\n", "")
