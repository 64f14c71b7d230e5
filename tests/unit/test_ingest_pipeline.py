"""prepare_batch: duplicates counted (not rejected), the time horizon travels in the picklable spec."""
from __future__ import annotations

import pickle
import time

import orjson

from core.pipeline_settings import ApiSettings
from core.settings import Settings
from ingest.pipeline import BatchSpec, prepare_batch
from ingest.validation import MAX_EVENT_AGE_DAYS, MAX_FUTURE_S, TimeHorizon
from core.topics import topic_names

NOW_MS = 1796108400000  # 2026-12-01T07:00:00Z


def _tp(event_id: str, time: str = "2026-12-01T06:00:00Z") -> dict:
    return {"specversion": "1.0", "id": event_id, "source": "/pbx", "type": "cx.touchpoint.v1", "time": time,
            "data": {"interaction_id": f"i-{event_id}", "channel": "chat"}}


def _spec(horizon: TimeHorizon | None) -> BatchSpec:
    return BatchSpec(tenant="acme", pseudonym_key=b"k" * 32, topics=topic_names("cx"), partitions=4,
                     max_record_bytes=1_000_000, max_events=100, horizon=horizon)


def test_resends_are_counted_once_and_times_checked_against_the_spec_clock() -> None:
    body = b"\n".join([
        orjson.dumps(_tp("a")), orjson.dumps(_tp("a")), b"{torn",
        orjson.dumps(_tp("b", "2026-12-01T07:15:01Z")),  # 901 s ahead of the spec's clock
        orjson.dumps(_tp("b")), orjson.dumps(_tp("a")),
    ])
    batch = prepare_batch(body, "application/x-ndjson", _spec(TimeHorizon(NOW_MS, max_future_s=900)))
    assert (batch.accepted, batch.duplicates, batch.accepted_by_type) == (2, 2, {"cx.touchpoint.v1": 2})
    assert [(r.index, r.path) for r in batch.rejected] == [(2, ""), (3, "time")]
    assert batch.rejected[1].error == ("time 2026-12-01T07:15:01Z is more than 900 s ahead of the server clock "
                                       "(2026-12-01T07:00:00Z; api.max_future_s)")
    produced = sorted(r["id"] for m in batch.messages for r in orjson.loads(m.value))
    assert produced == ["a", "b"]


def test_spec_with_its_horizon_survives_pickling_into_the_pool() -> None:
    spec = _spec(TimeHorizon(NOW_MS, 60, 2.5))
    assert pickle.loads(pickle.dumps(spec)) == spec


def test_batch_spec_carries_the_configured_limits_and_the_request_clock() -> None:
    from api.deps import Services

    settings = Settings(pseudonym_key="test-only-pseudonym-key-0123456789",
                        api={"max_future_s": 30, "max_event_age_days": 7})
    services = Services(settings=settings, warehouse=None, publisher=None, ingest=None)  # type: ignore[arg-type]
    before = time.time_ns() // 1_000_000
    horizon = services.batch_spec("acme").horizon
    after = time.time_ns() // 1_000_000
    assert horizon is not None
    assert (horizon.max_future_s, horizon.max_age_days) == (30, 7)
    assert before <= horizon.now_ms <= after


def test_settings_defaults_are_the_validation_defaults() -> None:
    api = ApiSettings()
    assert (api.max_future_s, api.max_event_age_days) == (MAX_FUTURE_S, MAX_EVENT_AGE_DAYS) == (900, 3650)
