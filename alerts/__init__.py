"""Threshold alerts: rules, a pure state machine, silences and the evaluator.

Public surface: ``Rule``/``RuleSpec`` (``alerts.rules``), ``step``/``Status``
(``alerts.state``), ``Silence`` (``alerts.silences``), ``evaluate``,
``evaluate_once`` and ``run_evaluator`` (``alerts.evaluator``, imported lazily:
it needs the warehouse, as does ``alerts.store``, where rules, states, history and
silences are kept). The API's request and response models are ``alerts.contract``.
"""
from alerts.rules import Condition, Rule, RuleSpec, Severity, fingerprint
from alerts.silences import Silence, SilenceSpec
from alerts.state import AlertState, Notification, Observation, Status, step
from alerts import metrics as _metrics  # noqa: F401 - creates the alert label series

__all__ = ["AlertState", "Condition", "Notification", "Observation", "Rule", "RuleSpec", "Severity", "Silence",
           "SilenceSpec", "Status", "fingerprint", "step"]
