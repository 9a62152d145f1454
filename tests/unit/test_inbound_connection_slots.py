"""The connection driver frees its per-IP slot when the SMTP session ends (QUIT answered),
not when asyncio later reports the socket gone: a client that reconnects at once must not
meet its own closing connection (issue 12). asyncio calls ``connection_lost`` only after
``close()`` has flushed the transport, which this transport never does by itself."""

from __future__ import annotations

import asyncio
import ssl

from sealpost.inbound.connection import SmtpConnection
from sealpost.inbound.context import ListenerContext, Timeouts
from sealpost.inbound.limits import ConnectionLimiter
from sealpost.smtp.server import ServerPolicy


class HeldTransport(asyncio.Transport):
    """A transport whose close is still in progress (unflushed data, a slow peer)."""

    def __init__(self, port: int) -> None:
        super().__init__()
        self.written = b""
        self.closing = False
        self._port = port

    def get_extra_info(self, name: str, default: object = None) -> object:
        return {"peername": ("192.0.2.7", self._port)}.get(name, default)

    def write(self, data: bytes) -> None:
        self.written += data

    def close(self) -> None:
        self.closing = True

    def is_closing(self) -> bool:
        return self.closing


def feed(connection: SmtpConnection, data: bytes) -> None:
    """What the loop does for a buffered protocol: read into its buffer, then report."""
    buffer = connection.get_buffer(len(data))
    buffer[: len(data)] = data
    connection.buffer_updated(len(data))


def test_quit_frees_the_ip_slot_while_the_close_is_still_in_progress():
    async def scenario() -> None:
        limiter = ConnectionLimiter(max_total=10, max_per_ip=1)
        ctx = ListenerContext(
            name="mx",
            policy=ServerPolicy("mx.example.test", frozenset({"example.test"}), "none"),
            limiter=limiter,
            authenticator=None,  # type: ignore[arg-type]  # QUIT never authenticates
            submission=None,  # type: ignore[arg-type]  # nor queues anything
            timeouts=Timeouts(),
            ssl_context=lambda: ssl.create_default_context(),
            tls_record=lambda _: None,  # type: ignore[arg-type,return-value]
        )
        first, first_transport = SmtpConnection(ctx), HeldTransport(1)
        first.connection_made(first_transport)
        feed(first, b"QUIT\r\n")
        assert b"221" in first_transport.written and first_transport.closing
        second, second_transport = SmtpConnection(ctx), HeldTransport(2)
        second.connection_made(second_transport)
        assert second_transport.written.startswith(b"220"), second_transport.written
        assert limiter.total == 2  # the first is not gone yet
        first.connection_lost(None)
        second.connection_lost(None)
        assert limiter.total == 0 and limiter.per_ip == {}

    asyncio.run(scenario())
