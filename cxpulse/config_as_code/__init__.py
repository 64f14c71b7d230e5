"""Configuration as code: ``cxpulse rules|targets apply|export`` over the HTTP API.

Why through the API and not the warehouse: in the embedded mode one process
owns the chDB data path, so only the running stack can write to it; the API
also applies the server's own checks (servable scopes, rule limits).

Files (``deploy/config/*.example.yaml``)::

    tenant: demo          # optional; when given it must be the API key's tenant
    rules: [ {id: ..., name: ..., metric: ..., ...}, ... ]     # or `targets: [...]`

Apply:

1. Validate the whole file with the API's own models (``alerts.rules.Rule``,
   ``schemas.gaps.TargetIn``, both with unknown fields forbidden). Every error
   is reported with its path in the file (``rules[2].window``); nothing changes.
2. Read the server state and diff it against the file, field by field on
   ``model_dump`` (new rule fields are diffed without code here): added,
   changed (``field: old -> new``), removed, unchanged.
3. Rules: ask the server to check every added or changed rule
   (``PUT ...?dry_run=true``), so server-side errors also change nothing.
4. Unless ``--dry-run``: delete (only with ``--prune``; otherwise the server's
   extra entries are left and reported), then put changed, then added.

Applying the same file twice changes nothing the second time (and if an API
error stops an apply part-way, applying again converges). ``export`` prints
the server state in the file format, so export -> apply is a no-op.

Exit codes: 0 ok (including "no changes"), 1 invalid file, tenant mismatch or
API error, 2 usage (bad arguments, unreadable file, no API key).

Every public name is importable from here; each lives in one private module:
``_files`` (step 1), ``_diff`` (step 2 and the printed diff), ``_resources``
(what differs between rules and targets, the HTTP calls) and ``_commands``
(steps 3-4, ``export`` and the command line).
"""
from __future__ import annotations

from cxpulse.config_as_code._commands import (
    EXIT_ERROR, EXIT_OK, EXIT_USAGE, add_commands, apply, export, run,
)
from cxpulse.config_as_code._diff import Change, Diff, diff, render
from cxpulse.config_as_code._files import ConfigFileError, format_loc, load_file
from cxpulse.config_as_code._resources import RULES, TARGETS, ApiError, Resource, call_api

__all__ = ["EXIT_ERROR", "EXIT_OK", "EXIT_USAGE", "ApiError", "Change", "ConfigFileError", "Diff", "RULES",
           "Resource", "TARGETS", "add_commands", "apply", "call_api", "diff", "export", "format_loc", "load_file",
           "render", "run"]
