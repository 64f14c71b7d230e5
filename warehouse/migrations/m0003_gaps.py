"""0003: KPI targets per scope and period."""
from warehouse.gap_queries import create_kpi_targets

ID = 3
NAME = "gaps"
operations: list[str] = [create_kpi_targets()]
