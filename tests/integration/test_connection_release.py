"""A closed inbound connection is freed at once, not left to the cycle collector.

uvloop's TLS layer keeps a buffered protocol's ``get_buffer`` and ``buffer_updated`` bound
methods after the connection is lost; if the connection kept its transport, the two would
form a cycle that holds the connection's TLS state (a 256 KiB read buffer, OpenSSL's) until
the collector's next full pass, which under load comes seldom: in issue 12's case b at
concurrency 50 the server's peak PSS reached 224 MB that way instead of about 120. The test
turns the collector off, runs real sessions over loopback (plaintext, STARTTLS, implicit
TLS, one cut off inside TLS) and counts the ``SmtpConnection`` objects still alive once the
server saw them close: none may be left.
"""

from __future__ import annotations

import gc
import smtplib
import time

from sealpost.inbound.connection import SmtpConnection
from tests.support import Conversation, Pki, ServerThread

MESSAGE = b"From: a@example.net\r\nTo: b@example.test\r\nSubject: x\r\n\r\nbody\r\n"


def live_connections() -> int:
    return sum(1 for obj in gc.get_objects() if isinstance(obj, SmtpConnection))


def wait_for_no_open(server: ServerThread, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(ctx.connections for ctx in server.app.contexts):
            time.sleep(0.2)  # the loop runs the closed transports' last callbacks
            return
        time.sleep(0.02)
    raise AssertionError("the server still holds open connections")


def sessions(server: ServerThread, pki: Pki) -> None:
    with smtplib.SMTP("127.0.0.1", server.ports["plain"], timeout=10) as client:
        client.sendmail("a@example.net", ["b@example.test"], MESSAGE)
    for _ in range(3):
        with smtplib.SMTP("127.0.0.1", server.ports["mx"], timeout=10) as client:
            client.starttls(context=pki.client_context())
            client.sendmail("a@example.net", ["b@example.test"], MESSAGE)
    with smtplib.SMTP_SSL(
        "127.0.0.1", server.ports["submissions"], timeout=10, context=pki.client_context()
    ) as client:
        client.ehlo()
    cut = Conversation(server.ports["mx"])  # goes away inside TLS, without QUIT
    cut.reply()
    cut.cmd("EHLO client.example")
    cut.cmd("STARTTLS")
    cut.starttls(pki.client_context())
    cut.cmd("EHLO client.example")
    cut.sock.close()


def test_closed_connections_are_freed_without_the_collector(server: ServerThread, pki: Pki):
    sessions(server, pki)  # whatever is made once (caches, contexts) is made now
    wait_for_no_open(server)
    gc.collect()
    gc.disable()
    try:
        before = live_connections()
        sessions(server, pki)
        wait_for_no_open(server)
        assert live_connections() == before, "a closed connection is kept by a cycle"
    finally:
        gc.enable()
