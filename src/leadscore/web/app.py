"""The daemon's HTTP face: ``/healthz``, ``/readyz``, ``/metrics``, ``POST /webhooks/<source>``, and the console
mounted under ``/`` when it is on.

A webhook's token is checked before its body is read, and the body is read only up to its limit and within a
time limit, so neither a stranger, a huge or lying Content-Length nor a client that sends its body a byte at a time
holds the daemon's memory or a connection. Store work runs in a thread, off the loop.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, Protocol

from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route

MAX_WEBHOOK_BYTES = 5 * 1024 * 1024
WEBHOOK_BODY_SECONDS = 10.0
"""How long a webhook's body may take to arrive; platforms send a few kilobytes at once."""


class JSONAnswer(JSONResponse):
    """JSON as the daemon always wrote it (``json.dumps`` defaults), so probes and scripts that match on it
    keep working."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content).encode()


class HealthService(Protocol):
    """What the HTTP face asks of the daemon."""

    def alive(self) -> bool: ...

    def readiness(self) -> tuple[bool, dict[str, Any]]: ...

    def metrics_text(self) -> bytes: ...

    def webhook_refusal(self, name: str, authorization: str) -> tuple[int, dict[str, Any]] | None: ...

    def store_webhook(self, name: str, raw: bytes) -> tuple[int, dict[str, Any]]: ...


def create_app(
    service: HealthService, console: Starlette | None = None, body_seconds: float = WEBHOOK_BODY_SECONDS
) -> Starlette:
    async def healthz(request: Request) -> Response:
        alive = service.alive()
        return PlainTextResponse("ok\n" if alive else "stopping\n", 200 if alive else 503)

    async def readyz(request: Request) -> Response:
        ready, detail = await run_in_threadpool(service.readiness)
        return JSONAnswer(detail, 200 if ready else 503)

    async def metrics(request: Request) -> Response:
        return Response(service.metrics_text(), 200, media_type=CONTENT_TYPE_LATEST)

    async def webhook(request: Request) -> Response:
        name = request.path_params["source"]
        refused = await run_in_threadpool(service.webhook_refusal, name, request.headers.get("authorization", ""))
        if refused is not None:
            return JSONAnswer(refused[1], refused[0])
        declared = request.headers.get("content-length")
        if declared is not None and not declared.strip().isdigit():
            return JSONAnswer({"error": "Content-Length is not a number"}, 400)
        if declared is not None and int(declared) > MAX_WEBHOOK_BYTES:
            return JSONAnswer({"error": f"body larger than {MAX_WEBHOOK_BYTES} bytes"}, 413)
        try:
            raw = await asyncio.wait_for(_read_up_to(request, MAX_WEBHOOK_BYTES), body_seconds)
        except TimeoutError:
            answer = {"error": f"the body did not arrive within {body_seconds:g} s"}
            return JSONAnswer(answer, 408, headers={"connection": "close"})
        if raw is None:
            return JSONAnswer({"error": f"body larger than {MAX_WEBHOOK_BYTES} bytes"}, 413)
        status, answer = await run_in_threadpool(service.store_webhook, name, raw)
        return JSONAnswer(answer, status)

    async def not_found(request: Request) -> Response:
        return PlainTextResponse("not found\n", 404)

    routes: list[BaseRoute] = [
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics),
        Route("/webhooks/{source:path}", webhook, methods=["POST"]),
    ]
    if console is not None:
        routes.append(Mount("/", app=console))
    else:
        routes.append(Route("/{rest:path}", not_found, methods=["GET", "POST", "PUT", "DELETE", "PATCH"]))
    return Starlette(routes=routes)


async def _read_up_to(request: Request, limit: int) -> bytes | None:
    """The body, or None once it passes ``limit`` (whatever Content-Length said)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)
