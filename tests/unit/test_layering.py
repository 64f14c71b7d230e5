"""Layers point one way (STYLE pattern 12): no package imports a package of a higher layer.

Every ``.py`` of the source packages is parsed (``ast``, nothing is imported) and each
``import x`` / ``from x import ...`` of one of our top-level packages is checked against the
layer order, bottom to top:

    0  core               the ground floor: settings, metric objects, the error tree, window
                          arithmetic, the dimension allowlist; imports nothing of ours
    1  schemas, kpi,      the contract (CloudEvents, records, API models), pure KPI maths, the
       cases,             pure closed-loop rules (``cases`` does no I/O), and the one owner of
       notifications      the Kafka messages produced: envelope, keying, parse, replay, producer
    2  ingest, warehouse  where data enters (validate, pseudonymize, batch, the ingest log) and
                          where it is stored (the one ClickHouse/chDB layer)
    3  gaps, webhooks     gap detection read from the warehouse; signed webhook delivery
    4  alerts             threshold and gap rules over the warehouse and ``gaps``
    5  stream_processors  the Faust agents: wire ingest validation, the window state, cases,
                          alerts' notifications and webhook delivery to topics and the warehouse
    6  api                where KPIs leave over HTTP (routers wire every domain package)
    7  cxpulse            the roof: CLI and process wiring (runtime, broker, status, ...)

An import within the same layer is allowed. A violation fails naming ``file:line -> module``.
``EXCEPTIONS`` lists the known upward imports, each with its reason; the test also fails when
one of them no longer occurs, so the list only shrinks.
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

LAYERS: list[tuple[str, ...]] = [
    ("core",),
    ("schemas", "kpi", "cases", "notifications"),
    ("ingest", "warehouse"),
    ("gaps", "webhooks"),
    ("alerts",),
    ("stream_processors",),
    ("api", "clients"),
    ("cxpulse",),
]
RANK = {pkg: level for level, pkgs in enumerate(LAYERS) for pkg in pkgs}

#: (importing file, imported package) -> why it is allowed for now. At most three.
EXCEPTIONS: dict[tuple[str, str], str] = {}


def _imports(path: Path) -> list[tuple[int, str]]:
    out: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            out.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.append((node.lineno, node.module))
    return out


def _upward_imports() -> list[tuple[str, int, str]]:
    """(file, line, module) of every import of a higher layer's package."""
    found = []
    for pkg, level in RANK.items():
        for path in sorted((ROOT / pkg).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            for line, module in _imports(path):
                top = module.split(".")[0]
                if top in RANK and RANK[top] > level:
                    found.append((rel, line, module))
    return found


def test_every_source_package_has_a_layer() -> None:
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"tests", "bench", "deploy", "docs", "board"}
    assert packages <= set(RANK), f"packages without a layer in {__name__}.LAYERS: {sorted(packages - set(RANK))}"


def test_no_layer_imports_a_higher_one() -> None:
    offending = [f"{file}:{line} -> {module}" for file, line, module in _upward_imports()
                 if (file, module.split(".")[0]) not in EXCEPTIONS]
    assert not offending, "imports of a higher layer:\n" + "\n".join(offending)


def test_the_exceptions_only_shrink() -> None:
    assert len(EXCEPTIONS) <= 3
    still = {(file, module.split(".")[0]) for file, _, module in _upward_imports()}
    gone = sorted(set(EXCEPTIONS) - still)
    assert not gone, f"no longer needed, remove from EXCEPTIONS: {gone}"


def test_the_ground_floor_imports_nothing_of_ours() -> None:
    ours = [f"{p.relative_to(ROOT).as_posix()}:{line} -> {module}"
            for p in sorted((ROOT / "core").rglob("*.py")) for line, module in _imports(p)
            if module.split(".")[0] in RANK and module.split(".")[0] != "core"]
    assert not ours, "core/ must import nothing of ours:\n" + "\n".join(ours)
