"""0001: the event ledger, KPI windows."""
from warehouse.tables import LEDGER_TABLES, create_kpi_windows, create_ledger_table

ID = 1
NAME = "initial"
operations = [*(create_ledger_table(t) for t in LEDGER_TABLES), create_kpi_windows()]
