"""Serving the API over HTTPS from the server's own event loop (uvicorn, no subprocess).

The listening socket is ours (TCP_NODELAY, the configured address); the TLS context is the
same ``CertificateSet`` context as SMTP, so API certificates reload with SMTP's, and
TLS 1.2+ with the same ciphers applies (checklist J1/J2 for HTTPS).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from collections.abc import Callable

import uvicorn
from starlette.types import ASGIApp

log = logging.getLogger("sealpost.api")


class ApiServer:
    def __init__(
        self, app: ASGIApp, sock: socket.socket, context: Callable[[], ssl.SSLContext]
    ) -> None:
        config = uvicorn.Config(
            app,
            lifespan="off",
            log_config=None,
            access_log=False,
            server_header=False,
            proxy_headers=False,
            ssl_context_factory=lambda _config, _default: context(),
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

    async def stop(self) -> None:
        self._server.should_exit = True
        if self._task is not None:
            await asyncio.wait([self._task], timeout=5)
        await self._server.shutdown(sockets=[self._sock])
