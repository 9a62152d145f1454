"""Inbound SMTP end to end: real loopback sockets, a trustme CA, the real SQLite queue."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import smtplib
import socket
import ssl
from collections.abc import Callable
from pathlib import Path

import pytest
import uvloop

from sealpost.config.loader import load_config
from tests.support import HOSTNAME, Conversation, Pki, ServerThread, write_config

MESSAGE = b"From: a@sender.test\r\nTo: u@example.test\r\nSubject: hi\r\n\r\nhello\r\n"


def queued(server: ServerThread) -> list:
    async def work() -> list:
        rows = await server.app.store.list(limit=1000)
        return [await server.app.store.get(r.id) for r in rows]

    return server.call(work)


def test_starttls_delivery_records_tls_and_received_header(server: ServerThread, pki: Pki):
    with smtplib.SMTP("127.0.0.1", server.ports["mx"], timeout=10) as client:
        client.ehlo("client.test")
        assert client.has_extn("starttls")
        assert not client.has_extn("auth"), "AUTH must never be offered in plaintext"
        client.starttls(context=pki.client_context())
        client.ehlo("client.test")
        assert client.has_extn("requiretls") and not client.has_extn("starttls")
        refused = client.sendmail("a@sender.test", ["u@example.test"], MESSAGE)
        assert refused == {}
    [stored] = queued(server)
    tls = stored.message.session.tls
    assert tls.version == "TLSv1.3" and tls.cipher
    assert stored.message.session.helo == "client.test"
    head = stored.message.data.split(b"\r\n\r\n", 1)[0].decode()
    assert head.startswith("Received: from client.test ([127.0.0.1])")
    assert "with ESMTPS id " + stored.id in head and "TLSv1.3" in head
    assert stored.message.data.endswith(MESSAGE)


def test_plaintext_mx_accepts_local_mail_but_never_relays(server: ServerThread):
    """Checklist A6 (an MX must not require STARTTLS) and H1 (no open relay)."""
    with smtplib.SMTP("127.0.0.1", server.ports["mx"], timeout=10) as client:
        client.ehlo("client.test")
        client.mail("a@sender.test")
        assert client.rcpt("u@EXAMPLE.test")[0] == 250
        assert client.rcpt("victim@remote.test")[0] == 554
        code, _ = client.data(MESSAGE)
        assert code == 250
    [stored] = queued(server)
    assert stored.message.session.tls is None
    assert stored.message.envelope.recipients == ("u@example.test",)  # domains lower-cased
    assert b"with ESMTP id" in stored.message.data


def test_accepted_connections_have_nagle_off_before_and_after_starttls(
    server: ServerThread, pki: Pki
):
    """TCP_NODELAY comes from the listener (inherited) and the event loop's transport; the
    server does not set it itself, so check that every accepted socket really has it."""

    def nodelay_of_open_connections() -> list[int]:
        async def work() -> list[int]:
            assert server.app is not None
            found = []
            for ctx in server.app.contexts:
                for conn in ctx.connections:
                    sock = conn._transport.get_extra_info("socket")  # type: ignore[attr-defined]
                    found.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            return found

        return server.call(work)

    with smtplib.SMTP("127.0.0.1", server.ports["mx"], timeout=10) as client:
        client.ehlo("client.test")
        assert nodelay_of_open_connections() == [1]
        client.starttls(context=pki.client_context())
        client.ehlo("client.test")
        assert nodelay_of_open_connections() == [1]


def test_submission_requires_tls_then_auth_allows_relay(
    server: ServerThread, pki: Pki, api_key: str
):
    """Checklist A5/A9: 530 before STARTTLS, AUTH hidden pre-TLS; AUTH with an API key."""
    conv = Conversation(server.ports["submission"])
    assert conv.reply()[0] == 220
    code, ehlo = conv.cmd("EHLO client.test")
    assert code == 250 and "AUTH" not in ehlo and "STARTTLS" in ehlo
    assert conv.cmd("MAIL FROM:<a@sender.test>")[0] == 530
    assert conv.cmd("AUTH PLAIN " + base64.b64encode(b"\0SMTP_Injection\0x").decode())[0] in (
        530,
        538,
    )
    assert conv.cmd("STARTTLS")[0] == 220
    conv.starttls(pki.client_context())
    code, ehlo = conv.cmd("EHLO client.test")
    assert "AUTH PLAIN LOGIN" in ehlo
    assert conv.cmd("MAIL FROM:<a@sender.test>")[0] == 250
    assert conv.cmd("RCPT TO:<far@remote.test>")[0] == 554, "relay before AUTH"
    assert conv.cmd("RSET")[0] == 250
    bad = base64.b64encode(b"\0SMTP_Injection\0" + b"0" * 40).decode()
    assert conv.cmd("AUTH PLAIN " + bad)[0] == 535
    good = base64.b64encode(b"\0SMTP_Injection\0" + api_key.encode()).decode()
    assert conv.cmd("AUTH PLAIN " + good)[0] == 235
    assert conv.cmd("MAIL FROM:<a@sender.test>")[0] == 250
    assert conv.cmd("RCPT TO:<far@remote.test>")[0] == 250
    assert conv.cmd("DATA")[0] == 354
    conv.send(MESSAGE + b".\r\n")
    code, text = conv.reply()
    assert code == 250 and "queued as" in text
    conv.cmd("QUIT")
    [stored] = queued(server)
    assert stored.message.session.auth_user == api_key[:8]
    assert b"with ESMTPSA id" in stored.message.data
    assert api_key.encode() not in stored.message.data


def test_implicit_tls_submission_with_auth_login(server: ServerThread, pki: Pki, api_key: str):
    with smtplib.SMTP_SSL(
        "127.0.0.1", server.ports["submissions"], timeout=10, context=pki.client_context()
    ) as client:
        client.ehlo("client.test")
        assert "LOGIN" in client.esmtp_features["auth"]
        client.user, client.password = "SMTP_Injection", api_key
        assert client.auth("LOGIN", client.auth_login, initial_response_ok=False)[0] == 235
        assert client.sendmail("a@sender.test", ["far@remote.test"], MESSAGE) == {}
    [stored] = queued(server)
    assert stored.message.session.listener == "submissions"
    assert stored.message.session.tls.version == "TLSv1.3"


def test_implicit_tls_port_never_speaks_plaintext(server: ServerThread):
    """Checklist A7: plaintext EHLO as the first bytes on 465: no greeting, closed."""
    conv = Conversation(server.ports["submissions"])
    conv.send(b"EHLO attacker.test\r\n")
    conv.sock.settimeout(10)
    data = b""
    closed = False
    try:
        while chunk := conv.sock.recv(4096):
            data += chunk
        closed = True
    except ConnectionError:
        closed = True
    assert closed, "the server must close the connection, not wait"
    assert b"220" not in data and b"250" not in data


def test_plaintext_after_starttls_ready_is_not_a_command(server: ServerThread):
    """Checklist A2: bytes sent after 220 Ready but before a ClientHello are parsed as TLS
    (and fail the handshake); they are never executed as SMTP."""
    conv = Conversation(server.ports["mx"])
    conv.reply()
    conv.cmd("EHLO client.test")
    assert conv.cmd("STARTTLS")[0] == 220
    conv.send(b"MAIL FROM:<evil@x.test>\r\nRCPT TO:<u@example.test>\r\n")
    conv.sock.settimeout(10)
    data = b""
    try:
        while chunk := conv.sock.recv(4096):
            data += chunk
    except ConnectionError:
        pass
    assert b"250" not in data, data
    assert queued(server) == []


def test_wrong_user_and_wrong_key_get_the_same_reply(server: ServerThread, pki: Pki, api_key: str):
    """Checklist H2: the real Authenticator answers an unknown user exactly like a wrong key,
    and a valid key under the wrong user name is refused."""
    replies = []
    for user, password in (("admin", api_key), ("SMTP_Injection", "f" * 40)):
        with smtplib.SMTP_SSL(
            "127.0.0.1", server.ports["submissions"], timeout=10, context=pki.client_context()
        ) as client:
            client.ehlo("client.test")
            plain = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
            replies.append(client.docmd("AUTH", "PLAIN " + plain))
    assert replies[0] == replies[1]
    assert replies[0][0] == 535


def test_key_without_smtp_inject_is_refused_like_a_wrong_key(server: ServerThread, pki: Pki):
    """Issue 10 item 2: SMTP AUTH needs the smtp/inject grant. A key without it gets exactly
    the reply a wrong key gets (no oracle); a key with only that grant sends mail."""
    from sealpost.api_keys import create_key
    from sealpost.model.grants import ALL_GRANTS, Grant

    store = server.app.store
    no_inject, _ = server.call(
        lambda: create_key(store, "api only", 0.0, grants=ALL_GRANTS - {Grant.SMTP_INJECT})
    )
    inject_only, _ = server.call(lambda: create_key(store, "smtp", 0.0, grants={Grant.SMTP_INJECT}))
    replies = []
    for password in (no_inject, "f" * 40):
        with smtplib.SMTP_SSL(
            "127.0.0.1", server.ports["submissions"], timeout=10, context=pki.client_context()
        ) as client:
            client.ehlo("client.test")
            plain = base64.b64encode(f"\0SMTP_Injection\0{password}".encode()).decode()
            replies.append(client.docmd("AUTH", "PLAIN " + plain))
    assert replies[0] == replies[1]
    assert replies[0][0] == 535 and replies[0][1].startswith(b"5.7.8")
    with smtplib.SMTP_SSL(
        "127.0.0.1", server.ports["submissions"], timeout=10, context=pki.client_context()
    ) as client:
        client.ehlo("client.test")
        assert client.login("SMTP_Injection", inject_only)[0] == 235
        assert client.sendmail("a@sender.test", ["far@remote.test"], MESSAGE) == {}
    assert [q.message.envelope.recipients for q in queued(server)] == [("far@remote.test",)]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("listener", ["mx", "submissions"])
@pytest.mark.parametrize(
    ("version", "accepted"),
    [
        (ssl.TLSVersion.TLSv1, False),
        (ssl.TLSVersion.TLSv1_1, False),
        (ssl.TLSVersion.TLSv1_2, True),
        (ssl.TLSVersion.TLSv1_3, True),
    ],
)
def test_only_tls12_and_tls13(server: ServerThread, pki: Pki, listener: str, version, accepted):
    """Checklist J1: SSLv3/TLS 1.0/1.1 refused on every port, 1.2 and 1.3 accepted."""
    ctx = pki.client_context()
    ctx.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    with contextlib.suppress(ssl.SSLError):
        ctx.set_ciphers("ALL:@SECLEVEL=0")
    ctx.minimum_version = version
    ctx.maximum_version = version
    conv = Conversation(server.ports[listener])
    try:
        if listener == "mx":
            conv.reply()
            conv.cmd("EHLO client.test")
            assert conv.cmd("STARTTLS")[0] == 220
        conv.starttls(ctx)
    except (ssl.SSLError, ConnectionError, OSError):
        assert not accepted
        return
    finally:
        conv.close()
    assert accepted, f"{version} was accepted"


def test_starttls_command_injection_is_never_executed(server: ServerThread, pki: Pki):
    """Checklist A1 (CVE-2011-0411): commands in the STARTTLS packet are discarded."""
    conv = Conversation(server.ports["mx"])
    conv.reply()
    conv.cmd("EHLO client.test")
    conv.send(b"STARTTLS\r\nRSET\r\nMAIL FROM:<evil@x.test>\r\n")
    assert conv.reply()[0] == 220
    assert not conv.buf
    conv.starttls(pki.client_context())
    conv.sock.settimeout(1.0)
    with pytest.raises((TimeoutError, ssl.SSLError, OSError)):
        extra = conv.sock.recv(4096)
        assert not extra, f"server answered injected commands: {extra!r}"
        raise TimeoutError
    conv.sock.settimeout(10)
    assert conv.cmd("RCPT TO:<u@example.test>")[0] == 503, "pre-TLS state must be forgotten"
    assert conv.cmd("EHLO client.test")[0] == 250
    assert conv.cmd("RCPT TO:<u@example.test>")[0] == 503, "the injected MAIL never ran"


@pytest.mark.parametrize(
    "loop_factory", [asyncio.new_event_loop, uvloop.new_event_loop], ids=["asyncio", "uvloop"]
)
def test_a_command_sent_with_the_tls_finished_is_answered_under_tls(
    tmp_path: Path, pki: Pki, loop_factory: Callable[[], asyncio.AbstractEventLoop]
):
    """A client may send EHLO right behind its TLS Finished, in one segment. asyncio's
    start_tls hands that EHLO to the protocol before it returns the TLS transport; it must
    be answered then, under TLS, not dropped as if it came before the handshake."""
    config = load_config(write_config(tmp_path, pki))
    server = ServerThread(config, loop_factory=loop_factory).start()
    try:
        conv = Conversation(server.ports["mx"])
        assert conv.reply()[0] == 220
        assert conv.cmd("EHLO client.test")[0] == 250
        assert conv.cmd("STARTTLS")[0] == 220
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = pki.client_context().wrap_bio(incoming, outgoing, server_hostname=HOSTNAME)
        while True:
            try:
                tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                conv.send(outgoing.read())
                incoming.write(conv.sock.recv(65536))
        tls.write(b"EHLO client.test\r\n")
        conv.send(outgoing.read())  # the Finished and the EHLO in one write
        answer = b""
        while b"\r\n250 " not in answer and not answer.startswith(b"250 "):
            try:
                answer += tls.read(65536)
            except ssl.SSLWantReadError:
                chunk = conv.sock.recv(65536)
                assert chunk, f"closed; got {answer!r}"
                incoming.write(chunk)
        assert answer.startswith(b"250-") and b"REQUIRETLS" in answer
        conv.close()
    finally:
        server.stop()


def test_message_over_size_limit_is_refused_and_not_queued(start_server, pki: Pki):
    server = start_server(server={"max_message_size": 2000})
    with smtplib.SMTP("127.0.0.1", server.ports["mx"], timeout=10) as client:
        client.ehlo("client.test")
        assert client.mail("a@sender.test", ["SIZE=5000"])[0] == 552
        client.rset()
        client.mail("a@sender.test", ["SIZE=100"])
        client.rcpt("u@example.test")
        code, _ = client.data(MESSAGE + b"x" * 3000 + b"\r\n")
        assert code == 552
    assert queued(server) == []


@pytest.mark.parametrize(
    "ending",
    [
        b"\n.\n",
        b"\n.\r\n",
        b"\r\n.\n",
        b"\r.\r",
        b"\r.\n",
        b"\n.\r",
        b"\r.\r\n",
        b"\r\n.\r",
        b"\r\n\x00.\r\n",
    ],
)
def test_smtp_smuggling_over_the_wire(server: ServerThread, ending: bytes):
    """Checklist F1: no message is ever accepted with the smuggled envelope."""
    conv = Conversation(server.ports["mx"])
    conv.reply()
    conv.cmd("EHLO client.test")
    conv.cmd("MAIL FROM:<a@sender.test>")
    conv.cmd("RCPT TO:<u@example.test>")
    assert conv.cmd("DATA")[0] == 354
    smuggled = (
        b"Subject: real\r\n\r\nbody" + ending + b"MAIL FROM:<ceo@bank.test>\r\n"
        b"RCPT TO:<victim@example.test>\r\nDATA\r\nSubject: smuggled\r\n\r\nx\r\n.\r\n"
    )
    conv.send(smuggled)
    code, _ = conv.reply()  # one reply: everything up to the real CRLF.CRLF was one message
    assert code in (550, 421)
    if code == 550:
        assert conv.cmd("QUIT")[0] == 221, "the smuggled commands must not have been run"
    for stored in queued(server):
        assert stored.message.envelope.mail_from != "ceo@bank.test"
        assert "victim@example.test" not in stored.message.envelope.recipients
        assert b"smuggled" not in stored.message.data


def test_key_limited_to_sender_domains(server: ServerThread, pki: Pki):
    """Checklist H4: an authenticated key may only use its own sender domains."""
    from sealpost.api_keys import create_key

    key, _ = server.call(lambda: create_key(server.app.store, "shop", 0.0, ("Shop.Test",)))
    with smtplib.SMTP_SSL(
        "127.0.0.1", server.ports["submissions"], timeout=10, context=pki.client_context()
    ) as client:
        client.ehlo("client.test")
        client.login("SMTP_Injection", key)
        assert client.mail("ceo@bank.test")[0] == 553
        client.rset()
        assert client.mail("orders@shop.test")[0] == 250
        assert client.rcpt("far@remote.test")[0] == 250
        assert client.data(MESSAGE)[0] == 550, "header From a@sender.test is not the key's"
        assert client.mail("orders@shop.test")[0] == 250
        assert client.rcpt("far@remote.test")[0] == 250
        assert client.data(MESSAGE.replace(b"a@sender.test", b"a@shop.test"))[0] == 250
