"""POST /v1/events: CloudEvents in (structured, batch, NDJSON or binary mode), Kafka out."""
from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, status

from api.deps import IngestCaller, ServicesDep
from api.openapi import INGEST_OPENAPI
from api.responses import SCOPED, errors
from core import metrics
from ingest.batching import RecordTooLarge
from ingest.binding import HTTP
from ingest.pipeline import TooManyEvents
from ingest.validation import InvalidBody, UnsupportedMediaType
from schemas.events import IngestResult

router = APIRouter(prefix="/v1", tags=["events"], responses=errors(*SCOPED))


@router.post(
    "/events",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=IngestResult,
    summary="Ingest CloudEvents",
    description=(
        "Accepts one CloudEvent (`application/cloudevents+json` or `application/json`), a batch "
        "(`application/cloudevents-batch+json` or a JSON array), NDJSON (`application/x-ndjson`) "
        "or one event in binary content mode: the attributes in `ce-*` headers (percent-encoded), "
        "the `Content-Type` (JSON) its `datacontenttype` and the body its `data`. "
        "Each event is validated on its own: invalid ones are listed in `rejected` with the exact "
        "field path (a header such as `ce-type` in binary mode). The 202 means the valid ones are safe: flushed to the ingest log and acknowledged by Kafka "
        "(see README, \"What a 202 means\")."
    ),
    openapi_extra=INGEST_OPENAPI,
    responses=errors(
        400, 413, 415, 503, 507, e400="Malformed JSON, or not the shape its Content-Type declares",
        e413="Body over `api.max_body_bytes`, more than `api.max_batch_events` events, or a record over "
             "`kafka.max_record_bytes`",
        e503="Not acknowledged: the service is stopping, or Kafka is down or did not acknowledge in time; "
             "`Retry-After` says when to resend (resending is safe); or the warehouse is unavailable",
        e507="Not acknowledged: the ingest log cannot be written (disk full, or at `ingest_log.max_bytes`)"),
)
async def post_events(request: Request, caller: IngestCaller, services: ServicesDep) -> IngestResult:
    settings = services.settings
    async with services.admission.request():  # 503 at once while stopping or while the broker is down
        body = await _read_limited(request, settings.api.max_body_bytes)
        try:
            batch = await services.ingest.prepare(
                body, request.headers.get("content-type", ""), services.batch_spec(caller.tenant),
                HTTP.attributes(request.headers),
            )
        except UnsupportedMediaType as exc:
            raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, exc.message) from None
        except InvalidBody as exc:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, exc.message) from None
        except (TooManyEvents, RecordTooLarge) as exc:
            raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, str(exc)) from None
        await services.admission.submit(batch.messages)  # the 202's promise: ingest/admission.py
    for etype, count in batch.accepted_by_type.items():
        metrics.EVENTS_ACCEPTED.labels(etype).inc(count)
    for rej in batch.rejected:
        metrics.EVENTS_REJECTED.labels(rej.path or "body").inc()
    return IngestResult(accepted=batch.accepted, duplicates=batch.duplicates, rejected=batch.rejected)


async def _read_limited(request: Request, limit: int, *, drain_bytes: int = 64 << 20,
                        drain_s: float = 5.0) -> bytes:
    """The request body if it is at most ``limit`` bytes, else 413 naming the limit.

    Before the 413 the rest of the body is read and dropped (a declared Content-Length
    or a chunked body, up to ``drain_bytes`` within ``drain_s``). A server that closes
    the connection after answering (the client sent ``Connection: close``, as HTTP/1.0
    clients, urllib and proxies in front of us do) while the body is still arriving
    makes the kernel reset it, and the client then sees a reset instead of the 413.
    Bodies declared larger than ``drain_bytes`` are answered at once.
    """
    import asyncio

    from starlette.requests import ClientDisconnect

    too_large = HTTPException(
        status.HTTP_413_CONTENT_TOO_LARGE, f"request body exceeds the limit of {limit} bytes (api.max_body_bytes)"
    )
    stream = request.stream()

    async def drain(size: int) -> None:
        try:
            async with asyncio.timeout(drain_s):
                async for chunk in stream:
                    size += len(chunk)
                    if size > drain_bytes:
                        return
        except (TimeoutError, ClientDisconnect):
            pass

    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        if int(declared) <= drain_bytes:
            await drain(0)
        raise too_large
    chunks, size = [], 0
    async for chunk in stream:
        size += len(chunk)
        if size > limit:
            await drain(size)
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)
