"""`cxpulse simulate` arguments: durations and incident specs, with errors that name what is wrong."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from clients.incidents import Incident
from clients.simulate import parse_duration, parse_incident

T0 = datetime(2026, 11, 22, 12, tzinfo=timezone.utc)


@pytest.mark.parametrize("text, seconds", [("90", 90), ("90s", 90), ("10m", 600), ("2h", 7200), ("1.5d", 129600)])
def test_durations(text, seconds):
    assert parse_duration(text) == timedelta(seconds=seconds)


def test_an_incident_spec():
    inc = parse_incident("nps=-4, scope=journey_step:billing+segment:consumer, start=10m, for=45m", T0)
    assert inc == Incident(T0 + timedelta(minutes=10), T0 + timedelta(minutes=55),
                           {"journey_step": "billing", "segment": "consumer"}, nps_shift=-4.0, affects="answers")
    feed = parse_incident("volume=0,scope=channel:chat,affects=contacts", T0)
    assert (feed.volume_factor, feed.start, feed.end, feed.affects) == (0.0, T0, T0 + timedelta(minutes=30),
                                                                         "contacts")


@pytest.mark.parametrize("spec, message", [
    ("nps", "not key=value"),
    ("mood=-1", "unknown key"),
    ("scope=colour:red,nps=-1", "scope item 'colour:red'"),
    ("nps=-1,start=soon", "not a duration"),
    ("scope=channel:chat", "at least one of"),
    ("nps=-1,affects=weather", "affects"),
])
def test_bad_specs_say_what_is_wrong(spec, message):
    with pytest.raises(ValueError, match=message):
        parse_incident(spec, T0)
