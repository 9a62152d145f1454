"""ServerSession behaviour, bullet by bullet of the engine's specification."""

from __future__ import annotations

import pytest

from sealpost.model.envelope import Envelope
from sealpost.model.reply import Reply
from sealpost.smtp.server import (
    Authenticate,
    AuthOutcome,
    Close,
    MessageReady,
    Send,
    ServerSession,
    StartTls,
)
from tests.unit.test_smtp_support import (
    HOST,
    QUEUED,
    TLS,
    closes,
    codes,
    driver,
    enhanced,
    login,
    messages,
    plain,
    policy,
    ready,
    sends,
    submission,
)

# -- greeting, EHLO, HELO ------------------------------------------------------------------


def test_greeting_has_no_enhanced_code():
    session = ServerSession(policy())
    assert session.start() == [Send(Reply.of(220, None, f"{HOST} ESMTP Sealpost"))]
    assert session.start() == []


def test_ehlo_capabilities_plaintext_starttls_listener():
    d = driver(auth_enabled=True)
    reply = d.cmd("EHLO client.test")
    assert reply.code == 250 and reply.enhanced is None
    assert reply.lines == (
        HOST,
        "PIPELINING",
        "SIZE 10240000",
        "8BITMIME",
        "SMTPUTF8",
        "ENHANCEDSTATUSCODES",
        "STARTTLS",
    )
    assert d.session.esmtp and d.session.helo == "client.test"


def test_ehlo_capabilities_inside_tls():
    d = driver(tls=TLS, tls_mode="implicit", auth_enabled=True, max_message_size=5000)
    lines = d.cmd("EHLO client.test").lines
    assert lines == (
        HOST,
        "PIPELINING",
        "SIZE 5000",
        "8BITMIME",
        "SMTPUTF8",
        "ENHANCEDSTATUSCODES",
        "AUTH PLAIN LOGIN",
        "REQUIRETLS",
    )


def test_ehlo_without_auth_or_tls_modes():
    lines = driver(tls_mode="none", auth_enabled=True).cmd("EHLO c.test").lines
    assert "STARTTLS" not in lines and not any(x.startswith("AUTH") for x in lines)
    lines = driver(tls=TLS, tls_mode="implicit").cmd("EHLO c.test").lines
    assert "REQUIRETLS" in lines and not any(x.startswith("AUTH") for x in lines)


def test_helo_is_plain_250_without_esmtp():
    d = driver()
    assert d.cmd("HELO client.test") == Reply.of(250, None, HOST)
    assert not d.session.esmtp and d.session.helo == "client.test"


@pytest.mark.parametrize("verb", ["EHLO", "HELO"])
def test_helo_ehlo_need_an_argument(verb: str):
    d = driver()
    reply = d.cmd(verb)
    assert (reply.code, reply.enhanced) == (501, "5.5.4")
    assert d.session.helo is None
    assert d.cmd(f"{verb} bad..name").code == 501


def test_ehlo_resets_the_transaction():
    d = ready()
    assert d.code("MAIL FROM:<a@b.test>") == 250
    assert d.code("EHLO again.test") == 250
    assert d.cmd("RCPT TO:<u@example.test>").code == 503
    assert d.code("MAIL FROM:<a@b.test>") == 250


def test_all_other_replies_carry_enhanced_codes():
    d = ready()
    lines = [
        "MAIL FROM:<a@b.test>",
        "RCPT TO:<u@example.test>",
        "RSET",
        "NOOP",
        "HELP",
        "VRFY u",
        "EXPN list",
        "FOO",
        "RCPT TO:<u@example.test>",
        "MAIL FROM:<>",
        "STARTTLS x",
        "DATA",
        "QUIT",
    ]
    for line in lines:
        for reply in sends(d.feed(line + "\r\n")):
            assert reply.enhanced is not None, (line, reply)


# -- command table -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "code", "ext"),
    [
        ("NOOP", 250, "2.0.0"),
        ("NOOP anything", 250, "2.0.0"),
        ("RSET", 250, "2.0.0"),
        ("RSET x", 501, "5.5.4"),
        ("VRFY someone", 252, "2.5.2"),
        ("VRFY", 501, "5.5.4"),
        ("EXPN staff", 502, "5.5.1"),
        ("HELP", 214, "2.0.0"),
        ("HELP MAIL", 214, "2.0.0"),
        ("XYZZY", 500, "5.5.2"),
        ("TURN", 500, "5.5.2"),
        ("BDAT 10 LAST", 500, "5.5.2"),
        ("", 500, "5.5.2"),
        ("MAIL", 501, "5.5.4"),
        ("DATA x", 501, "5.5.4"),
    ],
)
def test_simple_commands(line: str, code: int, ext: str):
    reply = ready().cmd(line)
    assert (reply.code, reply.enhanced) == (code, ext)


def test_quit_closes():
    d = ready()
    events = d.feed("QUIT\r\n")
    assert codes(events) == [221] and enhanced(events) == ["2.0.0"]
    assert isinstance(events[-1], Close) and d.session.closed
    assert d.session.feed(b"NOOP\r\n") == []
    assert d.session.timeout() == []
    assert d.session.store_result(QUEUED) == []
    assert d.session.auth_result(AuthOutcome("x")) == []
    assert d.session.tls_established(TLS) == []


def test_bad_sequences():
    d = driver()
    assert (d.cmd("MAIL FROM:<a@b.test>").code, d.cmd("MAIL FROM:<a@b.test>").enhanced) == (
        503,
        "5.5.1",
    )
    assert d.code("RCPT TO:<u@example.test>") == 503
    assert d.code("DATA") == 503
    d.cmd("EHLO c.test")
    assert d.code("RCPT TO:<u@example.test>") == 503
    assert d.code("DATA") == 503
    assert d.code("MAIL FROM:<a@b.test>") == 250
    assert d.cmd("MAIL FROM:<a@b.test>").enhanced == "5.5.1"
    reply = d.cmd("DATA")
    assert (reply.code, reply.enhanced) == (554, "5.5.1")


def test_rset_clears_transaction_but_keeps_helo():
    d = ready()
    d.cmd("MAIL FROM:<a@b.test>")
    assert d.code("RSET") == 250
    assert d.code("RCPT TO:<u@example.test>") == 503
    assert d.code("MAIL FROM:<a@b.test>") == 250


# -- line discipline -----------------------------------------------------------------------


def test_line_too_long_is_discarded_up_to_crlf():
    d = ready()
    events = d.feed(b"NOOP " + b"x" * 600 + b"\r\nNOOP\r\n")
    assert [(r.code, r.enhanced) for r in sends(events)] == [(500, "5.5.2"), (250, "2.0.0")]
    assert "too long" in sends(events)[0].text.lower()


def test_line_exactly_at_limit_is_fine():
    d = ready()
    line = "NOOP " + "x" * (512 - 7)
    assert len(line) + 2 == 512
    assert d.code(line) == 250
    assert d.code(line + "y") == 500


def test_huge_line_without_crlf_is_bounded():
    d = ready()
    replies = []
    for _ in range(160):  # 10 MB
        replies += sends(d.feed(b"A" * 65536))
        assert len(d.session._input) < 1024
    assert [r.code for r in replies] == [500]
    assert sends(d.feed(b"still the same line\r\nNOOP\r\n")) == [Reply.of(250, "2.0.0", "Ok")]


@pytest.mark.parametrize("raw", [b"NOOP\n", b"NO\rOP\r\n", b"NOOP\r\r\n", b"\n"])
def test_bare_cr_or_lf_in_command(raw: bytes):
    d = ready()
    assert [(r.code, r.enhanced) for r in sends(d.feed(raw))] == [(500, "5.5.2")]


def test_nul_in_command():
    d = ready()
    assert d.cmd("NO\0OP").code == 500
    assert d.cmd("MAIL FROM:<a\0b@c.test>").code == 500


def test_non_ascii_outside_addresses():
    d = ready()
    assert (d.cmd("NOOP é").code, d.cmd("HELP é").enhanced) == (500, "5.5.2")
    assert d.cmd("EHLO bücher.test").code == 500
    assert d.session.helo == "client.test"
    reply = d.cmd("MAIL FROM:<büro@b.test>")
    assert (reply.code, reply.enhanced) == (553, "5.6.7")
    assert d.session.feed(b"MAIL FROM:<\xff@b.test> SMTPUTF8\r\n")[0].reply.code == 500


def test_smtputf8_transaction_accepts_utf8_addresses():
    d = ready()
    assert d.code("MAIL FROM:<büro@bücher.test> SMTPUTF8") == 250
    assert d.code("RCPT TO:<jörg@example.test>") == 250
    d.feed("DATA\r\n")
    events = d.feed("Subject: ü\r\n\r\nhallo\r\n.\r\n".encode())
    [ready_msg] = messages(events)
    assert ready_msg.envelope.smtputf8
    assert ready_msg.envelope.mail_from == "büro@bücher.test"
    assert ready_msg.envelope.recipients == ("jörg@example.test",)


def test_utf8_rcpt_without_smtputf8_refused():
    d = ready()
    d.cmd("MAIL FROM:<a@b.test>")
    reply = d.cmd("RCPT TO:<jörg@example.test>")
    assert (reply.code, reply.enhanced) == (553, "5.6.7")


# -- MAIL parameters -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "code", "ext"),
    [
        ("SIZE=10240000", 250, "2.1.0"),
        ("SIZE=10240001", 552, "5.3.4"),
        ("SIZE=abc", 501, "5.5.4"),
        ("SIZE", 501, "5.5.4"),
        ("BODY=7BIT", 250, "2.1.0"),
        ("body=8bitmime", 250, "2.1.0"),
        ("BODY=BINARYMIME", 555, "5.5.4"),
        ("SMTPUTF8", 250, "2.1.0"),
        ("SMTPUTF8=yes", 501, "5.5.4"),
        ("AUTH=<>", 250, "2.1.0"),
        ("AUTH=someone+40x.test", 250, "2.1.0"),
        ("RET=FULL", 555, "5.5.4"),
        ("ENVID=abc", 555, "5.5.4"),
        ("XFOO=1", 555, "5.5.4"),
        ("SIZE=1 SIZE=2", 555, "5.5.4"),
        ("BODY=7BIT BODY=7BIT", 555, "5.5.4"),
    ],
)
def test_mail_params(params: str, code: int, ext: str):
    reply = ready().cmd(f"MAIL FROM:<a@b.test> {params}")
    assert (reply.code, reply.enhanced) == (code, ext)


def test_requiretls_only_inside_tls():
    reply = ready().cmd("MAIL FROM:<a@b.test> REQUIRETLS")
    assert (reply.code, reply.enhanced) == (530, "5.7.10")
    d = ready(tls=TLS, tls_mode="implicit")
    assert d.code("MAIL FROM:<a@b.test> REQUIRETLS") == 250


def test_envelope_carries_parameters():
    d = ready(tls=TLS, tls_mode="implicit")
    d.cmd("MAIL FROM:<Sender@B.Test> SIZE=300 BODY=8BITMIME SMTPUTF8 REQUIRETLS")
    d.cmd("RCPT TO:<u@Example.TEST>")
    d.cmd("RCPT TO:<u@example.test>")
    d.cmd("RCPT TO:<v@local.test>")
    d.feed("DATA\r\n")
    [msg] = messages(d.feed("Subject: x\r\n\r\nbody\r\n.\r\n"))
    assert msg.envelope == Envelope(
        mail_from="Sender@b.test",
        recipients=("u@example.test", "v@local.test"),
        body="8BITMIME",
        smtputf8=True,
        requiretls=True,
        declared_size=300,
    )
    assert msg.data == b"Subject: x\r\n\r\nbody\r\n"


def test_null_sender_and_undeclared_8bit_body():
    d = ready()
    d.cmd("MAIL FROM:<>")
    d.cmd("RCPT TO:<u@example.test>")
    d.feed("DATA\r\n")
    [msg] = messages(d.feed("Subject: x\r\n\r\nné\r\n.\r\n".encode()))
    assert msg.envelope.mail_from == ""
    assert msg.envelope.body == "8BITMIME"  # the content says so, whatever was declared
    assert msg.envelope.declared_size is None


# -- RCPT ----------------------------------------------------------------------------------


def test_rcpt_ok_and_codes():
    d = ready()
    d.cmd("MAIL FROM:<a@b.test>")
    reply = d.cmd("RCPT TO:<u@example.test>")
    assert (reply.code, reply.enhanced) == (250, "2.1.5")
    reply = d.cmd("RCPT TO:<u@remote.test>")
    assert (reply.code, reply.enhanced) == (554, "5.7.1")
    assert "Relay access denied" in reply.text
    for bad in [
        "RCPT TO:u@example.test",
        "RCPT TO:<u@>",
        "RCPT TO:<@example.test>",
        "RCPT TO:<u@example.test>junk",
        "RCPT TO:<u@example.test> =x",
    ]:
        reply = d.cmd(bad)
        assert (reply.code, reply.enhanced) in {(501, "5.1.3"), (501, "5.5.4")}, bad
    for dsn in ["NOTIFY=NEVER", "ORCPT=rfc822;u@example.test"]:
        reply = d.cmd(f"RCPT TO:<u@example.test> {dsn}")
        assert (reply.code, reply.enhanced) == (555, "5.5.4")


def test_postmaster_without_domain_is_accepted():
    d = ready(hostname="example.test")
    d.cmd("MAIL FROM:<a@b.test>")
    assert d.code("RCPT TO:<Postmaster>") == 250
    d.feed("DATA\r\n")
    [msg] = messages(d.feed(".\r\n"))
    assert msg.envelope.recipients == ("postmaster@example.test",)
    d = ready(local_domains=frozenset())
    d.cmd("MAIL FROM:<a@b.test>")
    assert d.code("RCPT TO:<postmaster>") == 550


def test_recipient_limit_is_452():
    d = ready(max_recipients=3)
    d.cmd("MAIL FROM:<a@b.test>")
    assert [d.code(f"RCPT TO:<u{i}@example.test>") for i in range(3)] == [250] * 3
    reply = d.cmd("RCPT TO:<u9@example.test>")
    assert (reply.code, reply.enhanced) == (452, "4.5.3")


# -- DATA ----------------------------------------------------------------------------------


def test_data_flow_and_store_result():
    d = ready()
    d.cmd("MAIL FROM:<a@b.test>")
    d.cmd("RCPT TO:<u@example.test>")
    d.store_reply = Reply.of(250, "2.0.0", "Ok: queued as ABC")
    reply = d.cmd("DATA")
    assert reply.code == 354 and d.session.in_data
    events = d.session.feed(b"Subject: x\r\n\r\n..body\r\n.\r\n")
    assert len(events) == 1 and isinstance(events[0], MessageReady)
    assert events[0].data == b"Subject: x\r\n\r\n.body\r\n"
    assert d.session.waiting and not d.session.in_data
    assert d.session.feed(b"NOOP\r\n") == []
    after = d.session.store_result(Reply.of(250, "2.0.0", "Ok: queued as ABC"))
    assert codes(after) == [250, 250]
    assert not d.session.waiting
    assert d.code("RCPT TO:<u@example.test>") == 503  # transaction reset
    assert d.session.helo == "client.test"
    assert d.code("MAIL FROM:<a@b.test>") == 250


def test_store_failure_reply_is_relayed_and_421_closes():
    d = ready()
    d.store_reply = Reply.of(451, "4.3.0", "Error: queue file write error")
    d.cmd("MAIL FROM:<a@b.test>")
    d.cmd("RCPT TO:<u@example.test>")
    d.feed("DATA\r\n")
    assert codes(d.feed(".\r\n")) == [451]
    assert d.code("MAIL FROM:<a@b.test>") == 250
    d.cmd("RCPT TO:<u@example.test>")
    d.store_reply = Reply.of(421, "4.3.0", "shutting down")
    d.feed("DATA\r\n")
    events = d.feed(".\r\n")
    assert codes(events) == [421] and closes(events)


@pytest.mark.parametrize(
    ("body", "code", "ext"),
    [
        (b"a\nb\r\n.\r\n", 550, "5.5.2"),
        (b"a\rb\r\n.\r\n", 550, "5.5.2"),
        (b"a\x00b\r\n.\r\n", 550, "5.6.0"),
        (b"x" * 1200 + b"\r\n.\r\n", 500, "5.5.2"),
        (
            b"X-A: " + b"y" * 900 + b"\r\n" + (b" " + b"y" * 900 + b"\r\n") * 120 + b"\r\n.\r\n",
            552,
            "5.3.4",
        ),
        (b"".join(b"X-%d: v\r\n" % i for i in range(1001)) + b"\r\nb\r\n.\r\n", 552, "5.3.4"),
    ],
)
def test_data_refusals_reset_the_transaction(body: bytes, code: int, ext: str):
    d = ready(max_message_size=1_000_000)
    d.cmd("MAIL FROM:<a@b.test>")
    d.cmd("RCPT TO:<u@example.test>")
    d.feed("DATA\r\n")
    events = d.feed(body)
    assert [(r.code, r.enhanced) for r in sends(events)] == [(code, ext)]
    assert not messages(events) and not d.stored
    assert d.code("RCPT TO:<u@example.test>") == 503
    assert d.code("MAIL FROM:<a@b.test>") == 250


def test_message_too_big_after_small_declared_size():
    d = ready(max_message_size=2000)
    assert d.cmd("MAIL FROM:<a@b.test> SIZE=100").code == 250
    d.cmd("RCPT TO:<u@example.test>")
    d.feed("DATA\r\n")
    events = d.feed(b"Subject: x\r\n\r\n" + (b"z" * 98 + b"\r\n") * 40 + b".\r\n")
    assert [(r.code, r.enhanced) for r in sends(events)] == [(552, "5.3.4")]
    assert not d.stored


def test_data_in_many_chunks():
    d = ready()
    d.cmd("MAIL FROM:<a@b.test>")
    d.cmd("RCPT TO:<u@example.test>")
    d.feed("DATA\r\n")
    wire = b"Subject: x\r\n\r\n" + b"line\r\n" * 50 + b".\r\nNOOP\r\n"
    events = []
    for byte in wire:
        events += d.session.feed(bytes([byte]))
    assert len(messages(events)) == 1
    assert d.session.waiting
    assert codes(d.session.store_result(QUEUED)) == [250, 250]


# -- pipelining ----------------------------------------------------------------------------


def test_pipelined_group_answered_in_order():
    d = ready()
    events = d.feed(
        "MAIL FROM:<a@b.test>\r\nRCPT TO:<u@example.test>\r\nRCPT TO:<x@remote.test>\r\n"
        "RCPT TO:<v@example.test>\r\nDATA\r\n"
    )
    assert codes(events) == [250, 250, 554, 250, 354]


def test_pipelined_after_final_dot():
    d = ready()
    d.feed("MAIL FROM:<a@b.test>\r\nRCPT TO:<u@example.test>\r\nDATA\r\n")
    events = d.session.feed(b"body\r\n.\r\nMAIL FROM:<c@d.test>\r\nRCPT TO:<u@example.test>\r\n")
    assert len(events) == 1 and isinstance(events[0], MessageReady)
    assert codes(d.session.store_result(QUEUED)) == [250, 250, 250]


def test_bytes_after_data_in_same_feed_are_a_sync_error():
    d = ready()
    events = d.feed(
        "MAIL FROM:<a@b.test>\r\nRCPT TO:<u@example.test>\r\nDATA\r\nSubject: x\r\n\r\nb\r\n.\r\n"
    )
    assert [(r.code, r.enhanced) for r in sends(events)] == [
        (250, "2.1.0"),
        (250, "2.1.5"),
        (554, "5.5.0"),
    ]
    assert closes(events) and not d.stored


def test_no_pipelining_before_ehlo_or_after_helo():
    d = driver()
    events = d.feed("EHLO c.test\r\nMAIL FROM:<a@b.test>\r\n")
    assert [(r.code, r.enhanced) for r in sends(events)] == [(554, "5.5.0")]
    assert closes(events)
    d = driver()
    d.cmd("HELO c.test")
    events = d.feed("MAIL FROM:<a@b.test>\r\nRCPT TO:<u@example.test>\r\n")
    assert codes(events) == [554] and closes(events)


def test_helo_client_one_command_at_a_time_is_fine():
    d = driver()
    d.cmd("HELO c.test")
    assert d.code("MAIL FROM:<a@b.test>") == 250
    assert d.code("RCPT TO:<u@example.test>") == 250
    assert d.code("DATA") == 354
    assert codes(d.feed("x\r\n.\r\n")) == [250]
    assert d.code("QUIT") == 221


def test_input_while_waiting_is_bounded():
    d = ready()
    d.feed("MAIL FROM:<a@b.test>\r\nRCPT TO:<u@example.test>\r\nDATA\r\n")
    assert messages(d.session.feed(b".\r\n"))
    assert d.session.feed(b"NOOP\r\n" * 10_000) == []
    events = d.session.feed(b"NOOP\r\n" * 2000)
    assert codes(events) == [421] and closes(events)
    assert d.session.store_result(QUEUED) == []


def test_huge_pipelined_tail_after_final_dot_is_refused():
    d = ready()
    d.feed("MAIL FROM:<a@b.test>\r\nRCPT TO:<u@example.test>\r\nDATA\r\n")
    events = d.session.feed(b".\r\n" + b"NOOP\r\n" * 20_000)
    assert codes(events) == [421] and closes(events) and not messages(events)


# -- STARTTLS ------------------------------------------------------------------------------


def test_starttls_happy_path():
    d = ready()
    events = d.session.feed(b"STARTTLS\r\n")
    assert events == [Send(Reply.of(220, "2.0.0", "Ready to start TLS")), StartTls()]
    assert d.session.waiting
    assert d.session.tls_established(TLS) == []
    assert d.session.tls == TLS and d.session.helo is None and not d.session.esmtp
    assert d.code("MAIL FROM:<a@b.test>") == 503
    assert "STARTTLS" not in d.cmd("EHLO c.test").lines


@pytest.mark.parametrize(
    ("setup", "code", "ext"),
    [
        ({"tls_mode": "none"}, 502, "5.5.1"),
        ({"tls_mode": "implicit", "tls": TLS}, 503, "5.5.1"),
    ],
)
def test_starttls_refused(setup: dict, code: int, ext: str):
    reply = ready(**setup).cmd("STARTTLS")
    assert (reply.code, reply.enhanced) == (code, ext)


def test_starttls_with_argument():
    reply = ready().cmd("STARTTLS now")
    assert (reply.code, reply.enhanced) == (501, "5.5.4")


def test_starttls_twice():
    d = ready()
    d.cmd("STARTTLS")
    d.cmd("EHLO c.test")
    reply = d.cmd("STARTTLS")
    assert (reply.code, reply.enhanced) == (503, "5.5.1")


def test_tls_established_ignored_when_not_asked():
    d = ready()
    assert d.session.tls_established(TLS) == []
    assert d.session.tls is None


# -- require_tls ---------------------------------------------------------------------------


def test_require_tls_refuses_until_starttls():
    d = driver(require_tls=True, auth_enabled=True)
    assert d.code("EHLO c.test") == 250
    for line in [
        "MAIL FROM:<a@b.test>",
        "RCPT TO:<u@example.test>",
        "DATA",
        "VRFY u",
        f"AUTH PLAIN {plain('alice', 'secret')}",
    ]:
        reply = d.cmd(line)
        assert (reply.code, reply.enhanced) == (530, "5.7.0"), line
    assert not d.auth_requests
    for line in ["NOOP", "RSET", "HELO c.test", "EHLO c.test"]:
        assert d.code(line) == 250
    assert d.code("STARTTLS") == 220
    d.cmd("EHLO c.test")
    assert d.code("MAIL FROM:<a@b.test>") == 250
    assert d.code("QUIT") == 221


# -- AUTH ----------------------------------------------------------------------------------


def test_auth_plain_success_and_relay():
    d = submission()
    assert any(x == "AUTH PLAIN LOGIN" for x in d.cmd("EHLO c.test").lines)
    reply = login(d)
    assert (reply.code, reply.enhanced) == (235, "2.7.0")
    assert d.session.auth_user == "alice"
    assert d.auth_requests == [Authenticate("PLAIN", "", "alice", "secret")]
    assert d.code("MAIL FROM:<alice@alice.test>") == 250
    assert d.code("RCPT TO:<anyone@remote.test>") == 250


def test_auth_login_exchange():
    d = submission()
    assert d.cmd("AUTH LOGIN") == Reply.of(334, None, "VXNlcm5hbWU6")
    assert d.cmd("Ym9i") == Reply.of(334, None, "UGFzc3dvcmQ6")
    assert d.cmd("aHVudGVyMg==").code == 235
    assert d.session.auth_user == "bob"


def test_auth_plain_empty_challenge():
    d = submission()
    assert d.cmd("AUTH PLAIN") == Reply.of(334, None, "")
    assert d.cmd(plain("alice", "secret")).code == 235


def test_auth_wrong_password_same_reply_as_unknown_user():
    d = submission()
    wrong = login(d, "alice", "nope")
    unknown = login(d, "mallory", "secret")
    assert wrong == unknown
    assert (wrong.code, wrong.enhanced) == (535, "5.7.8")
    assert d.session.auth_user is None


def test_auth_cancel_and_bad_base64():
    d = submission()
    d.cmd("AUTH LOGIN")
    reply = d.cmd("*")
    assert (reply.code, reply.enhanced) == (501, "5.7.0")
    d.cmd("AUTH PLAIN")
    reply = d.cmd("!!!notbase64")
    assert (reply.code, reply.enhanced) == (501, "5.5.2")
    assert d.code("NOOP") == 250  # back to commands
    assert not d.auth_requests


def test_auth_unknown_mechanism_and_no_argument():
    d = submission()
    reply = d.cmd("AUTH CRAM-MD5")
    assert (reply.code, reply.enhanced) == (504, "5.5.4")
    assert d.cmd("AUTH").code == 501


def test_auth_disabled():
    d = ready(tls=TLS, tls_mode="implicit")
    reply = d.cmd(f"AUTH PLAIN {plain('alice', 'secret')}")
    assert reply.code in (502, 503) and reply.enhanced == "5.5.1"
    assert not d.auth_requests


def test_auth_before_ehlo_or_after_helo():
    d = driver(tls=TLS, tls_mode="implicit", auth_enabled=True)
    assert d.code(f"AUTH PLAIN {plain('alice', 'secret')}") == 503
    d.cmd("HELO c.test")
    assert d.code(f"AUTH PLAIN {plain('alice', 'secret')}") == 503
    assert not d.auth_requests


def test_auth_locked_out_closes():
    d = submission()
    d.session.feed(f"AUTH PLAIN {plain('alice', 'secret')}\r\n".encode())
    events = d.session.auth_result(AuthOutcome("alice", locked_out=True))
    assert [(r.code, r.enhanced) for r in sends(events)] == [(421, "4.7.0")]
    assert closes(events) and d.session.auth_user is None


def test_auth_failures_per_session_close():
    d = submission(max_auth_failures=3)
    assert login(d, "alice", "x1").code == 535
    assert login(d, "alice", "x2").code == 535
    events = d.feed(f"AUTH PLAIN {plain('alice', 'x3')}\r\n")
    assert codes(events) == [535, 421] and closes(events)


def test_sender_domains_enforced_for_authenticated_user():
    d = submission()
    login(d)
    reply = d.cmd("MAIL FROM:<ceo@bank.test>")
    assert (reply.code, reply.enhanced) == (553, "5.7.1")
    assert d.code("MAIL FROM:<alice@ALICE.test>") == 250
    d.cmd("RSET")
    assert d.code("MAIL FROM:<>") == 250


def test_sender_any_domain_when_none():
    d = submission()
    login(d, "bob", "hunter2")
    assert d.code("MAIL FROM:<ceo@bank.test>") == 250


def test_auth_answer_replays_pipelined_input():
    d = submission()
    d.users = {}
    d.session.feed(f"AUTH PLAIN {plain('alice', 'secret')}\r\n".encode())
    assert d.session.waiting
    assert d.session.feed(b"MAIL FROM:<a@alice.test>\r\nRCPT TO:<x@remote.test>\r\n") == []
    events = d.session.auth_result(AuthOutcome("alice", None))
    assert codes(events) == [235, 250, 250]


# -- limits on junk and errors -------------------------------------------------------------


def test_junk_command_limit():
    d = ready(max_junk_commands=5)
    assert [d.code(c) for c in ["NOOP", "RSET", "HELP", "VRFY x", "EXPN y"]] == [
        250,
        250,
        214,
        252,
        502,
    ]
    events = d.feed("NOOP\r\n")
    assert [(r.code, r.enhanced) for r in sends(events)] == [(421, "4.7.0")]
    assert closes(events)


def test_error_limit():
    d = ready(max_errors=3)
    for _ in range(3):
        assert codes(d.feed("BOGUS\r\n")) == [500]
    events = d.feed("BOGUS\r\n")
    assert codes(events) == [500, 421] and closes(events)


def test_delivered_message_clears_counters():
    d = ready(max_errors=2)
    d.feed("BOGUS\r\nBOGUS\r\n")
    d.feed("MAIL FROM:<a@b.test>\r\nRCPT TO:<u@example.test>\r\nDATA\r\n")
    d.feed(".\r\n")
    assert codes(d.feed("BOGUS\r\nBOGUS\r\n")) == [500, 500]
    assert not d.session.closed


# -- timeout -------------------------------------------------------------------------------


def test_timeout():
    d = ready()
    events = d.session.timeout()
    assert [(r.code, r.enhanced) for r in sends(events)] == [(421, "4.4.2")]
    assert sends(events)[0].text == f"{HOST} Error: timeout exceeded"
    assert isinstance(events[-1], Close) and d.session.closed


# -- odds and ends -------------------------------------------------------------------------


@pytest.mark.parametrize("params", ["BODY", "REQUIRETLS=yes", "AUTH"])
def test_mail_params_needing_or_refusing_values(params: str):
    reply = ready(tls=TLS, tls_mode="implicit").cmd(f"MAIL FROM:<a@b.test> {params}")
    assert (reply.code, reply.enhanced) == (501, "5.5.4")


def test_rcpt_non_ascii_parameter_without_smtputf8():
    d = ready()
    d.cmd("MAIL FROM:<a@b.test>")
    assert d.cmd("RCPT TO:<u@example.test> X=ü").code == 500


def test_postmaster_falls_back_to_a_local_domain():
    d = ready()
    d.cmd("MAIL FROM:<a@b.test>")
    d.cmd("RCPT TO:<postmaster>")
    d.feed("DATA\r\n")
    [msg] = messages(d.feed(".\r\n"))
    assert msg.envelope.recipients == ("postmaster@example.test",)


def test_address_literal_sender_refused_when_domains_restricted():
    d = submission()
    login(d)
    assert d.cmd("MAIL FROM:<alice@[192.0.2.1]>").code == 553


def test_bare_lf_in_sasl_response_aborts_exchange():
    d = submission()
    d.cmd("AUTH LOGIN")
    assert codes(d.feed(b"YWxpY2U=\n")) == [500]
    assert d.code("NOOP") == 250
    assert not d.auth_requests


def test_overlong_sasl_response_aborts_exchange():
    d = submission()
    d.cmd("AUTH PLAIN")
    assert codes(d.feed(b"A" * 600 + b"\r\n")) == [500]
    assert d.code("NOOP") == 250


def test_huge_pipelined_tail_after_auth_is_refused():
    d = submission()
    events = d.session.feed(
        f"AUTH PLAIN {plain('alice', 'secret')}\r\n".encode() + b"NOOP\r\n" * 20_000
    )
    assert codes(events) == [421] and closes(events) and not d.auth_requests


def test_discarded_long_line_followed_by_more_in_later_feeds():
    d = ready()
    assert codes(d.feed(b"N" * 600)) == [500]
    assert codes(d.feed(b"N" * 600)) == []
    assert codes(d.feed(b"NNN\r\nNOOP\r\n")) == [250]
