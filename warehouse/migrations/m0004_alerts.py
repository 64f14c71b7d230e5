"""0004: Alert rules, states, history and silences."""
from warehouse.alert_queries import create_alert_history, create_alert_rules, create_alert_states, create_silences

ID = 4
NAME = "alerts"
operations: list[str] = [create_alert_rules(), create_alert_states(), create_alert_history(), create_silences()]
