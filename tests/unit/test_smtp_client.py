"""The sans-I/O SMTP client against scripted server replies: transcripts, pipelining,
STARTTLS (checklist B1), AUTH (B5), local refusals (RFC 6152/6531/8689, I3), faults (K7)."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sealpost.model.reply import Reply
from sealpost.smtp.client import ClientStateError, SmtpClient
from sealpost.smtp.client_events import (
    AuthDone,
    Event,
    Greeted,
    Hello,
    OutgoingMail,
    QuitDone,
    ResetDone,
    Send,
    StartTlsDone,
    Step,
    TransactionDone,
    TransactionResult,
)

EHLO_FULL = (
    b"250-mx.example.test Hello\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n"
    b"250-STARTTLS\r\n250-SIZE 1000\r\n250-REQUIRETLS\r\n250 AUTH PLAIN LOGIN\r\n"
)
EHLO_PLAIN = b"250-mx.example.test\r\n250 ENHANCEDSTATUSCODES\r\n"


def sent(events: list[Event]) -> bytes:
    return b"".join(e.data for e in events if isinstance(e, Send))


def done(events: list[Event]) -> Event:
    rest = [e for e in events if not isinstance(e, Send)]
    assert len(rest) == 1, events
    return rest[0]


def ready(ehlo: bytes = EHLO_FULL, *, tls: bool = False, verified: bool = True) -> SmtpClient:
    client = SmtpClient("client.example.test")
    assert isinstance(done(client.feed(b"220 mx.example.test ESMTP\r\n")), Greeted)
    assert sent(client.ehlo()) == b"EHLO client.example.test\r\n"
    if tls:
        assert isinstance(done(client.feed(ehlo)), Hello)
        assert sent(client.starttls()) == b"STARTTLS\r\n"
        assert done(client.feed(b"220 2.0.0 Ready\r\n")).reply.code == 220  # type: ignore[union-attr]
        assert sent(client.tls_established(verified=verified)) == b"EHLO client.example.test\r\n"
    assert isinstance(done(client.feed(ehlo)), Hello)
    assert client.usable
    return client


def mail(
    *recipients: str, data: bytes = b"Subject: t\r\n\r\nbody\r\n", **flags: bool
) -> OutgoingMail:
    return OutgoingMail("sender@example.org", recipients or ("rcpt@example.net",), data, **flags)


def result(events: list[Event]) -> TransactionResult:
    event = done(events)
    assert isinstance(event, TransactionDone)
    return event.result


# -- greeting, EHLO, HELO ------------------------------------------------------------------


def test_greeting_then_ehlo_capabilities():
    client = SmtpClient("client.example.test")
    assert client.waiting_for is Step.GREETING
    greeted = done(client.feed(b"220-mx.example.test ESMTP\r\n220 welcome\r\n"))
    assert greeted == Greeted(Reply(220, None, ("mx.example.test ESMTP", "welcome")))
    client.ehlo()
    hello = done(client.feed(EHLO_FULL))
    assert isinstance(hello, Hello) and hello.extensions is not None
    ext = hello.extensions
    assert ext.server_name == "mx.example.test"
    assert ext.pipelining and ext.eight_bit_mime and ext.smtputf8 and ext.starttls
    assert ext.requiretls and ext.size_limit == 1000
    assert ext.auth_mechanisms == {"PLAIN", "LOGIN"}


def test_greeting_arriving_in_pieces():
    client = SmtpClient("client.example.test")
    assert client.feed(b"22") == []
    assert client.feed(b"0 mx") == []
    assert isinstance(done(client.feed(b"\r\n")), Greeted)


def test_ehlo_5xx_falls_back_to_helo():
    client = SmtpClient("client.example.test")
    client.feed(b"220 old.example.test\r\n")
    client.ehlo()
    assert sent(client.feed(b"502 5.5.2 what\r\n")) == b"HELO client.example.test\r\n"
    hello = done(client.feed(b"250 old.example.test\r\n"))
    assert isinstance(hello, Hello) and hello.extensions is not None
    assert not hello.extensions.esmtp and not hello.extensions.pipelining


def test_ehlo_4xx_is_final():
    client = SmtpClient("client.example.test")
    client.feed(b"220 mx\r\n")
    client.ehlo()
    hello = done(client.feed(b"451 4.3.0 later\r\n"))
    assert isinstance(hello, Hello) and hello.extensions is None


def test_5xx_greeting_is_reported_and_quit_still_possible():
    client = SmtpClient("client.example.test")
    greeted = done(client.feed(b"554 5.7.1 go away\r\n"))
    assert greeted.reply.code == 554 and greeted.reply.enhanced == "5.7.1"  # type: ignore[union-attr]
    assert sent(client.quit()) == b"QUIT\r\n"
    assert isinstance(done(client.feed(b"221 2.0.0 bye\r\n")), QuitDone)
    assert client.closed and not client.usable


def test_421_greeting_closes():
    client = SmtpClient("client.example.test")
    assert done(client.feed(b"421 4.3.2 busy\r\n")).reply.code == 421  # type: ignore[union-attr]
    assert client.closed
    assert isinstance(done(client.ehlo()), Hello)  # refused without writing anything
    assert sent(client.ehlo()) == b""


@pytest.mark.parametrize(
    "name", ["me.example XCLIENT ADDR=1.2.3.4", "a\r\nRSET", "", "bad_name!", "x" * 300]
)
def test_bad_ehlo_name_is_refused_before_anything_is_written(name):
    with pytest.raises(ValueError):
        SmtpClient(name)


def test_address_literal_is_a_valid_ehlo_name():
    SmtpClient("[127.0.0.1]")
    SmtpClient("[IPv6:::1]")


# -- STARTTLS and the response-injection class (B1) ----------------------------------------


def test_bytes_after_220_to_starttls_are_discarded():
    client = ready(EHLO_FULL.replace(b"250 AUTH PLAIN LOGIN", b"250 X-NONE"))
    client.starttls()
    injected = b"220 2.0.0 Ready\r\n250-fake\r\n250 AUTH PLAIN\r\n"
    event = done(client.feed(injected))
    assert isinstance(event, StartTlsDone) and event.reply.code == 220
    assert client.extensions is not None  # not yet forgotten: the handshake comes first
    assert client.feed(b"250 more injected\r\n") == []  # plaintext is never read now
    assert sent(client.tls_established(verified=True)) == b"EHLO client.example.test\r\n"
    assert client.extensions is None  # RFC 3207 section 4.2: forget what EHLO said
    hello = done(client.feed(b"250-mx\r\n250 PIPELINING\r\n"))
    assert isinstance(hello, Hello) and hello.extensions is not None
    assert hello.extensions.auth_mechanisms == frozenset()
    assert client.tls_active and client.usable


def test_injection_split_across_reads_is_discarded_too():
    client = ready()
    client.starttls()
    assert isinstance(done(client.feed(b"220 Ready\r\n250-fa")), StartTlsDone)
    assert client.feed(b"ke\r\n250 AUTH PLAIN\r\n") == []
    client.tls_established(verified=False)
    hello = done(client.feed(b"250 mx\r\n"))
    assert hello.extensions is not None and hello.extensions.params == {}  # type: ignore[union-attr]


@pytest.mark.parametrize("code", [b"454 4.7.0 TLS not available", b"502 5.5.1 no", b"500 no"])
def test_refused_starttls_keeps_the_plaintext_session(code):
    client = ready()
    client.starttls()
    event = done(client.feed(code + b"\r\n"))
    assert isinstance(event, StartTlsDone) and event.reply.code != 220
    assert client.usable and not client.tls_active
    with pytest.raises(ClientStateError):
        client.tls_established(verified=True)


def test_operations_cannot_overlap():
    client = ready()
    client.starttls()
    with pytest.raises(ClientStateError):
        client.ehlo()
    client.feed(b"220 go\r\n")
    with pytest.raises(ClientStateError):  # the handshake must come first
        client.transaction(mail())


# -- AUTH (B5) -----------------------------------------------------------------------------


def test_auth_plain_inside_verified_tls():
    client = ready(tls=True, verified=True)
    events = client.auth_plain("user", "secret")
    assert "secret" not in repr(events)
    token = base64.b64encode(b"\0user\0secret")
    assert sent(events) == b"AUTH PLAIN " + token + b"\r\n"
    event = done(client.feed(b"235 2.7.0 ok\r\n"))
    assert event == AuthDone(Reply(235, "2.7.0", ("ok",)), sent=True)


@pytest.mark.parametrize("tls, verified", [(False, False), (True, False)])
def test_auth_is_never_sent_without_verified_tls(tls, verified):
    client = ready(tls=tls, verified=verified)
    events = client.auth_plain("user", "secret")
    assert sent(events) == b""
    event = done(events)
    assert isinstance(event, AuthDone) and not event.sent and event.reply.code == 530
    assert client.usable


def test_auth_needs_plain_offered():
    client = ready(EHLO_PLAIN, tls=True)
    event = done(client.auth_plain("user", "secret"))
    assert isinstance(event, AuthDone) and not event.sent and event.reply.code == 504


# -- transactions --------------------------------------------------------------------------


def test_pipelined_transaction_is_one_write():
    client = ready()
    events = client.transaction(mail("a@example.net", "b@example.net"))
    assert sent(events) == (
        b"MAIL FROM:<sender@example.org> SIZE=20\r\n"
        b"RCPT TO:<a@example.net>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n"
    )
    assert client.feed(b"250 2.1.0 ok\r\n250 2.1.5 ok\r\n") == []
    payload = client.feed(b"250 2.1.5 ok\r\n354 go\r\n")
    assert sent(payload) == b"Subject: t\r\n\r\nbody\r\n.\r\n"
    assert client.waiting_for is Step.MESSAGE
    outcome = result(client.feed(b"250 2.0.0 queued as X\r\n"))
    assert [r.delivered for r in outcome.recipients] == [True, True]
    assert outcome.data == Reply(250, "2.0.0", ("queued as X",))
    assert client.usable


def test_without_pipelining_one_command_per_reply():
    client = ready(EHLO_PLAIN)
    assert sent(client.transaction(mail("a@example.net", "b@example.net"))) == (
        b"MAIL FROM:<sender@example.org>\r\n"
    )
    assert sent(client.feed(b"250 2.1.0 ok\r\n")) == b"RCPT TO:<a@example.net>\r\n"
    assert sent(client.feed(b"550 5.1.1 no such user\r\n")) == b"RCPT TO:<b@example.net>\r\n"
    assert sent(client.feed(b"250 2.1.5 ok\r\n")) == b"DATA\r\n"
    assert sent(client.feed(b"354 go\r\n")).endswith(b"\r\n.\r\n")
    outcome = result(client.feed(b"250 2.0.0 ok\r\n"))
    first, second = outcome.recipients
    assert first.reply.code == 550 and not first.delivered and not first.after_data
    assert second.delivered


def test_no_recipient_accepted_sends_rset_not_data_without_pipelining():
    client = ready(EHLO_PLAIN)
    client.transaction(mail("a@example.net"))
    client.feed(b"250 ok\r\n")
    assert sent(client.feed(b"450 4.2.0 busy\r\n")) == b"RSET\r\n"
    outcome = result(client.feed(b"250 ok\r\n"))
    assert outcome.recipients[0].reply.code == 450 and not outcome.data_sent
    assert client.usable


def test_refused_mail_stops_the_transaction_without_pipelining():
    client = ready(EHLO_PLAIN)
    client.transaction(mail("a@example.net", "b@example.net"))
    outcome = result(client.feed(b"553 5.7.1 sender refused\r\n"))
    assert [r.reply.code for r in outcome.recipients] == [553, 553]
    assert outcome.mail is not None and outcome.mail.code == 553


def test_pipelined_all_recipients_refused_then_rset():
    client = ready()
    client.transaction(mail("a@example.net"))
    replies = b"250 2.1.0 ok\r\n550 5.1.1 unknown\r\n554 5.5.1 no valid recipients\r\n"
    assert sent(client.feed(replies)) == b"RSET\r\n"
    outcome = result(client.feed(b"250 2.0.0 ok\r\n"))
    assert outcome.recipients[0].reply.code == 550
    assert outcome.data is not None and outcome.data.code == 554


def test_pipelined_354_without_recipients_sends_only_the_dot():
    """RFC 2920 section 3.1: DATA accepted although every RCPT failed: end it at once."""
    client = ready()
    client.transaction(mail("a@example.net"))
    out = client.feed(b"250 ok\r\n550 5.1.1 unknown\r\n354 go ahead\r\n")
    assert sent(out) == b".\r\n"
    assert sent(client.feed(b"554 5.5.1 empty\r\n")) == b"RSET\r\n"
    outcome = result(client.feed(b"250 ok\r\n"))
    assert not outcome.data_sent and outcome.recipients[0].reply.code == 550


def test_data_refused_applies_to_accepted_recipients():
    client = ready()
    client.transaction(mail("a@example.net", "b@example.net"))
    out = client.feed(b"250 ok\r\n250 ok\r\n550 5.1.1 no\r\n554 5.3.0 no data today\r\n")
    assert sent(out) == b"RSET\r\n"
    outcome = result(client.feed(b"250 ok\r\n"))
    assert [r.reply.code for r in outcome.recipients] == [554, 550]


@pytest.mark.parametrize("final, code", [(b"452 4.3.1 full\r\n", 452), (b"554 5.6.0 bad\r\n", 554)])
def test_final_reply_applies_to_every_accepted_recipient(final, code):
    client = ready()
    client.transaction(mail("a@example.net", "b@example.net"))
    client.feed(b"250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n")
    outcome = result(client.feed(final))
    assert [(r.reply.code, r.after_data, r.delivered) for r in outcome.recipients] == [
        (code, True, False),
        (code, True, False),
    ]
    assert client.usable  # the transaction is over: no RSET needed


def test_421_in_a_pipelined_group_ends_everything():
    client = ready()
    client.transaction(mail("a@example.net", "b@example.net"))
    outcome = result(client.feed(b"250 ok\r\n250 ok\r\n421 4.3.2 shutting down\r\n"))
    assert [r.reply.code for r in outcome.recipients] == [421, 421]
    assert client.closed and not client.usable


def test_reset_first_is_pipelined_ahead_of_mail():
    client = ready()
    events = client.transaction(mail(), reset_first=True)
    assert sent(events).startswith(b"RSET\r\nMAIL FROM:<sender@example.org>")
    client.feed(b"250 2.0.0 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n")
    assert result(client.feed(b"250 ok\r\n")).recipients[0].delivered


def test_reset_first_without_pipelining_waits_for_rset():
    client = ready(EHLO_PLAIN)
    assert sent(client.transaction(mail(), reset_first=True)) == b"RSET\r\n"
    assert sent(client.feed(b"250 ok\r\n")).startswith(b"MAIL FROM:")


def test_reset_and_quit_operations():
    client = ready()
    assert sent(client.reset()) == b"RSET\r\n"
    assert done(client.feed(b"250 2.0.0 ok\r\n")) == ResetDone(Reply(250, "2.0.0", ("ok",)))
    assert sent(client.quit()) == b"QUIT\r\n"
    assert isinstance(done(client.feed(b"221 2.0.0 bye\r\n")), QuitDone)
    assert client.closed


def test_two_messages_on_one_session():
    client = ready()
    for n in range(2):
        events = client.transaction(mail(f"r{n}@example.net"), reset_first=n > 0)
        assert sent(events).startswith(b"RSET\r\n" if n else b"MAIL ")
        client.feed(b"250 ok\r\n" * (3 if n else 2) + b"354 go\r\n")
        assert result(client.feed(b"250 ok\r\n")).recipients[0].delivered


# -- MAIL parameters and local refusals ----------------------------------------------------


def test_8bit_body_declares_8bitmime():
    client = ready()
    out = sent(client.transaction(mail(data="caf\u00e9\r\n".encode())))
    assert b"BODY=8BITMIME" in out.split(b"\r\n")[0]


def test_8bit_body_to_a_peer_without_8bitmime_is_refused_not_downgraded():
    client = ready(EHLO_PLAIN)
    events = client.transaction(mail("a@example.net", data="caf\u00e9\r\n".encode()))
    assert sent(events) == b""
    reply = result(events).recipients[0].reply
    assert (reply.code, reply.enhanced) == (554, "5.6.3")
    assert client.usable


def test_utf8_address_needs_smtputf8():
    client = ready(EHLO_PLAIN)
    reply = result(client.transaction(mail("j\u00f6rg@example.net"))).recipients[0].reply
    assert (reply.code, reply.enhanced) == (553, "5.6.7")
    client = ready()
    first = sent(client.transaction(mail("j\u00f6rg@example.net"))).split(b"\r\n")[0]
    assert first.endswith(b"SMTPUTF8")


def test_smtputf8_flag_without_peer_support():
    client = ready(b"250-mx\r\n250 8BITMIME\r\n")
    reply = result(client.transaction(mail(smtputf8=True))).recipients[0].reply
    assert reply.enhanced == "5.6.9"


def test_requiretls_needs_verified_tls_and_the_extension():
    for client in (ready(), ready(tls=True, verified=False)):
        reply = result(client.transaction(mail(requiretls=True))).recipients[0].reply
        assert (reply.code, reply.enhanced) == (550, "5.7.30")
    client = ready(EHLO_FULL.replace(b"250-REQUIRETLS\r\n", b""), tls=True)
    reply = result(client.transaction(mail(requiretls=True))).recipients[0].reply
    assert reply.enhanced == "5.7.30" and "not offered" in reply.text
    client = ready(tls=True, verified=True)
    assert sent(client.transaction(mail(requiretls=True))).split(b"\r\n")[0].endswith(b"REQUIRETLS")


def test_message_over_the_declared_size_is_refused():
    client = ready()
    reply = result(client.transaction(mail(data=b"x" * 2000))).recipients[0].reply
    assert (reply.code, reply.enhanced) == (552, "5.3.4")


@pytest.mark.parametrize(
    "address",
    [
        "a@x.com> AUTH=<evil@y",
        "a@x.com> NOTIFY=NEVER",
        "a@x.com\r\nRCPT TO:<evil@y>",
        "a@x.com\nDATA",
        "a b@x.com",
        "a\x00@x.com",
        "<a@x.com",
        "a@x.com\u2028",
        "nobody",
        "",
        "a" * 65 + "@x.com",
        "a@" + "x" * 260,
    ],
)
def test_injected_recipient_is_refused_before_anything_is_written(address):
    client = ready()
    events = client.transaction(mail(address))
    assert sent(events) == b""
    reply = result(events).recipients[0].reply
    assert (reply.code, reply.enhanced) == (553, "5.1.3")


def test_bad_recipients_are_skipped_and_good_ones_sent():
    client = ready()
    out = sent(client.transaction(mail("a@x.com>\r\nDATA", "ok@example.net")))
    assert out.count(b"RCPT TO:") == 1 and b"RCPT TO:<ok@example.net>" in out


@pytest.mark.parametrize("sender", ["a@x.com> AUTH=<e@y>", "a\r\n@x", "a b@x.com"])
def test_injected_sender_refuses_the_whole_message(sender):
    client = ready()
    events = client.transaction(OutgoingMail(sender, ("r@example.net",), b"x\r\n"))
    assert sent(events) == b""
    assert result(events).recipients[0].reply.enhanced == "5.1.7"


def test_null_sender_and_postmaster():
    client = ready()
    out = sent(client.transaction(OutgoingMail("", ("postmaster",), b"x\r\n")))
    assert out.startswith(b"MAIL FROM:<> ") and b"RCPT TO:<postmaster>\r\n" in out


# -- faults ---------------------------------------------------------------------------------


def test_connection_lost_after_the_dot_is_transient_and_maybe_delivered():
    client = ready()
    client.transaction(mail("a@example.net", "b@example.net"))
    client.feed(b"250 ok\r\n250 ok\r\n550 5.1.1 no\r\n354 go\r\n")
    lost = Reply.of(451, "4.4.2", "connection lost")
    outcome = result(client.abort(lost))
    first, second = outcome.recipients
    assert first.reply == lost and first.after_data and not first.delivered
    assert second.reply.code == 550 and not second.after_data
    assert outcome.data_sent and not client.usable


def test_timeout_before_any_reply():
    client = ready()
    client.transaction(mail())
    outcome = result(client.abort(Reply.of(451, "4.4.2", "timeout")))
    assert outcome.recipients[0].reply.text == "timeout"
    assert not outcome.recipients[0].after_data
    assert client.fault == "timeout"
    assert isinstance(done(client.ehlo()), Hello)  # every later operation ends at once


@pytest.mark.parametrize(
    "garbage",
    [
        b"hello there\r\n",
        b"250\n",
        b"250 ok\rRSET\r\n",
        b"250-ok\r\n251 mixed\r\n",
        b"2500 ok\r\n",
        b"199 ok\r\n",
        b"250 nul\x00\r\n",
        b"250 " + b"x" * 600 + b"\r\n",
        b"x" * 600,
    ],
)
def test_garbage_from_the_server_is_a_protocol_error(garbage):
    client = ready()
    client.transaction(mail())
    outcome = result(client.feed(garbage))
    assert outcome.recipients[0].reply.code == 451
    assert client.fault is not None and not client.usable


def test_unexpected_positive_code_is_not_taken_as_success():
    client = ready()
    client.transaction(mail())
    client.feed(b"250 ok\r\n250 ok\r\n354 go\r\n")
    outcome = result(client.feed(b"354 again?\r\n"))
    assert not outcome.recipients[0].delivered
    assert outcome.recipients[0].reply.enhanced == "4.5.0"


def test_reply_without_a_command_is_a_protocol_error():
    client = ready()
    client.reset()
    assert isinstance(done(client.feed(b"250 ok\r\n250 extra\r\n")), ResetDone)
    assert client.fault is not None and not client.usable


def test_many_line_reply_is_bounded():
    client = ready()
    client.reset()
    event = done(client.feed(b"250-x\r\n" * 300))
    assert isinstance(event, ResetDone) and event.reply.code == 451


# -- property: whatever the server sends, one completion and no exception ----------------------

REPLY_PIECES = st.sampled_from(
    [b"250 ok\r\n", b"250-a\r\n", b"354 go\r\n", b"550 5.1.1 no\r\n", b"451 4.3.0 x\r\n",
     b"421 bye\r\n", b"220 hi\r\n", b"\r\n", b"\n", b"25", b"0 x\r\n", b"garbage\r\n"]
)  # fmt: skip


@given(st.lists(REPLY_PIECES, max_size=12), st.booleans())
def test_any_server_bytes_end_in_one_completion(pieces, pipelining):
    client = ready(EHLO_FULL if pipelining else EHLO_PLAIN)
    events = client.transaction(mail("a@example.net", "b@example.net"))
    completions = []
    for piece in pieces:
        events = client.feed(piece)
        completions += [e for e in events if not isinstance(e, Send)]
    completions += [
        e for e in client.abort(Reply.of(451, "4.4.2", "lost")) if not isinstance(e, Send)
    ]
    assert len(completions) == 1 and isinstance(completions[0], TransactionDone)
    recipients = completions[0].result.recipients
    assert [r.address for r in recipients] == ["a@example.net", "b@example.net"]
    for r in recipients:
        assert not r.delivered or (r.after_data and r.reply.code == 250)


def test_second_transaction_while_one_runs_is_refused_without_harm():
    client = ready()
    client.transaction(mail("a@example.net"))
    with pytest.raises(ClientStateError):
        client.transaction(mail("other@example.net"))
    client.feed(b"250 ok\r\n250 ok\r\n354 go\r\n")
    outcome = result(client.feed(b"250 ok\r\n"))
    assert [r.address for r in outcome.recipients] == ["a@example.net"]
