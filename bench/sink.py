"""The outbound case's sink MX: a lean asyncio SMTP server with STARTTLS that counts and
discards, in its own process so it never shares an interpreter with the harness.

Owns the receiving side of the outbound benchmark: banner, EHLO (offering STARTTLS,
PIPELINING, 8BITMIME, SIZE), STARTTLS (RFC 3207; the session is reset after the handshake,
section 4.2), MAIL/RCPT/DATA/RSET/NOOP/QUIT (RFC 5321 section 4.1). Replies are flushed once
per batch of buffered command lines, so pipelined clients (RFC 2920) are served in order.
The body is read up to the ``CRLF.CRLF`` that ends it (RFC 5321 section 4.1.1.4), usually in
one call, and dropped. Shared memory carries to the harness the number of messages accepted,
the CLOCK_MONOTONIC times of the first and the last, and the sessions opened and secured.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path
from typing import Any

_START_TIMEOUT = 30.0
_POLL = 0.02


@dataclass(frozen=True)
class SinkProgress:
    """What the sink has accepted so far; times are CLOCK_MONOTONIC seconds (0: none yet)."""

    count: int
    first_at: float
    last_at: float
    sessions: int = 0  # SMTP sessions opened
    tls_sessions: int = 0  # of which completed STARTTLS


class SinkProcess:
    """``with SinkProcess(cert, key) as sink:`` then ``sink.port``, ``sink.progress()``."""

    host = "127.0.0.1"

    def __init__(self, cert_file: Path, key_file: Path) -> None:
        self.cert_file, self.key_file = cert_file, key_file
        context = multiprocessing.get_context("spawn")
        self._count: Synchronized[int] = context.Value("q", 0)  # type: ignore[assignment]
        self._first: Synchronized[float] = context.Value("d", 0.0)  # type: ignore[assignment]
        self._last: Synchronized[float] = context.Value("d", 0.0)  # type: ignore[assignment]
        self._sessions = context.Array("q", 2)  # opened, completed STARTTLS
        self._ports = context.Queue()
        self._proc = context.Process(
            target=_sink_main,
            args=(
                str(cert_file),
                str(key_file),
                (self._count, self._first, self._last, self._sessions),
                self._ports,
            ),
            name="bench-sink",
            daemon=True,
        )
        self.port = 0

    def start(self) -> SinkProcess:
        self._proc.start()
        self.port = int(self._ports.get(timeout=_START_TIMEOUT))
        return self

    def stop(self) -> None:
        if self._proc.is_alive():
            self._proc.terminate()
            self._proc.join(5)
            if self._proc.is_alive():
                self._proc.kill()
                self._proc.join(5)

    def __enter__(self) -> SinkProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def progress(self) -> SinkProgress:
        opened, tls = self._sessions[:]
        return SinkProgress(self._count.value, self._first.value, self._last.value, opened, tls)

    def reset(self) -> None:
        with self._count.get_lock():
            self._count.value = 0
            self._first.value = 0.0
            self._last.value = 0.0
            self._sessions[0] = self._sessions[1] = 0

    def wait_for(self, count: int, timeout: float) -> SinkProgress:
        """Poll until ``count`` messages arrived or ``timeout`` passed; returns the progress."""
        deadline = time.monotonic() + timeout
        while (seen := self.progress()).count < count and time.monotonic() < deadline:
            if not self._proc.is_alive():
                raise RuntimeError("the sink process died")
            time.sleep(_POLL)
        return seen


def _sink_main(
    cert_file: str,
    key_file: str,
    shared: tuple[Any, Any, Any, Any],
    ports: multiprocessing.Queue[int],
) -> None:
    import uvloop

    uvloop.run(_serve_forever(cert_file, key_file, shared, ports))


async def _serve_forever(
    cert_file: str,
    key_file: str,
    shared: tuple[Any, Any, Any, Any],
    ports: multiprocessing.Queue[int],
) -> None:
    count, first, last, sessions = shared
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert_file, key_file)

    def accepted() -> None:
        now = time.monotonic()
        with count.get_lock():
            if count.value == 0:
                first.value = now
            count.value += 1
            last.value = now

    def opened(index: int) -> None:
        with sessions.get_lock():
            sessions[index] += 1

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        opened(0)
        with contextlib.suppress(OSError, ssl.SSLError, asyncio.IncompleteReadError):
            await _session(reader, writer, tls, accepted, lambda: opened(1))
        writer.close()
        with contextlib.suppress(OSError, ssl.SSLError):
            await writer.wait_closed()

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    listener.bind(("127.0.0.1", 0))
    server = await asyncio.start_server(handle, sock=listener, backlog=512, limit=1 << 20)
    ports.put(listener.getsockname()[1])
    async with server:
        await server.serve_forever()


_EHLO = (
    b"250-sink.bench.test\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-SIZE 52428800\r\n"
    b"250-ENHANCEDSTATUSCODES\r\n"
)


async def _session(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    tls: ssl.SSLContext,
    accepted: Callable[[], None],
    secured: Callable[[], None],
) -> None:
    writer.write(b"220 sink.bench.test ESMTP bench sink\r\n")
    secure = False
    while True:
        line = await reader.readline()
        if not line:
            return
        verb = line[:4].upper()
        if verb in (b"EHLO", b"HELO"):
            tail = b"250 SMTPUTF8\r\n" if secure else b"250-SMTPUTF8\r\n250 STARTTLS\r\n"
            writer.write(_EHLO + tail)
        elif verb == b"STAR" and not secure:
            writer.write(b"220 2.0.0 go ahead\r\n")
            await writer.drain()
            await writer.start_tls(tls)
            secure = True
            secured()
        elif verb in (b"MAIL", b"RCPT", b"RSET", b"NOOP"):
            writer.write(b"250 2.0.0 ok\r\n")
        elif verb == b"DATA":
            writer.write(b"354 go ahead\r\n")
            await writer.drain()
            while True:  # invariant: at the start of a line
                chunk = await reader.readuntil(b".\r\n")
                if chunk == b".\r\n" or chunk.endswith(b"\r\n.\r\n"):
                    break
            accepted()
            writer.write(b"250 2.0.0 ok: discarded\r\n")
        elif verb == b"QUIT":
            writer.write(b"221 2.0.0 bye\r\n")
            await writer.drain()
            return
        else:
            writer.write(b"502 5.5.2 not implemented\r\n")
        if not reader._buffer:  # type: ignore[attr-defined]  # flush once per pipelined batch
            await writer.drain()
