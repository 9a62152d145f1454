"""``bench.smtp_session``: the load generator's lean client, against scripted servers on
loopback (real sockets; a trustme certificate for STARTTLS).

What must hold for the benchmark's numbers to mean anything: replies are parsed whole however
the bytes arrive, a reply code other than the expected one is an error of the right kind, a
silent server is a timeout after the step's timeout (not a hang), a closed one an error, and a
paced session idle between messages is never timed out for it.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import pytest
import trustme
import uvloop
from bench.results import ErrorKind
from bench.smtp_session import (
    SessionError,
    SmtpSession,
    Target,
    build_message,
    client_tls_context,
)

Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def on_uvloop(test: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Run the coroutine test on uvloop, the loop the generator runs on (its transports are
    not ``asyncio.Transport`` subclasses, which the session must not assume)."""

    @functools.wraps(test)
    def run(*args: Any, **kwargs: Any) -> None:
        uvloop.run(asyncio.wait_for(test(*args, **kwargs), 20))

    return run


async def _serve(script: Script) -> tuple[asyncio.Server, int]:
    server = await asyncio.start_server(script, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


def _target(port: int, starttls: bool = False, timeout: float = 5.0) -> Target:
    return Target("127.0.0.1", port, starttls, "a@client.test", "b@bench.test", timeout)


async def _line(reader: asyncio.StreamReader) -> bytes:
    return await reader.readline()


async def _failed_open(port: int, timeout: float = 5.0) -> SessionError:
    """The error ``open`` raises against ``port``, after closing the session as the
    generator does."""
    session = SmtpSession(_target(port, timeout=timeout), None)
    with pytest.raises(SessionError) as caught:
        await session.open()
    await session.close(polite=False)
    return caught.value


async def _polite(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> list[bytes]:
    """A server that answers in awkward chunks: the banner in two writes, the EHLO reply's
    lines split mid-line, MAIL and RCPT replies each with the previous one's tail."""
    seen: list[bytes] = []
    writer.write(b"220-mx.test ")
    await writer.drain()
    await asyncio.sleep(0.01)
    writer.write(b"welcome\r\n220 ready\r\n")
    seen.append(await _line(reader))
    writer.write(b"250-mx.test\r\n250-PIPEL")
    await writer.drain()
    await asyncio.sleep(0.01)
    writer.write(b"INING\r\n250 8BITMIME\r\n")
    for reply in (b"250 2.1.0 Ok\r\n", b"250 2.1.5 Ok\r\n", b"354 go on\r\n"):
        seen.append(await _line(reader))
        writer.write(reply)
    data = await reader.readuntil(b"\r\n.\r\n")
    seen.append(data)
    writer.write(b"250 2.0.0 queued\r\n")
    seen.append(await _line(reader))
    writer.write(b"221 bye\r\n")
    await writer.drain()
    writer.close()
    return seen


@on_uvloop
async def test_a_whole_session_with_replies_split_anywhere():
    got: list[list[bytes]] = []

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        got.append(await _polite(reader, writer))

    server, port = await _serve(script)
    async with server:
        session = SmtpSession(_target(port), None)
        await session.open()
        latency = await session.send(build_message("s1"))
        await session.close()
    assert latency >= 0
    seen = got[0]
    assert seen[0] == b"EHLO client.bench.test\r\n"
    assert seen[1] == b"MAIL FROM:<a@client.test>\r\n"
    assert seen[2] == b"RCPT TO:<b@bench.test>\r\n"
    assert seen[3] == b"DATA\r\n"
    assert seen[4].startswith(b"From: Load Generator") and seen[4].endswith(b"\r\n.\r\n")
    assert seen[5] == b"QUIT\r\n"


@on_uvloop
async def test_an_unexpected_code_is_a_reply_error():
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 ready\r\n")
        await _line(reader)
        writer.write(b"250 mx.test\r\n")
        await _line(reader)
        writer.write(b"451 4.3.0 try later\r\n")
        await reader.read()

    server, port = await _serve(script)
    async with server:
        session = SmtpSession(_target(port), None)
        await session.open()
        with pytest.raises(SessionError) as caught:
            await session.send(build_message("s2"))
        await session.close(polite=False)
    assert caught.value.kind is ErrorKind.REPLY
    assert "451" in str(caught.value)


@on_uvloop
async def test_a_silent_server_is_a_timeout_not_a_hang():
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 ready\r\n")
        await reader.read()  # and never answers EHLO

    server, port = await _serve(script)
    async with server:
        error = await _failed_open(port, timeout=0.3)
    assert error.kind is ErrorKind.TIMEOUT
    assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]


@on_uvloop
async def test_a_server_that_hangs_up_is_a_closed_error():
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 ready\r\n")
        await _line(reader)
        writer.write(b"250-mx.test\r\n")  # half a reply, then gone
        await writer.drain()
        writer.close()

    server, port = await _serve(script)
    async with server:
        error = await _failed_open(port)
    assert error.kind is ErrorKind.CLOSED


@on_uvloop
async def test_a_refused_connection_is_a_connect_error():
    server, port = await _serve(lambda r, w: asyncio.sleep(0))
    server.close()
    await server.wait_closed()
    assert (await _failed_open(port)).kind is ErrorKind.CONNECT


@on_uvloop
async def test_an_idle_session_outlives_the_step_timeout():
    """A paced generator waits between messages: that wait is no step of the session."""

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 ready\r\n")
        while line := await _line(reader):
            if line.startswith(b"DATA"):
                writer.write(b"354 go on\r\n")
                await reader.readuntil(b"\r\n.\r\n")
                writer.write(b"250 queued\r\n")
            elif line.startswith(b"QUIT"):
                writer.write(b"221 bye\r\n")
                writer.close()
                return
            else:
                writer.write(b"250 ok\r\n")

    server, port = await _serve(script)
    async with server:
        session = SmtpSession(_target(port, timeout=0.2), None)
        await session.open()
        await session.send(build_message("s3"))
        await asyncio.sleep(0.5)  # idle for more than two step timeouts
        await session.send(build_message("s4"))
        await session.close()


@on_uvloop
async def test_starttls_upgrades_and_says_ehlo_again(tmp_path):
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("mx.bench.test").configure_cert(server_context)
    ehlos: list[bytes] = []

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 ready\r\n")
        ehlos.append(await _line(reader))
        writer.write(b"250-mx.test\r\n250 STARTTLS\r\n")
        await _line(reader)
        writer.write(b"220 go ahead\r\n")
        await writer.drain()
        await writer.start_tls(server_context)
        ehlos.append(await _line(reader))
        writer.write(b"250 mx.test\r\n")
        assert await _line(reader) == b"QUIT\r\n"
        writer.write(b"221 bye\r\n")
        writer.close()

    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    server, port = await _serve(script)
    async with server:
        session = SmtpSession(_target(port, starttls=True), client_context)
        await session.open()
        await session.close()
    assert ehlos == [b"EHLO client.bench.test\r\n"] * 2


def test_tls_client_loads_no_ca_store() -> None:
    """The generator verifies nothing, so it holds no CA: with the system's store loaded,
    OpenSSL 3.0 still looked for the (unknown) benchmark CA in the CA directory on every
    handshake, CPU the generator takes from the server it measures."""
    context = client_tls_context()
    assert context.verify_mode == ssl.CERT_NONE and not context.check_hostname
    assert context.cert_store_stats()["x509"] == 0
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
