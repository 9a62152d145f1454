"""Inbound listeners: one asyncio server per ``[[smtp.listeners]]`` entry.

Sockets are made here so that TCP_NODELAY is set on the listening socket itself (accepted
sockets inherit it on Linux; asyncio drops the option on listeners it creates without
``IPPROTO_TCP``). Implicit-TLS listeners (RFC 8314, port 465) hand the socket to asyncio with
the server context, so no byte of SMTP is ever sent or read before the handshake (checklist A7).
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field

from sealpost.inbound.auth import Authenticator
from sealpost.inbound.connection import SmtpConnection, set_nodelay
from sealpost.inbound.limits import ConnectionLimiter
from sealpost.model.tls_record import TlsRecord
from sealpost.smtp.server import ServerPolicy
from sealpost.submission import Submission


@dataclass(frozen=True, slots=True)
class Timeouts:
    idle: float = 300.0
    data: float = 600.0
    min_data_rate: float = 500.0
    handshake: float = 30.0


@dataclass(slots=True)
class ListenerContext:
    """Everything the connections of one listener share."""

    name: str
    policy: ServerPolicy
    limiter: ConnectionLimiter
    authenticator: Authenticator
    submission: Submission
    timeouts: Timeouts
    ssl_context: Callable[[], ssl.SSLContext]
    tls_record: Callable[[object], TlsRecord]
    connections: set[SmtpConnection] = field(default_factory=set)

    @property
    def implicit_tls(self) -> bool:
        return self.policy.tls_mode == "implicit"


def listening_socket(host: str, port: int, backlog: int = 1024) -> socket.socket:
    """A bound, listening TCP socket with SO_REUSEADDR and TCP_NODELAY."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        set_nodelay(sock)
        sock.bind((host, port))
        sock.listen(backlog)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


async def start_listener(ctx: ListenerContext, host: str, port: int) -> asyncio.Server:
    loop = asyncio.get_running_loop()
    sock = listening_socket(host, port)
    return await loop.create_server(
        lambda: SmtpConnection(ctx),
        sock=sock,
        ssl=ctx.ssl_context() if ctx.implicit_tls else None,
        ssl_handshake_timeout=ctx.timeouts.handshake if ctx.implicit_tls else None,
    )


def bound_address(server: asyncio.Server) -> tuple[str, int]:
    name = server.sockets[0].getsockname()
    return str(name[0]), int(name[1])
