"""The Tansu workaround applies to flagged apps only, and sets the short fetch wait."""
from __future__ import annotations

import faust
import pytest

from stream_processors import tansu_compat
from stream_processors.app import create_app

pytestmark = [pytest.mark.integration]


def _worker_consumer(app: faust.App, broker) -> object:
    thread = app.consumer._thread
    return thread._create_worker_consumer(app.transport)


async def test_flagged_app_gets_short_fetch_wait_and_others_keep_faust_default(settings, broker) -> None:
    flagged = create_app(settings, broker.bootstrap)
    plain_settings = settings.model_copy(deep=True)
    plain_settings.kafka.tansu = False
    plain_settings.stream.app_id += "-plain"
    plain = create_app(plain_settings, broker.bootstrap)

    assert tansu_compat.fetch_max_wait_ms(flagged) == tansu_compat.TANSU_FETCH_MAX_WAIT_MS
    assert tansu_compat.fetch_max_wait_ms(plain) is None
    assert _worker_consumer(flagged, broker)._fetch_max_wait_ms == 100
    assert _worker_consumer(plain, broker)._fetch_max_wait_ms == 1500  # Faust's hard-coded value
