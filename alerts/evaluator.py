"""Evaluates alert rules against the warehouse and publishes state changes as CloudEvents.

:func:`evaluate` is the core (rules + a counts reader + prior states + silences
-> transitions), free of I/O but the reader. :func:`evaluate_once` runs one
round against the warehouse and Kafka; :func:`run_evaluator` repeats it every
``AlertSettings.evaluate_every_s`` until ``stop`` is set.

Notifications go to the notifications topic (``core.topics.notifications_topic``)
as structured CloudEvents (``notifications.cloudevent``), one per message, keyed
``tenant:fingerprint`` (a group's ``tenant:group_key``) so an alert's events stay in
order on one partition. Types: ``cx.alert.firing.v1`` and ``cx.alert.resolved.v1``.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from alerts.gap_rules import gaming_read_scope, live_spec, observe_gaming_rule, observe_gap_rule
from alerts.rules import Condition, GapKindName, Rule
from alerts.silences import Silence, is_silenced
from alerts.state import AlertState, Notification, NotificationKind, Observation, StaleObservation, Status, step
from alerts.windows_read import current_counts
from gaps.evaluate import GamingPeriod, evaluate_gaming, gaming_period, read_live_frame
from gaps.live import LiveFrame
from alerts.metrics import observe_alert_round
from core import metrics
from core.topics import notifications_topic
from kpi.counts import KpiCounts
from kpi.measures import AspectMetric, Metric, measure
from notifications import OutgoingMessage, cloudevent, event_id, iso_time, notification_message

__all__ = ["EVENT_TYPES", "ReadCounts", "ReadFrame", "ReadGaming", "Transition", "evaluate", "evaluate_once",
           "group_event", "group_labels", "notification_event", "notification_messages", "run_evaluator"]

log = logging.getLogger(__name__)

EVENT_TYPES = {NotificationKind.firing: "cx.alert.firing.v1", NotificationKind.resolved: "cx.alert.resolved.v1"}
EVENT_SOURCE = "/cxpulse/alerts"

#: ``await read_counts(tenant, rule, now_ms)`` -> the counts of the rule's current window.
ReadCounts = Callable[[str, Rule, int], Awaitable[KpiCounts]]
#: ``await read_frame(tenant, rule, now_ms)`` -> the live frame a ``gap`` rule's detector reads.
ReadFrame = Callable[[str, Rule, int], Awaitable[LiveFrame]]
#: ``await read_gaming(tenant, rule, now_ms)`` -> the gaming gaps of a ``gaming`` rule's trailing period.
ReadGaming = Callable[[str, Rule, int], Awaitable[GamingPeriod]]
StateKey = tuple[str, str]  # tenant, fingerprint
_OPEN = (Status.pending, Status.firing)


@dataclass(frozen=True)
class Transition:
    """One evaluated alert whose state changed (status or last observation) or that notified."""

    tenant: str
    fingerprint: str
    rule: Rule
    before: AlertState
    after: AlertState
    notifications: list[Notification] = field(default_factory=list)
    silenced: bool = False

    @property
    def status_changed(self) -> bool:
        return self.before.status is not self.after.status


async def evaluate(rules: list[tuple[str, Rule]], read_counts: ReadCounts, now_ms: int,
                   states: dict[StateKey, AlertState] | None = None,
                   silences: dict[str, list[Silence]] | None = None,
                   read_frame: ReadFrame | None = None, read_gaming: ReadGaming | None = None,
                   alert_rules: dict[StateKey, Rule] | None = None) -> list[Transition]:
    """Step every enabled rule once; returns the alerts whose state changed or that notified.

    A threshold rule is one alert; a ``gap`` rule is one alert per scope its
    detector reports (``alerts.gap_rules``), each stepped on its own state.
    ``alert_rules``: the scoped rule each stored state was last evaluated with, so a gaming rule
    resolves the open alerts of values its period no longer holds.
    """
    states = states or {}
    silences = silences or {}
    alert_rules = alert_rules or {}
    out: list[Transition] = []
    for tenant, rule in rules:
        if not rule.enabled:
            continue
        if rule.condition is Condition.gap and rule.gap is not None and rule.gap.kind is GapKindName.gaming:
            if read_gaming is None:
                raise ValueError("gaming gap rules need a gaming reader")
            open_alerts = [r for key, r in alert_rules.items() if key[0] == tenant and r.id == rule.id
                           and states.get(key, AlertState()).status in _OPEN]
            observed = [(r, obs) for r, obs, _ in observe_gaming_rule(rule, await read_gaming(tenant, rule, now_ms),
                                                                       open_alerts)]
        elif rule.condition is Condition.gap:
            if read_frame is None:
                raise ValueError("gap rules need a frame reader")
            observed = [(r, obs) for r, obs, _ in observe_gap_rule(rule, await read_frame(tenant, rule, now_ms))]
        else:
            kv = measure(rule.measured, await read_counts(tenant, rule, now_ms), min_sample=rule.min_n)
            observed = [(rule, Observation(kv.value, kv.n, kv.ci_low, kv.ci_high))]
        for alert_rule, obs in observed:
            fp = alert_rule.fingerprint()
            before = states.get((tenant, fp), AlertState())
            muted = is_silenced(alert_rule, silences.get(tenant, []), now_ms)
            try:
                after, notes = step(alert_rule, before, obs, now_ms, muted)
            except StaleObservation as exc:
                log.warning("alert %s/%s skipped: %s", tenant, fp, exc)
                continue
            if after != before or notes:
                out.append(Transition(tenant, fp, alert_rule, before, after, notes, muted))
    return out


def _alert_data(t: Transition, note: Notification) -> dict[str, Any]:
    rule = t.rule
    return {
        "rule": {"id": rule.id, "name": rule.name, "metric": rule.metric_name, "window": rule.window,
                 "condition": rule.condition.value},
        "fingerprint": t.fingerprint, "status": note.kind.value, "scope": rule.scope, "value": note.value,
        "n": note.n, "ci": [note.ci_low, note.ci_high], "threshold": rule.threshold,
        "recovery": rule.recovery, "severity": rule.severity.value, "labels": rule.labels,
        "routes": rule.routes or None, "starts_at": iso_time(note.starts_at_ms),
        "ends_at": iso_time(note.ends_at_ms),
        "repeat": note.repeat,
        "evidence": note.evidence,  # a gaming rule's p-values (``alerts.gap_rules.gaming_evidence``), else None
    }


def _event(tenant: str, identity: str, subject: str, note: Notification, data: dict[str, Any]) -> dict[str, Any]:
    return cloudevent(tenant, event_id(tenant, identity, note.kind.value, note.at_ms), EVENT_SOURCE,
                      EVENT_TYPES[note.kind], subject, note.at_ms, data)


def notification_event(tenant: str, t: Transition, note: Notification) -> dict[str, Any]:
    """The CloudEvent of one notification (structured mode, ``tenant`` extension)."""
    return _event(tenant, t.fingerprint, t.fingerprint, note, _alert_data(t, note))


def group_labels(rule: Rule) -> dict[str, str]:
    """The values of ``rule.group_by`` among the alert's labels (rule labels, scope, ``rule_id``)."""
    labels = {**rule.labels, **rule.scope, "rule_id": rule.id}
    return {k: labels[k] for k in rule.group_by if k in labels}


def group_event(tenant: str, members: list[tuple[Transition, Notification]]) -> dict[str, Any]:
    """One CloudEvent for the alerts of a group that changed alike in one round.

    ``data`` is the first alert's (so single-alert consumers keep working) plus ``group_by``,
    ``group_labels``, ``group_key`` and ``alerts``: every member's data, in fingerprint order.
    """
    members = sorted(members, key=lambda m: m[0].fingerprint)
    first_t, first_note = members[0]
    labels = group_labels(first_t.rule)
    key = f"{first_t.rule.id}:" + orjson.dumps(labels, option=orjson.OPT_SORT_KEYS).decode()
    identity = key + "\x1f" + ",".join(t.fingerprint for t, _ in members)
    data = _alert_data(first_t, first_note) | {
        "group_by": list(first_t.rule.group_by), "group_labels": labels, "group_key": key,
        "alerts": [_alert_data(t, note) for t, note in members],
    }
    return _event(tenant, identity, key, first_note, data)


def notification_messages(transitions: list[Transition], topic: str, partitions: int) -> list[OutgoingMessage]:
    """One message per notification; a rule with ``group_by`` sends one per group and kind instead."""
    out = []
    groups: dict[tuple[str, str, str, NotificationKind], list[tuple[Transition, Notification]]] = {}
    for t in transitions:
        for note in t.notifications:
            if t.rule.group_by:
                labels = orjson.dumps(group_labels(t.rule), option=orjson.OPT_SORT_KEYS).decode()
                groups.setdefault((t.tenant, t.rule.id, labels, note.kind), []).append((t, note))
                continue
            out.append(notification_message(topic, partitions, notification_event(t.tenant, t, note)))
    for (tenant, _, _, _), members in groups.items():
        out.append(notification_message(topic, partitions, group_event(tenant, members)))
    return out


async def evaluate_once(settings, warehouse, publisher, now_ms: int | None = None) -> list[Transition]:
    """One round over every tenant's rules. The order is the guarantee (at-least-once notifications):

    1. Read the live rules, the last states and the silences active now.
    2. Step every rule on its current window counts (``evaluate``).
    3. Publish the notifications and wait for the broker's acks.
    4. Only then write the new states and the status changes to history.

    A crash between 3 and 4 re-evaluates from the old states and may notify
    again (receivers dedupe on the fingerprint and status); a crash before 3
    loses nothing.
    """
    from alerts import store as aq

    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    # 1.
    rules = [(tenant, rule) for tenant, rule, _ in await aq.list_rules(warehouse)]
    stored = await aq.read_states(warehouse)
    states = {(r.tenant, r.fingerprint): r.state for r in stored}
    alert_rules = {(r.tenant, r.fingerprint): r.rule for r in stored}
    silences: dict[str, list[Silence]] = {}
    for tenant, s in await aq.list_silences(warehouse, active_at_ms=now_ms):
        silences.setdefault(tenant, []).append(s)
    views = settings.stream.views

    async def read(tenant: str, rule: Rule, at_ms: int) -> KpiCounts:
        return await current_counts(warehouse, tenant, rule.window, views, rule.scope, at_ms,
                                    aspects=isinstance(rule.measured, AspectMetric))

    async def frame(tenant: str, rule: Rule, at_ms: int) -> LiveFrame:
        assert rule.gap is not None
        return await read_live_frame(warehouse, tenant, views, rule.scope, tuple(rule.gap.dimensions),
                                     live_spec(rule), at_ms, aspects=isinstance(rule.measured, AspectMetric))

    async def gaming(tenant: str, rule: Rule, at_ms: int) -> GamingPeriod:
        assert rule.gap is not None and isinstance(rule.measured, Metric)
        dim, scope = gaming_read_scope(rule)
        return await evaluate_gaming(warehouse, tenant, views, rule.measured, scope, dim,
                                     gaming_period(at_ms, rule.gap.gaming_period_days), rule.min_n, rule.gap.alpha)

    # 2.
    transitions = await evaluate(rules, read, now_ms, states, silences, frame, gaming, alert_rules)
    # 3.
    topic = notifications_topic(settings.kafka)
    await publisher.publish(notification_messages(transitions, topic, settings.kafka.partitions))
    # 4.
    if transitions:
        await aq.write_states(warehouse, [aq.StateRow(t.tenant, t.fingerprint, t.rule, t.after) for t in transitions])
        await aq.append_history(warehouse, [
            aq.HistoryRow(t.tenant, t.fingerprint, now_ms, t.after.status, t.before.status, t.rule, t.after, t.silenced)
            for t in transitions if t.status_changed
        ])
    observe_alert_round(rules, states, transitions)
    return transitions


async def run_evaluator(settings, warehouse, publisher, stop: asyncio.Event) -> None:
    """Evaluate every ``settings.alerts.evaluate_every_s`` until ``stop`` is set; a failed round is logged."""
    every = settings.alerts.evaluate_every_s
    while not stop.is_set():
        started = time.monotonic()
        try:
            await evaluate_once(settings, warehouse, publisher)
        except Exception:  # noqa: BLE001 - keep evaluating; the next round retries from stored state
            metrics.ALERT_EVALUATIONS.labels("error").inc()
            log.exception("alert evaluation failed")
        try:
            await asyncio.wait_for(stop.wait(), max(0.0, every - (time.monotonic() - started)))
        except asyncio.TimeoutError:
            pass
