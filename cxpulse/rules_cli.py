"""``cxpulse rules apply rules.yaml``: make the stored alert rules of the named tenants equal a file.

The file is either a mapping ``{tenant: acme, rules: [...]}`` or a list of
rules each carrying ``tenant``. The file is authoritative for every tenant it
names: its rules are created or updated, and that tenant's stored rules missing
from the file are deleted. Everything is validated before anything is written;
applying the same file twice changes nothing the second time.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from alerts.rules import Rule
from warehouse.queries import NoViewCovers, choose_view
from cxpulse.config import Settings

__all__ = ["RulesDiff", "RulesFileError", "apply_rules_file", "load_rules_file"]


class RulesFileError(ValueError):
    """The file is not a valid rules file; ``errors`` lists (path, message)."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{p}: {m}" for p, m in errors))
        self.errors = errors


@dataclass
class RulesDiff:
    """Rule keys (tenant, id) by what applying the file does (or did) to them."""

    create: list[tuple[str, str]] = field(default_factory=list)
    update: list[tuple[str, str]] = field(default_factory=list)
    delete: list[tuple[str, str]] = field(default_factory=list)
    unchanged: list[tuple[str, str]] = field(default_factory=list)

    @property
    def changes(self) -> int:
        return len(self.create) + len(self.update) + len(self.delete)


def load_rules_file(path: Path, settings: Settings) -> dict[str, list[Rule]]:
    """Rules of the file by tenant; every error of the file at once in ``RulesFileError``."""
    raw = yaml.safe_load(Path(path).read_text())
    items: list[tuple[str, Any]] = []
    if isinstance(raw, dict) and isinstance(raw.get("tenant"), str) and isinstance(raw.get("rules"), list):
        items = [(raw["tenant"], r) for r in raw["rules"]]
        prefix = "rules"
    elif isinstance(raw, list):
        prefix = ""
        for r in raw:
            items.append((r.pop("tenant", None) if isinstance(r, dict) else None, r))
    else:
        raise RulesFileError([("", "expected a list of rules or {tenant, rules}")])
    errors: list[tuple[str, str]] = []
    out: dict[str, list[Rule]] = {}
    seen: set[tuple[str, str]] = set()
    for i, (tenant, item) in enumerate(items):
        at = f"{prefix}[{i}]" if prefix else f"[{i}]"
        if not isinstance(tenant, str) or not tenant:
            errors.append((f"{at}.tenant", "missing"))
            continue
        try:
            rule = Rule.model_validate(item)
            choose_view(settings.stream.views, set(rule.scope))
        except ValidationError as exc:
            errors += [(".".join([at, *map(str, e["loc"])]), e["msg"]) for e in exc.errors()]
            continue
        except NoViewCovers as exc:
            errors.append((f"{at}.scope", str(exc)))
            continue
        if (tenant, rule.id) in seen:
            errors.append((f"{at}.id", f"duplicate rule id {rule.id!r}"))
        seen.add((tenant, rule.id))
        out.setdefault(tenant, []).append(rule)
    for tenant, rules in out.items():
        if len(rules) > settings.alerts.max_rules_per_tenant:
            errors.append(("", f"tenant {tenant!r}: more than {settings.alerts.max_rules_per_tenant} rules"))
    if errors:
        raise RulesFileError(errors)
    return out


async def apply_rules(warehouse, wanted: dict[str, list[Rule]], dry_run: bool) -> RulesDiff:
    from warehouse import alert_queries as aq

    diff = RulesDiff()
    for tenant, rules in sorted(wanted.items()):
        stored = {r.id: r for _, r, _ in await aq.list_rules(warehouse, tenant)}
        upserts = []
        for rule in rules:
            old = stored.pop(rule.id, None)
            if old is None:
                diff.create.append((tenant, rule.id))
                upserts.append(rule)
            elif old.spec_json() != rule.spec_json():
                diff.update.append((tenant, rule.id))
                upserts.append(rule)
            else:
                diff.unchanged.append((tenant, rule.id))
        diff.delete += [(tenant, i) for i in sorted(stored)]
        if not dry_run:
            await aq.upsert_rules(warehouse, tenant, upserts) if upserts else None
            await aq.delete_rules(warehouse, tenant, sorted(stored)) if stored else None
    return diff


def apply_rules_file(settings: Settings, path: Path | str, dry_run: bool = False, warehouse=None) -> RulesDiff:
    """Validate ``path``, diff it against the warehouse and (unless ``dry_run``) apply the diff."""
    from warehouse.client import Warehouse
    from warehouse.migrate import migrate

    wanted = load_rules_file(Path(path), settings)
    wh = warehouse or Warehouse.open(settings.warehouse_dsn, settings.warehouse.database)
    if not dry_run:
        migrate(wh)
    return asyncio.run(apply_rules(wh, wanted, dry_run))
