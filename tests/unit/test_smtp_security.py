"""Security regression tests, one group per row of reference/security-checklist.md."""

from __future__ import annotations

import tracemalloc

import pytest

from sealpost.smtp.server import AuthOutcome, MessageReady, StartTls
from tests.unit.test_smtp_support import (
    TLS,
    closes,
    codes,
    driver,
    enhanced,
    login,
    messages,
    plain,
    ready,
    sends,
    submission,
)

# -- A1: STARTTLS command injection (CVE-2011-0411) ----------------------------------------

INJECTIONS = [
    b"RSET\r\n",
    b"EHLO evil.test\r\n",
    b"MAIL FROM:<evil@x.test>\r\n",
    b"EHLO evil.test\r\nAUTH PLAIN " + plain("alice", "secret").encode() + b"\r\n",
    b"MAIL FROM:<evil@x.test>\r\nRCPT TO:<u@example.test>\r\nDATA\r\nx\r\n.\r\n",
]


@pytest.mark.parametrize("injected", INJECTIONS)
def test_a1_bytes_after_starttls_are_never_executed(injected: bytes):
    d = driver(auth_enabled=True)
    d.users = {"alice": ("secret", None)}
    d.cmd("EHLO client.test")
    events = d.session.feed(b"STARTTLS\r\n" + injected)
    assert codes(events) == [220] and isinstance(events[-1], StartTls)
    assert d.session.feed(injected) == []  # bytes arriving during the handshake: dropped
    assert d.session.tls_established(TLS) == []  # nothing answered after the handshake
    assert d.session.helo is None and d.session.auth_user is None
    assert d.code("RCPT TO:<u@example.test>") == 503
    assert d.code("EHLO client.test") == 250
    assert d.code("RCPT TO:<u@example.test>") == 503  # the injected MAIL never ran
    assert not d.auth_requests and not d.stored


def test_a1_before_ehlo_is_a_sync_error():
    d = driver()
    events = d.feed(b"STARTTLS\r\nRSET\r\n")
    assert codes(events) == [554] and closes(events)
    assert not any(isinstance(e, StartTls) for e in events)


# -- A3: state is forgotten across STARTTLS ------------------------------------------------


def test_a3_pre_tls_state_forgotten():
    d = ready()
    assert d.code("MAIL FROM:<a@b.test>") == 250
    assert d.code("RCPT TO:<u@example.test>") == 250
    assert d.code("STARTTLS") == 220
    assert d.session.tls is TLS
    assert d.cmd("RCPT TO:<u@example.test>").code == 503
    assert d.cmd("DATA").code == 503
    assert d.cmd("MAIL FROM:<a@b.test>").code == 503  # HELO forgotten
    lines = d.cmd("EHLO client.test").lines
    assert "STARTTLS" not in lines and "REQUIRETLS" in lines
    assert d.code("RCPT TO:<u@example.test>") == 503
    assert d.code("MAIL FROM:<a@b.test>") == 250


# -- A4: STARTTLS misuse -------------------------------------------------------------------


def test_a4_starttls_variants():
    d = ready()
    assert (d.cmd("STARTTLS x").code, d.cmd("STARTTLS x").enhanced) == (501, "5.5.4")
    assert d.code("STARTTLS") == 220
    d.cmd("EHLO client.test")
    assert d.cmd("STARTTLS").code == 503
    assert d.handshakes == 1


def test_a4_starttls_not_last_in_group_discards_rest():
    d = ready()
    events = d.session.feed(b"NOOP\r\nSTARTTLS\r\nNOOP\r\nNOOP\r\n")
    assert codes(events) == [250, 220] and isinstance(events[-1], StartTls)
    assert d.session.tls_established(TLS) == []


# -- A5: port 587 with TLS required --------------------------------------------------------


def test_a5_require_tls():
    d = driver(require_tls=True, auth_enabled=True)
    lines = d.cmd("EHLO c.test").lines
    assert "STARTTLS" in lines and not any(x.startswith("AUTH") for x in lines)
    for line in [
        "MAIL FROM:<a@b.test>",
        "RCPT TO:<u@example.test>",
        "DATA",
        f"AUTH PLAIN {plain('a', 'b')}",
    ]:
        reply = d.cmd(line)
        assert (reply.code, reply.enhanced) == (530, "5.7.0")
        assert reply.text == "Must issue a STARTTLS command first"
    assert not d.auth_requests


# -- A9: AUTH over plaintext ---------------------------------------------------------------


@pytest.mark.parametrize("tls_mode", ["starttls", "none"])
def test_a9_auth_over_plaintext(tls_mode: str):
    d = driver(tls_mode=tls_mode, auth_enabled=True)
    d.users = {"alice": ("secret", None)}
    lines = d.cmd("EHLO c.test").lines
    assert not any(x.startswith("AUTH") for x in lines)
    for line in [f"AUTH PLAIN {plain('alice', 'secret')}", "AUTH LOGIN", "AUTH PLAIN"]:
        reply = d.cmd(line)
        assert (reply.code, reply.enhanced) == (538, "5.7.11")
    assert d.code(plain("alice", "secret")) == 500  # not taken as a SASL response
    assert not d.auth_requests and d.session.auth_user is None


# -- F1: SMTP smuggling --------------------------------------------------------------------

ENDINGS = [
    b"\n.\n",
    b"\n.\r\n",
    b"\r\n.\n",
    b"\r.\r",
    b"\r.\n",
    b"\n.\r",
    b"\r.\r\n",
    b"\r\n.\r",
    b"\r\n\x00.\r\n",
]
SMUGGLED = (
    b"MAIL FROM:<ceo@bank.test>\r\nRCPT TO:<victim@example.test>\r\nDATA\r\n"
    b"Subject: smuggled\r\n\r\nx\r\n.\r\n"
)


def check_not_smuggled(stored: list[MessageReady]) -> None:
    assert len(stored) <= 1
    for message in stored:
        assert message.envelope.mail_from != "ceo@bank.test"
        assert "victim@example.test" not in message.envelope.recipients
        assert b"smuggled" not in message.data


@pytest.mark.parametrize("ending", ENDINGS)
@pytest.mark.parametrize("greeting", ["EHLO", "HELO"])
def test_f1_smuggling_endings(ending: bytes, greeting: str):
    d = driver()
    d.cmd(f"{greeting} client.test")
    d.cmd("MAIL FROM:<a@sender.test>")
    d.cmd("RCPT TO:<u@example.test>")
    assert d.code("DATA") == 354
    events = d.feed(b"Subject: real\r\n\r\nbody" + ending + SMUGGLED)
    check_not_smuggled(d.stored)
    assert not d.stored  # stricter than the checklist: the carrier is refused too
    assert codes(events)[0] == 550


@pytest.mark.parametrize("ending", ENDINGS)
def test_f1_smuggling_any_chunking(ending: bytes):
    wire = b"Subject: real\r\n\r\nbody" + ending + SMUGGLED
    for cut in range(0, len(wire), 3):
        d = ready()
        d.feed("MAIL FROM:<a@sender.test>\r\nRCPT TO:<u@example.test>\r\nDATA\r\n")
        d.feed(wire[:cut])
        d.feed(wire[cut:])
        check_not_smuggled(d.stored)
        assert not d.stored


# -- F2: unauthorised pipelining -----------------------------------------------------------


def test_f2_pipelining_without_extension():
    d = driver()
    events = d.feed("HELO c.test\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<u@example.test>\r\n")
    assert [(r.code, r.enhanced) for r in sends(events)] == [(554, "5.5.0")]
    assert closes(events) and d.session.helo is None
    d = driver()
    d.cmd("HELO c.test")
    events = d.feed("MAIL FROM:<a@b.test>\r\nRCPT TO:<u@example.test>\r\nDATA\r\nx\r\n.\r\n")
    assert codes(events) == [554] and closes(events) and not d.stored


def test_f2_smtpsmug_pipelining_probe():
    d = driver()
    events = d.feed("EHLO c.test\r\nNOOP\r\n")
    assert codes(events) == [554] and closes(events)


# -- G1: command lines too long ------------------------------------------------------------


@pytest.mark.parametrize("size", [513, 10_000])
def test_g1_long_command_lines(size: int):
    d = ready()
    events = d.feed(b"NOOP " + b"x" * (size - 7) + b"\r\n")
    assert [(r.code, r.enhanced) for r in sends(events)] == [(500, "5.5.2")]
    assert d.code("NOOP") == 250


def test_g1_ten_megabyte_line_memory_bounded():
    d = ready()
    chunk = b"x" * 65536
    events = []
    tracemalloc.start()
    try:
        for _ in range(160):
            events += d.session.feed(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 512 * 1024
    assert [(r.code, r.enhanced) for r in sends(events)] == [(500, "5.5.2")]
    assert codes(d.feed("\r\nNOOP\r\n")) == [250]


# -- G2: text lines too long ---------------------------------------------------------------


def test_g2_long_text_line_and_endless_line():
    d = ready()
    d.feed("MAIL FROM:<a@b.test>\r\nRCPT TO:<u@example.test>\r\nDATA\r\n")
    assert codes(d.feed(b"x" * 1001 + b"\r\n.\r\n")) == [500]
    d.feed("MAIL FROM:<a@b.test>\r\nRCPT TO:<u@example.test>\r\nDATA\r\n")
    chunk = b"y" * (1 << 20)
    tracemalloc.start()
    try:
        for _ in range(100):  # 100 MiB with no LF
            assert d.session.feed(chunk) == []
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20
    events = d.feed(b"\r\n.\r\n")
    assert [(r.code, r.enhanced) for r in sends(events)] in ([(500, "5.5.2")], [(552, "5.3.4")])
    assert not d.stored and d.code("NOOP") == 250


# -- G3: recipient limit -------------------------------------------------------------------


def test_g3_recipients_up_to_limit_then_452():
    d = ready()
    d.cmd("MAIL FROM:<a@b.test>")
    group = "".join(f"RCPT TO:<u{i}@example.test>\r\n" for i in range(1001))
    events = d.feed(group)
    assert codes(events) == [250] * 1000 + [452]
    assert enhanced(events)[-1] == "4.5.3"
    assert d.code("DATA") == 354
    [message] = messages(d.session.feed(b".\r\n"))
    assert len(message.envelope.recipients) == 1000


# -- G4: size limits -----------------------------------------------------------------------


def test_g4_size_declared_and_actual():
    d = ready(max_message_size=10_000)
    reply = d.cmd("MAIL FROM:<a@b.test> SIZE=10001")
    assert (reply.code, reply.enhanced) == (552, "5.3.4")
    assert d.code("MAIL FROM:<a@b.test> SIZE=100") == 250
    d.cmd("RCPT TO:<u@example.test>")
    d.cmd("DATA")
    events = d.feed((b"z" * 98 + b"\r\n") * 200 + b".\r\n")
    assert [(r.code, r.enhanced) for r in sends(events)] == [(552, "5.3.4")]
    assert not d.stored


# -- G5: headers ---------------------------------------------------------------------------


def test_g5_one_huge_header():
    d = ready()
    d.feed("MAIL FROM:<a@b.test>\r\nRCPT TO:<u@example.test>\r\nDATA\r\n")
    header = b"X-Huge: start\r\n" + (b"\t" + b"h" * 500 + b"\r\n") * 410  # ~200 KiB
    events = d.feed(header + b"\r\nbody\r\n.\r\n")
    assert [(r.code, r.enhanced) for r in sends(events)] == [(552, "5.3.4")]
    d.feed("MAIL FROM:<a@b.test>\r\nRCPT TO:<u@example.test>\r\nDATA\r\n")
    events = d.feed(b"X-Huge: " + b"h" * 200_000 + b"\r\n\r\nbody\r\n.\r\n")
    assert codes(events)[0] in (500, 552) and not d.stored


def test_g5_ten_thousand_headers():
    d = ready()
    d.feed("MAIL FROM:<a@b.test>\r\nRCPT TO:<u@example.test>\r\nDATA\r\n")
    header = b"".join(b"X-H%d: v\r\n" % i for i in range(10_000))
    events = d.feed(header + b"\r\nbody\r\n.\r\n")
    assert [(r.code, r.enhanced) for r in sends(events)] == [(552, "5.3.4")]
    assert not d.stored


# -- G8: junk and error limits -------------------------------------------------------------


@pytest.mark.parametrize("junk", ["NOOP", "RSET", "HELP"])
def test_g8_101_junk_commands_disconnect(junk: str):
    d = ready()
    events = d.feed(f"{junk}\r\n" * 101)
    assert codes(events)[:100] == [214 if junk == "HELP" else 250] * 100
    assert codes(events)[100:] == [421] and closes(events)


def test_g8_21_syntax_errors_disconnect():
    d = ready()
    events = d.feed("MAIL FROM:nonsense\r\n" * 21)
    assert codes(events) == [501] * 21 + [421]
    assert enhanced(events)[-1] == "4.7.0" and closes(events)


# -- G9: NUL -------------------------------------------------------------------------------


def test_g9_nul_everywhere():
    d = ready()
    assert d.cmd("NOOP\0").code == 500
    assert d.cmd("MAIL FROM:<a\0@b.test>").code == 500
    d.cmd("MAIL FROM:<a@b.test>")
    assert d.cmd("RCPT TO:<u\0@example.test>").code == 500
    d.cmd("RCPT TO:<u@example.test>")
    d.cmd("DATA")
    events = d.feed(b"Subject: x\r\n\r\nnul\0here\r\n\0.\r\nRSET\r\n.\r\n")
    assert [(r.code, r.enhanced) for r in sends(events)] == [(550, "5.6.0")]
    assert not d.stored and not d.session.in_data


# -- G10: non-ASCII without declaration ----------------------------------------------------


def test_g10_utf8_sender_needs_smtputf8_and_8bit_body_is_flagged():
    d = ready()
    reply = d.cmd("MAIL FROM:<jörg@b.test>")
    assert (reply.code, reply.enhanced) == (553, "5.6.7")
    d.cmd("MAIL FROM:<a@b.test>")
    d.cmd("RCPT TO:<u@example.test>")
    d.cmd("DATA")
    d.feed("Subject: x\r\n\r\nüber\r\n.\r\n".encode())
    [message] = d.stored
    assert message.envelope.body == "8BITMIME"


# -- H1: open relay matrix -----------------------------------------------------------------

RELAY_ATTEMPTS = [
    "rcpt@remote.test",
    "a%remote.test@example.test",
    "@example.test:a@remote.test",
    '"a@remote.test"@example.test',
    "remote.test!a@example.test",
    "a@[192.0.2.1]",
    "a@[IPv6:2001:db8::1]",
    "a@remote.test.",
    "a@example.test.",
    "a@REMOTE.Test",
    "a@xn--bcher-kva.test",
    "a@example.test.remote.test",
    "a@sub.example.test",
    '"a%remote.test"@example.test',
    "a@remote.test@example.test",
]


@pytest.mark.parametrize("address", RELAY_ATTEMPTS)
def test_h1_relay_refused_without_authentication(address: str):
    d = ready()
    d.cmd("MAIL FROM:<spammer@remote.test>")
    reply = d.cmd(f"RCPT TO:<{address}>")
    assert (reply.code, reply.enhanced) in {(554, "5.7.1"), (501, "5.1.3")}, reply
    assert reply.code != 250


def test_h1_utf8_idn_refused():
    d = ready()
    d.cmd("MAIL FROM:<spammer@remote.test> SMTPUTF8")
    assert d.cmd("RCPT TO:<a@bücher.test>").code == 554


@pytest.mark.parametrize(
    "address", ["user@example.test", "User@EXAMPLE.Test", "@remote.test:user@example.test"]
)
def test_h1_local_recipients_accepted(address: str):
    d = ready()
    d.cmd("MAIL FROM:<a@remote.test>")
    assert d.code(f"RCPT TO:<{address}>") == 250


@pytest.mark.parametrize("address", RELAY_ATTEMPTS)
def test_h1_authenticated_may_relay_to_valid_addresses(address: str):
    d = submission()
    login(d, "bob", "hunter2")
    d.cmd("MAIL FROM:<bob@bob.test>")
    invalid = {"a@remote.test.", "a@example.test.", "a@remote.test@example.test"}
    assert d.code(f"RCPT TO:<{address}>") == (501 if address in invalid else 250)


# -- H3: AUTH misuse -----------------------------------------------------------------------


def test_h3_auth_inside_transaction():
    d = submission()
    d.cmd("MAIL FROM:<x@alice.test>")
    reply = d.cmd(f"AUTH PLAIN {plain('alice', 'secret')}")
    assert (reply.code, reply.enhanced) == (503, "5.5.1")
    assert not d.auth_requests


def test_h3_second_auth_after_success():
    d = submission()
    assert login(d).code == 235
    reply = d.cmd(f"AUTH PLAIN {plain('bob', 'hunter2')}")
    assert (reply.code, reply.enhanced) == (503, "5.5.1")
    assert d.session.auth_user == "alice" and len(d.auth_requests) == 1


def test_h3_authzid_differs_from_authcid():
    d = submission()
    reply = d.cmd(f"AUTH PLAIN {plain('alice', 'secret', authzid='bob')}")
    assert (reply.code, reply.enhanced) == (535, "5.7.8")
    assert not d.auth_requests and d.session.auth_user is None


def test_h3_auth_result_without_request_is_ignored():
    d = submission()
    assert d.session.auth_result(AuthOutcome("mallory")) == []
    assert d.session.auth_user is None
