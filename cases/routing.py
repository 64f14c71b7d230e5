"""The scope of a case (dimension values of its response) and the owner it is routed to."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import orjson

from core.dimensions import DIMENSIONS


def case_scope(dims: Mapping[str, str], scope_dims: Sequence[str]) -> dict[str, str]:
    """The response's values of the configured scope dimensions (empty values dropped), allowlist order."""
    return {d: str(dims[d]) for d in DIMENSIONS if d in scope_dims and dims.get(d) not in (None, "")}


def scope_key(scope: Mapping[str, str]) -> str:
    """Canonical text of a scope (sorted keys), for equality in SQL."""
    return orjson.dumps(dict(sorted(scope.items()))).decode()


def route_owner(dims: Mapping[str, str], order: Sequence[str], owners: Mapping[str, Mapping[str, str]],
                default_owner: str) -> str:
    """First dimension in ``order`` whose value has an owner (e.g. team -> team lead, queue -> queue owner),
    else ``default_owner``."""
    for dim in order:
        value = dims.get(dim)
        if value not in (None, "") and value in owners.get(dim, {}):
            return owners[dim][value]
    return default_owner
