"""What the connections of one inbound listener share, and how the server sees them.

The listener builds one ``ListenerContext`` per ``[[smtp.listeners]]`` entry; each
``SmtpConnection`` reads it and registers itself in ``connections`` so that a stopping server
can drain them (``inbound.drain``): wait for work in flight, then close what is left.
Connections are known here only through ``OpenConnection``, so this module does not depend
on the connection driver.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from sealpost.inbound.auth import Authenticator
from sealpost.inbound.limits import ConnectionLimiter
from sealpost.model.tls_record import TlsRecord
from sealpost.observability.metrics import Metrics
from sealpost.smtp.server import ServerPolicy
from sealpost.submission.door import Submission


@dataclass(frozen=True, slots=True)
class Timeouts:
    idle: float = 300.0
    data: float = 600.0
    min_data_rate: float = 500.0
    handshake: float = 30.0


class OpenConnection(Protocol):
    """An accepted connection, as the server's shutdown sees it."""

    @property
    def tasks(self) -> set[asyncio.Task[None]]:
        """Work in flight (AUTH checks, store writes) that should finish before closing."""

    def drain(self, *, now: bool = False) -> None:
        """The server is stopping: 421 4.3.2 now when idle (or ``now``), else after the
        transaction."""

    def close(self) -> None: ...


# Bytes one read may bring (a TLS record is at most 16 KiB of plaintext; libuv suggests 64).
READ_BUFFER_SIZE = 64 * 1024


def _read_buffer() -> memoryview:
    return memoryview(bytearray(READ_BUFFER_SIZE))


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
    connections: set[OpenConnection] = field(default_factory=set)
    metrics: Metrics | None = None  # open connections, refusals
    draining: bool = False  # the server is stopping: new connections get 421 4.3.2
    refused_draining: int = 0  # how many did
    # Where every connection of this listener reads into (``SmtpConnection.get_buffer``):
    # each read is copied out before the loop runs anything else, so one buffer serves all.
    read_buffer: memoryview = field(default_factory=_read_buffer)

    @property
    def implicit_tls(self) -> bool:
        return self.policy.tls_mode == "implicit"
