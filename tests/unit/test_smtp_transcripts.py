"""Golden transcripts: whole sessions, byte for byte, as a client would see them."""

from __future__ import annotations

import textwrap

from sealpost.model.reply import Reply
from sealpost.smtp.server import Authenticate, Close, MessageReady, Send, StartTls
from tests.unit.test_smtp_support import Driver, driver, plain


def run(d: Driver, *client: str) -> str:
    """Feed each client chunk (lines joined with CRLF) and render the conversation."""
    out: list[str] = [f"S: {line}" for line in _render(d.events)]
    for chunk in client:
        out.extend(f"C: {line}".rstrip() for line in chunk.split("\n"))
        wire = chunk.replace("\n", "\r\n") + "\r\n"
        out.extend(f"S: {line}" for line in _render(d.feed(wire)))
    return "\n".join(out) + "\n"


def _render(events: list) -> list[str]:
    lines: list[str] = []
    for event in events:
        if isinstance(event, Send):
            text = event.reply.to_bytes().decode()
            assert text.endswith("\r\n") and "\n" not in text.replace("\r\n", "")
            lines.extend(text[:-2].split("\r\n"))
        elif isinstance(event, StartTls):
            lines.append("<TLS handshake>")
        elif isinstance(event, Authenticate):
            lines.append(f"<check {event.mechanism} {event.username}>")
        elif isinstance(event, MessageReady):
            env = event.envelope
            lines.append(f"<store {env.mail_from} -> {','.join(env.recipients)} {event.data!r}>")
        elif isinstance(event, Close):
            lines.append("<close>")
    return lines


def golden(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


def test_mx_delivery():
    d = driver()
    d.store_reply = Reply.of(250, "2.0.0", "Ok: queued as 01hx")
    got = run(
        d,
        "EHLO relay.remote.test",
        "MAIL FROM:<alice@remote.test> SIZE=40\nRCPT TO:<bob@example.test>\n"
        "RCPT TO:<carol@elsewhere.test>\nDATA",
        "Subject: hi\n\n..dotted\n.",
        "QUIT",
    )
    assert got == golden(
        """
        S: 220 mx.sealpost.test ESMTP Sealpost
        C: EHLO relay.remote.test
        S: 250-mx.sealpost.test
        S: 250-PIPELINING
        S: 250-SIZE 10240000
        S: 250-8BITMIME
        S: 250-SMTPUTF8
        S: 250-ENHANCEDSTATUSCODES
        S: 250 STARTTLS
        C: MAIL FROM:<alice@remote.test> SIZE=40
        C: RCPT TO:<bob@example.test>
        C: RCPT TO:<carol@elsewhere.test>
        C: DATA
        S: 250 2.1.0 Ok
        S: 250 2.1.5 Ok
        S: 554 5.7.1 <carol@elsewhere.test>: Relay access denied
        S: 354 End data with <CR><LF>.<CR><LF>
        C: Subject: hi
        C:
        C: ..dotted
        C: .
        S: <store alice@remote.test -> bob@example.test b'Subject: hi\\r\\n\\r\\n.dotted\\r\\n'>
        S: 250 2.0.0 Ok: queued as 01hx
        C: QUIT
        S: 221 2.0.0 Bye
        S: <close>
        """
    )


def test_submission_with_starttls_and_auth():
    d = driver(require_tls=True, auth_enabled=True)
    d.users = {"alice": ("secret", frozenset({"alice.test"}))}
    got = run(
        d,
        "EHLO laptop",
        "MAIL FROM:<alice@alice.test>",
        "STARTTLS",
        "EHLO laptop",
        "AUTH PLAIN " + plain("alice", "wrong"),
        "AUTH LOGIN\nYWxpY2U=\nc2VjcmV0",
        "MAIL FROM:<boss@bank.test>\nMAIL FROM:<alice@alice.test>\nRCPT TO:<x@far.test>",
        "RSET\nQUIT",
    )
    assert got == golden(
        """
        S: 220 mx.sealpost.test ESMTP Sealpost
        C: EHLO laptop
        S: 250-mx.sealpost.test
        S: 250-PIPELINING
        S: 250-SIZE 10240000
        S: 250-8BITMIME
        S: 250-SMTPUTF8
        S: 250-ENHANCEDSTATUSCODES
        S: 250 STARTTLS
        C: MAIL FROM:<alice@alice.test>
        S: 530 5.7.0 Must issue a STARTTLS command first
        C: STARTTLS
        S: 220 2.0.0 Ready to start TLS
        S: <TLS handshake>
        C: EHLO laptop
        S: 250-mx.sealpost.test
        S: 250-PIPELINING
        S: 250-SIZE 10240000
        S: 250-8BITMIME
        S: 250-SMTPUTF8
        S: 250-ENHANCEDSTATUSCODES
        S: 250-AUTH PLAIN LOGIN
        S: 250 REQUIRETLS
        C: AUTH PLAIN AGFsaWNlAHdyb25n
        S: <check PLAIN alice>
        S: 535 5.7.8 Authentication credentials invalid
        C: AUTH LOGIN
        C: YWxpY2U=
        C: c2VjcmV0
        S: 334 VXNlcm5hbWU6
        S: 334 UGFzc3dvcmQ6
        S: <check LOGIN alice>
        S: 235 2.7.0 Authentication successful
        C: MAIL FROM:<boss@bank.test>
        C: MAIL FROM:<alice@alice.test>
        C: RCPT TO:<x@far.test>
        S: 553 5.7.1 Sender address rejected: not owned by user
        S: 250 2.1.0 Ok
        S: 250 2.1.5 Ok
        C: RSET
        C: QUIT
        S: 250 2.0.0 Ok
        S: 221 2.0.0 Bye
        S: <close>
        """
    )


def test_helo_client_and_errors():
    d = driver(tls_mode="none")
    got = run(
        d,
        "MAIL FROM:<a@b.test>",
        "HELO old.client",
        "MAIL FROM:<a@b.test> FOO=1",
        "RCPT TO:<u@example.test>",
        "MAIL FROM:<a@b.test>",
        "DATA",
        "EXPN list",
        "STARTTLS",
        "QUIT\nNOOP",
    )
    assert got == golden(
        """
        S: 220 mx.sealpost.test ESMTP Sealpost
        C: MAIL FROM:<a@b.test>
        S: 503 5.5.1 Error: send HELO/EHLO first
        C: HELO old.client
        S: 250 mx.sealpost.test
        C: MAIL FROM:<a@b.test> FOO=1
        S: 555 5.5.4 Unsupported option: FOO
        C: RCPT TO:<u@example.test>
        S: 503 5.5.1 Error: need MAIL command
        C: MAIL FROM:<a@b.test>
        S: 250 2.1.0 Ok
        C: DATA
        S: 554 5.5.1 Error: no valid recipients
        C: EXPN list
        S: 502 5.5.1 Error: command not implemented
        C: STARTTLS
        S: 502 5.5.1 Error: STARTTLS not available
        C: QUIT
        C: NOOP
        S: 554 5.5.0 Error: SMTP protocol synchronization
        S: <close>
        """
    )


def test_smuggling_attempt_transcript():
    d = driver()
    got = run(
        d,
        "EHLO sender.test",
        "MAIL FROM:<a@sender.test>\nRCPT TO:<u@example.test>\nDATA",
    )
    events = d.feed(
        b"Subject: real\r\n\r\nbody\n.\r\nMAIL FROM:<ceo@bank.test>\r\n"
        b"RCPT TO:<victim@example.test>\r\nDATA\r\nevil\r\n.\r\nQUIT\r\n"
    )
    got += "\n".join(f"S: {line}" for line in _render(events)) + "\n"
    assert got.endswith(
        golden(
            """
            S: 354 End data with <CR><LF>.<CR><LF>
            S: 550 5.5.2 Message rejected: bare CR or LF in message text
            S: 221 2.0.0 Bye
            S: <close>
            """
        )
    )
    assert not d.stored
