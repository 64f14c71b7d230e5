"""HTTP metrics of the API: an ASGI middleware over ``core.metrics.HTTP_REQUESTS``/``HTTP_LATENCY``."""
from __future__ import annotations

import time
from typing import Any

from core.metrics import HTTP_LATENCY, HTTP_REQUESTS

#: Every value of ``cxpulse_http_requests_total``'s ``code`` label (the status class).
STATUS_CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx")


def status_class(status: int) -> str:
    return STATUS_CLASSES[min(max(status // 100, 1), 5) - 1]


class HttpMetrics:
    """ASGI middleware of the API: each answer by route template and status class, and its duration.

    The route is the template (``/v1/webhooks/{webhook_id}``), so label values stay few; a request
    no route matched is ``unmatched``. Server-sent event streams are counted but not timed.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        answer = {"status": 500, "stream": False}  # an exception before any answer is a 500

        async def send_and_note(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                answer["status"] = message["status"]
                headers = dict(message.get("headers") or [])
                answer["stream"] = headers.get(b"content-type", b"").startswith(b"text/event-stream")
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            HTTP_REQUESTS.labels(scope["method"], route, status_class(answer["status"])).inc()
            if not answer["stream"]:
                HTTP_LATENCY.labels(route).observe(time.perf_counter() - started)
