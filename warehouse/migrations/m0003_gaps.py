"""0003: KPI targets per scope and period."""
ID = 3
NAME = "gaps"
operations: list[str] = []
