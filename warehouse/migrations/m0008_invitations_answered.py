"""0008: ``kpi_windows.invitations_answered``, the numerator of the response rate.

Invitations of the window that received at least one answer (``kpi.counts``). Literal DDL, frozen
here. Rows written before this migration read 0: their windows get the counter when the worker
rewrites them (open windows at the next restore, closed ones when a late event touches them).
``IF NOT EXISTS``: idempotent if a statement is run again by hand.
"""
ID = 8
NAME = "invitations_answered"
operations: list[str] = [
    "ALTER TABLE kpi_windows ADD COLUMN IF NOT EXISTS invitations_answered Int64 DEFAULT 0 AFTER fcr_yes",
]
