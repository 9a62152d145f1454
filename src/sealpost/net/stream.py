"""The outbound ``Stream``: one TCP connection, read / write / start_tls / close, each bounded.

DESIGN.md section 2-3: the SMTP code needs these operations only, so it is tested without
sockets and this asyncio implementation is tested once (it runs on uvloop in production).
Every operation takes its own timeout (RFC 5321 section 4.5.3.2 gives the SMTP ones).
TCP_NODELAY is set on the socket: without it each command/reply turn can wait on delayed ACKs.

``start_tls`` throws away every byte received before the handshake (RFC 3207 section 4.2:
nothing the server sent in plaintext after its ``220`` may be believed; checklist B1) and
tells a certificate that failed verification (``TlsVerifyError``) from a handshake that
failed (``TlsHandshakeError``) or stalled (``stalled=True``), since policy treats them
differently. Reading pauses the socket when more than ``MAX_BUFFER`` octets wait unread.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl

MAX_BUFFER = 1 << 20
CLOSE_WAIT = 2.0  # seconds allowed for a clean close before the connection is aborted


class StreamClosed(ConnectionError):
    """The connection is gone (EOF, reset, or closed here)."""


class TlsHandshakeError(Exception):
    def __init__(self, detail: str, *, stalled: bool = False) -> None:
        super().__init__(detail)
        self.stalled = stalled


class TlsVerifyError(TlsHandshakeError):
    """The handshake failed on certificate verification; ``error`` is OpenSSL's."""

    def __init__(self, error: ssl.SSLCertVerificationError) -> None:
        super().__init__(str(error.verify_message or error))
        self.error = error


class _Protocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.eof = False
        self.lost: BaseException | None = None
        self.closed = asyncio.get_running_loop().create_future()
        self._readable: asyncio.Future[None] | None = None
        self._writable: asyncio.Future[None] | None = None
        self._paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if len(self.buffer) > MAX_BUFFER and self.transport is not None and not self._paused:
            self._paused = True
            self.transport.pause_reading()
        self._wake_reader()

    def eof_received(self) -> bool:
        self.eof = True
        self._wake_reader()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = True
        self.lost = exc or StreamClosed("connection closed")
        self._wake_reader()
        for future in (self._writable, self.closed):
            if future is not None and not future.done():
                future.set_result(None)

    def pause_writing(self) -> None:
        if self._writable is None or self._writable.done():
            self._writable = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)

    def _wake_reader(self) -> None:
        if self._readable is not None and not self._readable.done():
            self._readable.set_result(None)

    async def wait_readable(self) -> None:
        self._readable = asyncio.get_running_loop().create_future()
        await self._readable

    async def wait_writable(self) -> None:
        if self._writable is not None and not self._writable.done():
            await self._writable

    def take(self) -> bytes:
        data = bytes(self.buffer)
        self.buffer.clear()
        if self._paused and self.transport is not None and self.lost is None:
            self._paused = False
            self.transport.resume_reading()
        return data


class Stream:
    """One outbound connection; make it with ``Stream.connect``."""

    def __init__(self, protocol: _Protocol, peer: tuple[str, int]) -> None:
        self._protocol = protocol
        self.peer = peer

    @classmethod
    async def connect(cls, host: str, port: int, timeout: float) -> Stream:
        """Connect to an address; raises OSError (refused, unreachable) or TimeoutError."""
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(timeout):
            _, protocol = await loop.create_connection(_Protocol, host, port)
        sock = protocol.transport.get_extra_info("socket") if protocol.transport else None
        if sock is not None:
            with contextlib.suppress(OSError, AttributeError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return cls(protocol, (host, port))

    @property
    def ssl_object(self) -> ssl.SSLObject | None:
        transport = self._protocol.transport
        return None if transport is None else transport.get_extra_info("ssl_object")

    @property
    def buffered(self) -> int:
        """Octets received and not read yet."""
        return len(self._protocol.buffer)

    @property
    def at_eof(self) -> bool:
        return self._protocol.eof and not self._protocol.buffer

    async def read(self, timeout: float) -> bytes:
        """What has arrived (waiting up to ``timeout``); ``b""`` at end of stream."""
        protocol = self._protocol
        if not protocol.buffer and not protocol.eof:
            async with asyncio.timeout(timeout):
                await protocol.wait_readable()
        return protocol.take()

    async def write(self, data: bytes, timeout: float) -> None:
        """Write and wait (up to ``timeout``) until the transport's buffer drains."""
        protocol = self._protocol
        if protocol.lost is not None or protocol.transport is None:
            raise StreamClosed("connection closed")
        try:
            protocol.transport.write(data)
        except RuntimeError as exc:  # uvloop: "unable to perform operation ... closed"
            raise StreamClosed(str(exc)) from None
        async with asyncio.timeout(timeout):
            await protocol.wait_writable()
        if protocol.lost is not None:
            raise StreamClosed("connection closed while writing")

    async def start_tls(
        self, context: ssl.SSLContext, server_hostname: str | None, timeout: float
    ) -> None:
        """TLS handshake on this connection (SNI = ``server_hostname``)."""
        protocol = self._protocol
        protocol.buffer.clear()  # plaintext that came before the handshake is never read (B1)
        if protocol.transport is None or protocol.lost is not None:
            raise TlsHandshakeError("connection closed before the TLS handshake")
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                transport = await loop.start_tls(
                    protocol.transport,
                    protocol,
                    context,
                    server_hostname=server_hostname,
                    ssl_handshake_timeout=timeout * 2,  # ours fires first: a stall
                )
        except ssl.SSLCertVerificationError as exc:
            self._abort()
            raise TlsVerifyError(exc) from None
        except TimeoutError:
            self._abort()
            raise TlsHandshakeError("TLS handshake timed out", stalled=True) from None
        except Exception as exc:  # SSLError, ConnectionError, EOF: whatever the loop raises
            self._abort()
            raise TlsHandshakeError(f"TLS handshake failed: {exc or type(exc).__name__}") from None
        if transport is None:
            raise TlsHandshakeError("connection closed during the TLS handshake")
        protocol.transport = transport  # type: ignore[assignment]
        protocol.buffer.clear()

    async def close(self) -> None:
        """Close (TLS close_notify when TLS is up), abort after ``CLOSE_WAIT``; never raises."""
        protocol = self._protocol
        transport = protocol.transport
        if transport is None or protocol.lost is not None:
            return
        try:
            if not transport.is_closing():
                transport.close()
            async with asyncio.timeout(CLOSE_WAIT):
                await asyncio.shield(protocol.closed)
        except Exception:
            self._abort()

    def _abort(self) -> None:
        """Drop the connection now. A handshake that never finished does not report the
        loss to our protocol (asyncio's SSL layer only does after ``connection_made``),
        so the protocol is marked lost here."""
        protocol = self._protocol
        if protocol.transport is not None:
            with contextlib.suppress(Exception):
                protocol.transport.abort()
        if protocol.lost is None:
            protocol.connection_lost(StreamClosed("connection aborted"))
