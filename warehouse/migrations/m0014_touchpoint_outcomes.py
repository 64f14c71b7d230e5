"""0014: ``kpi_windows`` counters of touchpoint outcomes and of positive/negative experiences.

The operational KPIs (conversion, abandonment and transfer rates, mean wait and handle time) and
the positive:negative ratio (``kpi.counts``). Durations are whole deciseconds so every counter is
an exact Int64. Additive only; rates and means are computed on read. Literal DDL, frozen here.
Rows written before this migration read 0 (the Int64 default): their windows get the counters when the worker
rewrites them (open windows at the next restore, closed ones when a late event touches them).
``IF NOT EXISTS``: idempotent if a statement is run again by hand.
"""
ID = 14
NAME = "touchpoint_outcomes"
operations: list[str] = [
    "ALTER TABLE kpi_windows "
    "ADD COLUMN IF NOT EXISTS tp_converted_n Int64 AFTER invitations_answered, "
    "ADD COLUMN IF NOT EXISTS tp_converted Int64 AFTER tp_converted_n, "
    "ADD COLUMN IF NOT EXISTS tp_abandoned_n Int64 AFTER tp_converted, "
    "ADD COLUMN IF NOT EXISTS tp_abandoned Int64 AFTER tp_abandoned_n, "
    "ADD COLUMN IF NOT EXISTS tp_transferred_n Int64 AFTER tp_abandoned, "
    "ADD COLUMN IF NOT EXISTS tp_transferred Int64 AFTER tp_transferred_n, "
    "ADD COLUMN IF NOT EXISTS tp_wait_n Int64 AFTER tp_transferred, "
    "ADD COLUMN IF NOT EXISTS tp_wait_ds Int64 AFTER tp_wait_n, "
    "ADD COLUMN IF NOT EXISTS tp_wait_ds2 Int64 AFTER tp_wait_ds, "
    "ADD COLUMN IF NOT EXISTS tp_handle_n Int64 AFTER tp_wait_ds2, "
    "ADD COLUMN IF NOT EXISTS tp_handle_ds Int64 AFTER tp_handle_n, "
    "ADD COLUMN IF NOT EXISTS tp_handle_ds2 Int64 AFTER tp_handle_ds, "
    "ADD COLUMN IF NOT EXISTS answers_positive Int64 AFTER tp_handle_ds2, "
    "ADD COLUMN IF NOT EXISTS answers_negative Int64 AFTER answers_positive",
]
