"""Inbound listeners: one asyncio server per ``[[smtp.listeners]]`` entry.

The socket comes from ``net.sockets`` (TCP_NODELAY on the listener itself), made by the
composition root or, with several worker processes, inherited from their supervisor. Implicit-TLS
listeners (RFC 8314, port 465) hand the socket to asyncio with the server context, so no byte
of SMTP is ever sent or read before the handshake (checklist A7).
"""

from __future__ import annotations

import asyncio
import socket

from sealpost.inbound.connection import SmtpConnection
from sealpost.inbound.context import ListenerContext


async def start_listener(ctx: ListenerContext, sock: socket.socket) -> asyncio.Server:
    """Serve SMTP on the bound, listening ``sock``."""
    loop = asyncio.get_running_loop()
    return await loop.create_server(
        lambda: SmtpConnection(ctx),
        sock=sock,
        ssl=ctx.ssl_context() if ctx.implicit_tls else None,
        ssl_handshake_timeout=ctx.timeouts.handshake if ctx.implicit_tls else None,
    )


def bound_address(server: asyncio.Server) -> tuple[str, int]:
    name = server.sockets[0].getsockname()
    return str(name[0]), int(name[1])
