"""Tenant ids: the one definition of what a tenant id may be.

A tenant id is lower-case letters, digits, ``_`` and ``-``, starting with a
letter or digit, at most 63 characters. API keys name their tenant with it
(``core.settings.ApiKey``) and ingest checks the ``tenant`` of every event
against it (``ingest.validation``). Imports nothing of ours.
"""
from __future__ import annotations

import re

__all__ = ["TENANT_PATTERN"]

TENANT_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
