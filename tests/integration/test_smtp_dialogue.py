"""net.smtp_dialogue: the one client dialogue loop of delivery sessions and tls-check probes,
over real loopback sockets (the SMTP sink, or a few-line server for a dropped connection).

What a timeout and a lost connection do in each fault mode (``ABORT``: a synthesized 4.4.2
completion; ``RAISE``: the exception), that an end of stream with no operation running is
``StreamClosed``, and the STARTTLS hook: ``220``, the handshake, the client's reset and the
second EHLO, with nothing the server sent in the clear after ``220`` believed (RFC 3207
section 4.2, checklist B1).
"""

from __future__ import annotations

import asyncio
import math
import ssl
from collections.abc import Awaitable, Callable

import pytest

from sealpost.net.smtp_dialogue import LOST, TIMED_OUT, Dialogue, OnFault, Timeouts
from sealpost.net.stream import Stream, StreamClosed
from sealpost.smtp.client import SmtpClient
from tests.fixtures.smtp_sink import SinkCertificates, SmtpSink

QUICK = Timeouts(command=0.3, data=0.3)
SLOW = Timeouts(command=30, data=30)


async def dialogue(address: tuple[str, int], mode: OnFault, timeouts: Timeouts) -> Dialogue:
    stream = await Stream.connect(*address, 5)
    return Dialogue(stream, SmtpClient("client.example.test"), timeouts, on_fault=mode)


def run_with_server(
    handler: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
    body: Callable[[tuple[str, int]], Awaitable[None]],
) -> None:
    async def main() -> None:
        server = await asyncio.start_server(handler, "127.0.0.1", 0)
        try:
            await body(server.sockets[0].getsockname()[:2])
        finally:
            server.close()

    asyncio.run(main())


async def greet_then_hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"220 peer.example.test ESMTP\r\n")
    await reader.readline()  # the EHLO, never answered
    writer.close()


def test_a_silent_server_times_out_as_a_reply_when_aborting(smtp_sink) -> None:
    sink: SmtpSink = smtp_sink(stall={"EHLO": math.inf})

    async def main() -> None:
        d = await dialogue(sink.address, OnFault.ABORT, QUICK)
        assert (await d.greeting()).reply.code == 220
        hello = await d.ehlo()
        assert hello.reply == TIMED_OUT and hello.extensions is None
        assert not d.client.usable
        await d.stream.close()

    asyncio.run(main())


def test_a_silent_server_raises_timeout_when_raising(smtp_sink) -> None:
    sink: SmtpSink = smtp_sink(stall={"EHLO": math.inf})

    async def main() -> None:
        d = await dialogue(sink.address, OnFault.RAISE, QUICK)
        assert (await d.greeting()).reply.code == 220
        with pytest.raises(TimeoutError):
            await d.ehlo()
        await d.stream.close()

    asyncio.run(main())


@pytest.mark.parametrize("mode", list(OnFault))
def test_a_dropped_connection_ends_the_operation_as_lost(mode: OnFault) -> None:
    async def body(address: tuple[str, int]) -> None:
        d = await dialogue(address, mode, SLOW)
        assert (await d.greeting()).reply.code == 220
        hello = await d.ehlo()
        assert hello.reply == LOST and hello.extensions is None
        with pytest.raises(StreamClosed):  # no operation left to end: nothing to complete
            await d.complete([])
        await d.stream.close()

    run_with_server(greet_then_hang_up, body)


def test_starttls_hook_resets_the_client_and_ignores_cleartext_after_220(
    smtp_sink, sink_certs: SinkCertificates
) -> None:
    injected = b"250-sink.example.test\r\n250 AUTH PLAIN\r\n"
    sink: SmtpSink = smtp_sink(cert=sink_certs.good, starttls_inject=injected)

    async def main() -> None:
        d = await dialogue(sink.address, OnFault.ABORT, SLOW)
        await d.greeting()
        assert (await d.ehlo()).extensions.starttls  # type: ignore[union-attr]
        assert (await d.starttls()).reply.code == 220
        context = ssl.create_default_context(cafile=str(sink_certs.ca_file))
        await d.handshake(context, "mx.example.test", 5)
        hello = await d.tls_established(verified=True)
        assert hello.extensions is not None and not hello.extensions.auth_mechanisms
        assert d.client.tls_active and d.stream.ssl_object is not None
        await d.stream.close()

    asyncio.run(main())
    assert sink.sessions[0].tls_version is not None
    assert not sink.violations
