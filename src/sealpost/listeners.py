"""Starting a server process's listeners: SMTP, the HTTPS API (and console), the plain-HTTP
metrics listener; each logs its ``listening: ...`` line and says where it is bound
(``Bound``: what the ``sealpost ready: ...`` line prints).

A worker (``[server] workers``) serves on the sockets its supervisor bound; a single process
binds its own (``listener_socket``). The parts each listener serves are built by the
composition root (``app.py``) and handed in.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry
from starlette.types import ASGIApp

from sealpost.api.server import ApiServer
from sealpost.config.metrics import MetricsSection
from sealpost.config.model import ListenerConfig
from sealpost.inbound.context import ListenerContext
from sealpost.inbound.listener import bound_address, start_listener
from sealpost.model.queue_depth import QueueDepth
from sealpost.net.sockets import listening_socket, split_address
from sealpost.observability.endpoints import Readiness, metrics_app
from sealpost.observability.metrics import Metrics
from sealpost.observability.multiprocess import scrape_registry
from sealpost.observability.queue_gauges import FreeSpaceGauges, QueueGauges
from sealpost.store.free_space import SpaceWatch
from sealpost.workers.seat import WorkerSeat

log = logging.getLogger("sealpost")


@dataclass(slots=True)
class Bound:
    name: str
    host: str
    port: int
    tls: str


def url_host(host: str) -> str:
    """``host`` as a URL writes it: IPv6 in brackets; a wildcard address as localhost."""
    if host in ("0.0.0.0", "::"):
        return "localhost"
    return f"[{host}]" if ":" in host else host


def listener_socket(seat: WorkerSeat | None, name: str, address: str) -> socket.socket:
    """The listening socket for ``name``: the supervisor's, or a new one."""
    if seat is not None:
        return seat.sockets[name]
    return listening_socket(*split_address(address))


async def serve_smtp(
    listener: ListenerConfig, ctx: ListenerContext, sock: socket.socket
) -> tuple[asyncio.Server, Bound]:
    """One SMTP listener serving ``ctx`` on ``sock``."""
    server = await start_listener(ctx, sock)
    bhost, bport = bound_address(server)
    log.info(
        "listening: %s on %s:%d (tls=%s, require_tls=%s, auth=%s)",
        listener.name,
        bhost,
        bport,
        listener.tls,
        listener.require_tls,
        listener.auth,
    )
    return server, Bound(listener.name, bhost, bport, listener.tls)


async def serve_api(
    app: ASGIApp,
    sock: socket.socket,
    context: Callable[[], ssl.SSLContext],
    *,
    console: bool,
) -> tuple[ApiServer, Bound]:
    """The HTTPS API (with the console in front when ``console``) on ``sock``."""
    server = ApiServer(app, sock, context)
    await server.start()
    bhost, bport = server.address
    log.info("listening: api on https://%s:%d/api/v1", bhost, bport)
    if console:
        log.info("listening: console on https://%s:%d/console/", url_host(bhost), bport)
    return server, Bound("api", bhost, bport, "https")


def metrics_registry(metrics: Metrics, seat: WorkerSeat | None) -> CollectorRegistry:
    """What ``/metrics`` serves: this process's registry, or with several workers every
    worker's files added up (``observability.multiprocess``)."""
    if seat is not None and seat.metrics_dir:
        return scrape_registry(seat.metrics_dir)
    return metrics.registry


async def serve_metrics(
    config: MetricsSection,
    registry: CollectorRegistry,
    queue_depth: Callable[[], Awaitable[QueueDepth]],
    space: SpaceWatch,
    listeners_up: Callable[[], bool],
    sock: socket.socket,
) -> tuple[ApiServer, Bound]:
    """/metrics, /healthz and /readyz on their own plain-HTTP listener (primary only), the
    queue-wide and free-space gauges registered on ``registry``."""
    gauges = QueueGauges(
        queue_depth, ttl=config.queue_cache_seconds, timeout=config.readiness_timeout
    )
    registry.register(gauges)
    registry.register(FreeSpaceGauges(space))
    ready = Readiness(queue_depth, listeners_up, config.readiness_timeout)
    server = ApiServer(metrics_app(registry, gauges, ready), sock, None)
    await server.start()
    bhost, bport = server.address
    log.info("listening: metrics on http://%s:%d/metrics", bhost, bport)
    return server, Bound("metrics", bhost, bport, "http")
