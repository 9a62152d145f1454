"""The metrics and health listener's three routes ([metrics] address, plain HTTP, no auth).

- ``GET /metrics``: the Prometheus text exposition format: this process's
  families, or every worker's added up (``multiprocess``), plus the queue-wide gauges read
  from the store (``queue_gauges``).
- ``GET /healthz``: liveness. 200 whenever the event loop answers; it checks nothing else,
  so an orchestrator restarts the server only when it is stuck.
- ``GET /readyz``: readiness. 200 when the store answers a cheap indexed query within
  ``[metrics] readiness_timeout`` and every listener is serving; else 503. The body names
  each check and its state (never an error text, which could carry a URL).

Anything else is 404, and a method other than GET or HEAD 405.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from prometheus_client.exposition import generate_latest
from prometheus_client.registry import CollectorRegistry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from sealpost.observability.metrics import CONTENT_TYPE
from sealpost.observability.queue_gauges import QueueGauges

log = logging.getLogger("sealpost.metrics")


@dataclass(frozen=True, slots=True)
class Readiness:
    """What ``/readyz`` checks: the store (any cheap read) and the listeners."""

    store: Callable[[], Awaitable[object]]
    listeners_up: Callable[[], bool]
    timeout: float = 2.0

    async def check(self) -> dict[str, str]:
        """Each check's state: ``ok``, ``timeout``, ``unreachable`` or ``down``."""
        try:
            await asyncio.wait_for(self.store(), self.timeout)
            store = "ok"
        except TimeoutError:
            store = "timeout"
        except Exception as exc:
            log.warning("readiness: the store did not answer: %s", exc)
            store = "unreachable"
        return {"store": store, "listeners": "ok" if self.listeners_up() else "down"}


def metrics_app(registry: CollectorRegistry, gauges: QueueGauges, ready: Readiness) -> Starlette:
    """The ASGI app; ``registry`` must already hold ``gauges``."""

    async def metrics(request: Request) -> Response:
        await gauges.refresh()
        body = await asyncio.to_thread(generate_latest, registry)  # reads the workers' files
        return Response(body, media_type=CONTENT_TYPE)

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok\n")

    async def readyz(request: Request) -> Response:
        checks = await ready.check()
        ok = all(state == "ok" for state in checks.values())
        body = {"status": "ready" if ok else "not ready", "checks": checks}
        return JSONResponse(body, status_code=200 if ok else 503)

    methods = ["GET", "HEAD"]
    return Starlette(
        routes=[
            Route("/metrics", metrics, methods=methods),
            Route("/healthz", healthz, methods=methods),
            Route("/readyz", readyz, methods=methods),
        ]
    )
