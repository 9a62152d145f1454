"""Listening sockets: the one place that creates them (DESIGN.md: ``net`` touches sockets).

TCP_NODELAY is set on the listening socket itself (accepted sockets inherit it on Linux;
asyncio drops the option on listeners it creates without ``IPPROTO_TCP``), and uvloop's and
asyncio's TCP transports set it again on each accepted connection: without it every STARTTLS
exchange can stall on delayed ACKs, as Postfix's did. The server does not set it a third
time (that was a ``setsockopt`` and two ``getsockname`` calls per connection;
tests/integration/test_inbound_smtp.py checks the accepted sockets). IPv6 listeners are
IPv6-only so an IPv4 listener on the same port can coexist.
"""

from __future__ import annotations

import contextlib
import socket


def set_nodelay(sock: socket.socket | None) -> None:
    """Disable Nagle on ``sock`` (no-op for None or a socket that is not TCP/IP)."""
    if sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def split_address(address: str) -> tuple[str, int]:
    """``host:port`` or ``[v6]:port`` -> (host, port)."""
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


def listening_socket(host: str, port: int, backlog: int = 1024) -> socket.socket:
    """A bound, listening, non-blocking TCP socket with SO_REUSEADDR and TCP_NODELAY."""
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
