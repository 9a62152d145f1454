"""One load-generator SMTP session over asyncio: banner, EHLO, optional STARTTLS, N messages.

Owns the client side of the conversation the benchmark drives, strictly lock-step (no
command pipelining: Postfix's ``smtpd_forbid_unauth_pipelining`` and Sealpost both refuse it
before authentication): RFC 5321 section 4.1 commands, RFC 3207 STARTTLS followed by a fresh
EHLO (the client MUST discard what it learnt before TLS, RFC 3207 section 4.2). Latency is
measured from writing the end of the message data (body and final dot, one write) to the
``250`` that acknowledges it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass

from bench.results import ErrorKind

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
    verifying it would only cost the generator CPU."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


class SmtpSession:
    """A connected session; ``open`` then ``send`` repeatedly, then ``close``."""

    def __init__(self, target: Target, tls: ssl.SSLContext | None) -> None:
        self.target = target
        self._tls = tls
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        target = self.target
        try:
            self._reader, self._writer = await asyncio.wait_for(
                asyncio.open_connection(target.host, target.port), target.step_timeout
            )
        except (OSError, TimeoutError) as exc:
            raise SessionError(ErrorKind.CONNECT, repr(exc)) from None
        sock = self._writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        await self._expect(220)
        await self._command(b"EHLO client.bench.test\r\n", 250)
        if target.starttls:
            await self._command(b"STARTTLS\r\n", 220, ErrorKind.TLS)
            assert self._writer is not None and self._tls is not None
            try:
                await asyncio.wait_for(
                    self._writer.start_tls(self._tls, server_hostname="mx.bench.test"),
                    target.step_timeout,
                )
            except (OSError, ssl.SSLError, TimeoutError) as exc:
                raise SessionError(ErrorKind.TLS, repr(exc)) from None
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
        assert self._writer is not None
        started = clock()
        self._writer.write(message + b".\r\n")
        await self._expect(250)
        return clock() - started

    async def close(self, polite: bool = True) -> None:
        writer, self._writer = self._writer, None
        if writer is None:
            return
        try:
            if polite:
                self._writer = writer
                await self._command(b"QUIT\r\n", 221)
                self._writer = None
        except SessionError:
            pass
        finally:
            writer.close()
            with contextlib.suppress(OSError, ssl.SSLError, TimeoutError):
                await asyncio.wait_for(writer.wait_closed(), 5)

    async def _command(self, line: bytes, expected: int, kind: ErrorKind = ErrorKind.REPLY) -> None:
        assert self._writer is not None
        self._writer.write(line)
        await self._expect(expected, kind)

    async def _expect(self, expected: int, kind: ErrorKind = ErrorKind.REPLY) -> None:
        code, text = await self._reply()
        if code != expected:
            raise SessionError(kind, f"expected {expected}, got {code} {text!r}")

    async def _reply(self) -> tuple[int, bytes]:
        assert self._reader is not None
        lines: list[bytes] = []
        while True:
            try:
                line = await asyncio.wait_for(self._reader.readline(), self.target.step_timeout)
            except TimeoutError:
                raise SessionError(ErrorKind.TIMEOUT, "no reply") from None
            except (OSError, ssl.SSLError) as exc:
                raise SessionError(ErrorKind.CLOSED, repr(exc)) from None
            if not line.endswith(b"\n") or len(line) < 4:
                raise SessionError(ErrorKind.CLOSED, f"connection closed after {lines!r}")
            lines.append(line)
            if line[3:4] != b"-":
                break
        try:
            code = int(lines[-1][:3])
        except ValueError:
            raise SessionError(ErrorKind.REPLY, f"malformed reply {lines!r}") from None
        return code, b"".join(lines)
