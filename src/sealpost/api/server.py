"""Serving the API over HTTPS from the server's own event loop (uvicorn, no subprocess).

The listening socket is ours (TCP_NODELAY, the configured address); the TLS context is the
same ``CertificateSet`` context as SMTP, so API certificates reload with SMTP's, and
TLS 1.2+ with the same ciphers applies (checklist J1/J2 for HTTPS). The metrics and health
listener is served the same way without TLS (``context=None``, plain HTTP like every
Prometheus exporter).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from collections.abc import Callable

import uvicorn
import uvicorn.lifespan.off  # what Config loads at start: loaded before the fork instead
import uvicorn.protocols.http.auto
from starlette.types import ASGIApp

log = logging.getLogger("sealpost.api")


class ApiServer:
    def __init__(
        self, app: ASGIApp, sock: socket.socket, context: Callable[[], ssl.SSLContext] | None
    ) -> None:
        tls = None if context is None else (lambda _config, _default: context())
        config = uvicorn.Config(
            app,
            lifespan="off",
            ws="none",  # no WebSocket endpoint: an upgrade request is plain HTTP here
            log_config=None,
            access_log=False,
            server_header=False,
            proxy_headers=False,
            ssl_context_factory=tls,
            timeout_keep_alive=30,
        )
        self._server = uvicorn.Server(config)
        self._server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
        self._sock = sock
        self._task: asyncio.Task[None] | None = None

    @property
    def address(self) -> tuple[str, int]:
        name = self._sock.getsockname()
        return str(name[0]), int(name[1])

    async def start(self) -> None:
        config = self._server.config
        if not config.loaded:
            config.load()
        self._server.lifespan = config.lifespan_class(config)
        await self._server.startup(sockets=[self._sock])
        self._task = asyncio.get_running_loop().create_task(self._server.main_loop())

    async def stop(self, grace: float = 3.0) -> None:
        """Stop accepting, let requests in progress finish for ``grace`` seconds, then cut
        what is left: an idle keep-alive client must not hold a shutdown for the TLS
        close_notify wait (asyncio's 30 s).

        Neither of uvicorn's own fixed waits is taken: ``main_loop`` only ticks (the Date
        header, and ``should_exit`` every 0.1 s), so it is cancelled rather than waited out,
        and ``Server.shutdown`` sleeps 0.1 s for connections that are already closed or
        aborted here. Each server stop cost 0.2 s for nothing (every API test stops one)."""
        server = self._server
        server.should_exit = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait([self._task], timeout=5)
        loop = asyncio.get_running_loop()
        for listening in server.servers:
            listening.close()  # stop accepting, as uvicorn's shutdown does first
        self._sock.close()
        state = server.server_state
        for connection in list(state.connections):
            connection.shutdown()  # idle keep-alives close, busy ones finish their request
        deadline = loop.time() + grace
        while any(_busy(c) for c in state.connections) and loop.time() < deadline:
            await asyncio.sleep(0.05)
        for connection in list(state.connections):
            transport = getattr(connection, "transport", None)
            if transport is not None:
                transport.abort()
        # What uvicorn's shutdown waits for after its sleep: the connections gone (an aborted
        # transport reports connection_lost on the next loop turn) and the request tasks done.
        deadline = loop.time() + 5
        while state.connections and loop.time() < deadline:
            await asyncio.sleep(0.005)
        if state.tasks:
            await asyncio.wait(set(state.tasks))
        for listening in server.servers:
            await listening.wait_closed()


def _busy(connection: object) -> bool:
    """A request is being served on this connection (uvicorn keeps its ``cycle``)."""
    cycle = getattr(connection, "cycle", None)
    return cycle is not None and not getattr(cycle, "response_complete", True)
