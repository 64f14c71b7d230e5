"""Numbered, forward-only migrations. Each module has ID, NAME and `operations` (DDL strings).

Add a new module ``mNNNN_name.py`` and list it in ``MIGRATIONS``; never edit an applied one.
"""
from warehouse.migrations import (m0001_initial, m0002_webhooks, m0003_gaps, m0004_alerts, m0005_cases,
                                  m0006_webhook_format, m0007_ledger_by_time, m0008_invitations_answered)

MIGRATIONS = [m0001_initial, m0002_webhooks, m0003_gaps, m0004_alerts, m0005_cases, m0006_webhook_format,
              m0007_ledger_by_time, m0008_invitations_answered]
