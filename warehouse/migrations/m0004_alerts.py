"""0004: Alert rules, states, history and silences."""
ID = 4
NAME = "alerts"
operations: list[str] = []
