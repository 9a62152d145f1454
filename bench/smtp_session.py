"""One load-generator SMTP session over asyncio: banner, EHLO, optional STARTTLS, N messages.

Owns the client side of the conversation the benchmark drives, strictly lock-step (no
command pipelining: Postfix's ``smtpd_forbid_unauth_pipelining`` and Sealpost both refuse it
before authentication): RFC 5321 section 4.1 commands, RFC 3207 STARTTLS followed by a fresh
EHLO (the client MUST discard what it learnt before TLS, RFC 3207 section 4.2). Latency is
measured from writing the end of the message data (body and final dot, one write) to the
``250`` that acknowledges it.

The generator shares the machine's cores with the server it measures, so it is kept lean: an
``asyncio.Protocol`` that parses replies as they arrive and wakes the session with one future
per reply, and one timer per session for every step's timeout (asyncio streams and a
``wait_for`` per reply cost it more CPU per message than the servers spent).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import socket
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from bench.results import ErrorKind

_T = TypeVar("_T")
_CLOSE_WAIT = 5.0  # seconds to wait for the server's side of the close

MESSAGE_SIZE = 5 * 1024
_LINE = b"The quick brown fox jumps over the lazy dog; sealpost benchmark payload 0123456789\r\n"


class SessionError(Exception):
    """A session step failed; ``kind`` says how."""

    def __init__(self, kind: ErrorKind, detail: str) -> None:
        super().__init__(f"{kind.value}: {detail}")
        self.kind = kind


@dataclass(frozen=True)
class Target:
    """Where and how to talk: one server, one envelope, one TLS policy."""

    host: str
    port: int
    starttls: bool
    mail_from: str
    rcpt_to: str
    step_timeout: float = 30.0
    auth_key: str | None = None  # SparkPost-style SMTP AUTH PLAIN as SMTP_Injection (RFC 4954)


def build_message(serial: str, size: int = MESSAGE_SIZE) -> bytes:
    """A plain RFC 5322 message of about ``size`` bytes, CRLF line ends, already dot-safe
    (no line starts with "."), ending with CRLF; the caller appends ``.\\r\\n``."""
    header = (
        "From: Load Generator <loadgen@client.bench.test>\r\n"
        "To: <sink@bench.test>\r\n"
        f"Subject: benchmark message {serial}\r\n"
        "Date: Thu, 01 Jan 2026 00:00:00 +0000\r\n"
        f"Message-ID: <{serial}@client.bench.test>\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=us-ascii\r\n"
        "\r\n"
    ).encode("ascii")
    lines = max(1, (size - len(header)) // len(_LINE))
    return header + _LINE * lines


def client_tls_context() -> ssl.SSLContext:
    """TLS 1.2+ without certificate checks: both servers present the same certificate, and
    verifying it would only cost the generator CPU. No CA store either: OpenSSL 3.0 still
    builds the chain when it is told not to verify it, and with the system's CA directory
    loaded (``create_default_context``) it reads that directory twice per handshake looking
    for the issuer (0.5-0.9 ms of the generator's CPU a session in case b, docs/benchmarks.md)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


class _Replies(asyncio.Protocol):
    """The connection's protocol: bytes in, complete replies (RFC 5321 section 4.2: lines
    ``NNN-`` then one ``NNN ``) out to the one waiting session, in order."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._buffer = b""
        self._lines: list[bytes] = []
        self._ready: list[list[bytes]] = []
        self._waiter: asyncio.Future[list[bytes]] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer + data if self._buffer else data
        start = 0
        while (end := buffer.find(b"\n", start)) >= 0:
            line = buffer[start : end + 1]
            start = end + 1
            self._lines.append(line)
            if line[3:4] != b"-":
                self._deliver(self._lines)
                self._lines = []
        self._buffer = buffer[start:]

    def eof_received(self) -> bool | None:
        return None  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(None)
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(
                SessionError(ErrorKind.CLOSED, f"connection closed after {self._lines!r}")
            )

    def _deliver(self, reply: list[bytes]) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(reply)
        else:
            self._ready.append(reply)

    def next_reply(self) -> asyncio.Future[list[bytes]]:
        future: asyncio.Future[list[bytes]] = asyncio.get_running_loop().create_future()
        if self._ready:
            future.set_result(self._ready.pop(0))
        elif self.lost.done():
            future.set_exception(SessionError(ErrorKind.CLOSED, "connection closed"))
        else:
            self._waiter = future
        return future


class _StepClock:
    """One timer per session for every step's timeout: each step moves the deadline, and the
    timer, when it fires early, re-arms itself for the deadline instead of being replaced.
    Only a step in progress is cancelled: an idle session (a paced generator waiting for its
    next slot) has no deadline."""

    def __init__(self, loop: asyncio.AbstractEventLoop, task: asyncio.Task[Any]) -> None:
        self._loop = loop
        self._task = task
        self._deadline = 0.0
        self._busy = False
        self._timer: asyncio.TimerHandle | None = None
        self._expired = False

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _check(self) -> None:
        self._timer = None
        if not self._busy:
            return
        if self._loop.time() < self._deadline:
            self._timer = self._loop.call_at(self._deadline, self._check)
            return
        self._expired = True
        self._task.cancel()

    async def run(self, seconds: float, step: Awaitable[_T]) -> _T:
        """Await ``step``; ``TimeoutError`` once ``seconds`` pass without it finishing."""
        self._deadline = self._loop.time() + seconds
        self._busy = True
        if self._timer is None:
            self._timer = self._loop.call_at(self._deadline, self._check)
        try:
            return await step
        except asyncio.CancelledError:
            if not self._expired:
                raise
            self._expired = False
            self._task.uncancel()
            raise TimeoutError from None
        finally:
            self._busy = False


class SmtpSession:
    """A connected session; ``open`` then ``send`` repeatedly, then ``close``. Every call is
    made from the one task that called ``open``."""

    def __init__(self, target: Target, tls: ssl.SSLContext | None) -> None:
        self.target = target
        self._tls = tls
        self._protocol: _Replies | None = None
        self._clock: _StepClock | None = None

    async def open(self) -> None:
        target = self.target
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        clock = self._clock = _StepClock(loop, task)
        try:
            _, protocol = await clock.run(
                target.step_timeout, loop.create_connection(_Replies, target.host, target.port)
            )
        except (OSError, TimeoutError) as exc:
            raise SessionError(ErrorKind.CONNECT, repr(exc)) from None
        self._protocol = protocol
        assert protocol.transport is not None
        sock = protocol.transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        await self._expect(220)
        await self._command(b"EHLO client.bench.test\r\n", 250)
        if target.starttls:
            await self._command(b"STARTTLS\r\n", 220, ErrorKind.TLS)
            assert self._tls is not None and protocol.transport is not None
            try:
                upgraded = await clock.run(
                    target.step_timeout,
                    loop.start_tls(
                        protocol.transport, protocol, self._tls, server_hostname="mx.bench.test"
                    ),
                )
            except (OSError, ssl.SSLError, TimeoutError) as exc:
                raise SessionError(ErrorKind.TLS, repr(exc)) from None
            protocol.transport = cast(asyncio.Transport, upgraded)
            await self._command(b"EHLO client.bench.test\r\n", 250)
        if target.auth_key is not None:
            token = base64.b64encode(f"\0SMTP_Injection\0{target.auth_key}".encode())
            await self._command(b"AUTH PLAIN " + token + b"\r\n", 235)

    async def send(
        self,
        message: bytes,
        clock: Callable[[], float] = time.monotonic,
        rcpt_to: str | None = None,
    ) -> float:
        """One transaction (to ``rcpt_to``, default the target's recipient); returns the
        seconds from the end of data to the ``250``."""
        target = self.target
        await self._command(f"MAIL FROM:<{target.mail_from}>\r\n".encode(), 250)
        await self._command(f"RCPT TO:<{rcpt_to or target.rcpt_to}>\r\n".encode(), 250)
        await self._command(b"DATA\r\n", 354)
        started = clock()
        await self._command(message + b".\r\n", 250)
        return clock() - started

    async def close(self, polite: bool = True) -> None:
        protocol, clock = self._protocol, self._clock
        if clock is None:
            return
        try:
            if protocol is not None:
                if polite:
                    with contextlib.suppress(SessionError):
                        await self._command(b"QUIT\r\n", 221)
                if protocol.transport is not None:
                    protocol.transport.close()
                try:
                    await clock.run(_CLOSE_WAIT, protocol.lost)
                except TimeoutError:
                    if protocol.transport is not None:
                        protocol.transport.abort()
        finally:
            clock.stop()
            self._protocol = self._clock = None

    async def _command(self, line: bytes, expected: int, kind: ErrorKind = ErrorKind.REPLY) -> None:
        protocol = self._protocol
        assert protocol is not None and protocol.transport is not None
        protocol.transport.write(line)
        await self._expect(expected, kind)

    async def _expect(self, expected: int, kind: ErrorKind = ErrorKind.REPLY) -> None:
        code, text = await self._reply()
        if code != expected:
            raise SessionError(kind, f"expected {expected}, got {code} {text!r}")

    async def _reply(self) -> tuple[int, bytes]:
        assert self._protocol is not None and self._clock is not None
        try:
            lines = await self._clock.run(self.target.step_timeout, self._protocol.next_reply())
        except TimeoutError:
            raise SessionError(ErrorKind.TIMEOUT, "no reply") from None
        try:
            code = int(lines[-1][:3])
        except ValueError:
            raise SessionError(ErrorKind.REPLY, f"malformed reply {lines!r}") from None
        if len(lines[-1]) < 4 or lines[-1][3:4] not in (b" ", b"\r", b"\n"):
            raise SessionError(ErrorKind.REPLY, f"malformed reply {lines!r}")
        return code, b"".join(lines)
