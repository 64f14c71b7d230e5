"""0007: Ledger tables get a narrow projection of their keys sorted by (tenant, kafka_partition, time_ms)."""
from warehouse.tables import LEDGER_TABLES, add_ledger_time_projection

ID = 7
NAME = "ledger_by_time"
operations: list[str] = [op for table in LEDGER_TABLES for op in add_ledger_time_projection(table)]
