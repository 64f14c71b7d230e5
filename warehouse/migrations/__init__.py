"""Numbered, forward-only migrations. Each module has ID, NAME and `operations` (DDL strings).

Each holds the literal DDL it applies, with the names of its time, and imports nothing of ours:
the schema of today (``warehouse.tables``) moves on, an applied migration must not.

Add a new module ``mNNNN_name.py`` and list it in ``MIGRATIONS``; never edit an applied one.
"""
from warehouse.migrations import (m0001_initial, m0002_webhooks, m0003_gaps, m0004_alerts, m0005_cases,
                                  m0006_webhook_format, m0007_ledger_by_time, m0008_invitations_answered,
                                  m0009_ledger_by_interaction, m0010_audit_log, m0011_api_keys, m0012_erasures,
                                  m0013_extra_dims, m0014_touchpoint_outcomes, m0015_aspects, m0016_outcomes,
                                  m0017_panel_flags, m0018_signals, m0019_ledger_by_day)

MIGRATIONS = [m0001_initial, m0002_webhooks, m0003_gaps, m0004_alerts, m0005_cases, m0006_webhook_format,
              m0007_ledger_by_time, m0008_invitations_answered, m0009_ledger_by_interaction,
              m0010_audit_log, m0011_api_keys, m0012_erasures, m0013_extra_dims, m0014_touchpoint_outcomes,
              m0015_aspects, m0016_outcomes, m0017_panel_flags, m0018_signals, m0019_ledger_by_day]
