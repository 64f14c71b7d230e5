"""0005: Closed-loop cases, their transitions and the responses linked to them."""
from warehouse.case_queries import create_case_events, create_case_links, create_cases

ID = 5
NAME = "cases"
operations: list[str] = [create_cases(), create_case_events(), create_case_links()]
