"""Sending through one outbound session against a real SMTP sink on 127.0.0.1.

Checklist F3 (what reaches the wire: CRLF only, stuffed dots, same body), K7 (connection
dropped after the final dot), K8 (4xx, 5xx, 421, slow replies), timeouts, connection reuse,
and the refusals that happen before anything is written (8BITMIME, SMTPUTF8, REQUIRETLS).
"""

from __future__ import annotations

import math
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from sealpost.delivery.session import BrokenTlsHosts, OpenFailure, OutboundSession
from sealpost.delivery.types import OutboundMessage, Outcome, Target
from sealpost.net.stream import Stream
from sealpost.policy.levels import PolicySource, Requirement, TlsLevel
from sealpost.smtp.client_encoding import normalize_line_endings
from tests.fixtures.smtp_sink import SinkCertificates, make_certificates, running_sinks
from tests.integration.test_session_tls import (
    HOST,
    LOOPS,
    MAY,
    MESSAGE,
    SinkFactory,
    deliver,
    delivered,
    run,
    settings,
    target,
)

FAST = {"command_timeout": 0.5, "data_timeout": 0.5}
PLAIN_ONLY = {"starttls": False}


@pytest.fixture
def sinks() -> Iterator[SinkFactory]:
    yield from running_sinks()


@pytest.fixture
def certs(tmp_path: Path) -> SinkCertificates:
    return make_certificates(tmp_path / "pki")


@pytest.fixture(params=sorted(LOOPS))
def loop(request) -> str:
    return request.param


def message(*recipients: str, data: bytes = MESSAGE.data, **flags: bool) -> OutboundMessage:
    return OutboundMessage(
        "m1", "sender@example.org", recipients or MESSAGE.recipients, data, **flags
    )


def lone_line_ending(raw: bytes) -> bool:
    return raw.count(b"\r") != raw.count(b"\r\n") or raw.count(b"\n") != raw.count(b"\r\n")


# -- F3: the wire --------------------------------------------------------------------------------

TRICKY = (
    b"Subject: smuggling\r\n\r\n"
    b"bare LF\nbare CR\rboth\r\n"
    b".leading dot\r\n"
    b"..two dots\n"
    b"\n.\r\nMAIL FROM:<evil@example.com>\r\n"
    b"\r.\r"
    b"end without newline"
)


@pytest.mark.parametrize("tls", [True, False])
def test_sink_sees_crlf_only_and_stuffed_dots(sinks, certs, tls, loop):
    sink = sinks(cert=certs.good, starttls=tls)
    _, outcomes = run(deliver(sink, certs, message=message(data=TRICKY)), loop)
    assert delivered(outcomes)
    assert sink.violations == []  # strict CRLF parsing found nothing
    (received,) = sink.messages
    assert received.tls is tls
    assert not lone_line_ending(received.raw) and received.raw.endswith(b"\r\n.\r\n")
    lines = received.raw[:-3].split(b"\r\n")
    assert b"..leading dot" in lines and b"...two dots" in lines and b".." in lines
    assert received.body == normalize_line_endings(TRICKY) + b"\r\n"
    assert received.recipients == MESSAGE.recipients  # nothing smuggled


def test_eight_bit_message_declares_8bitmime(sinks, certs):
    sink = sinks(cert=certs.good)
    data = "Subject: caf\u00e9\r\n\r\nna\u00efve\r\n".encode()
    _, outcomes = run(deliver(sink, certs, message=message(data=data, eight_bit=True)))
    assert delivered(outcomes) and "BODY=8BITMIME" in sink.messages[0].mail_params
    assert sink.messages[0].body == data and sink.violations == []


# -- refusals before anything is written ------------------------------------------------------


def test_8bit_to_a_peer_without_8bitmime_bounces_without_downgrade(sinks, certs):
    sink = sinks(cert=certs.good, extensions=("PIPELINING",))
    data = "caf\u00e9\r\n".encode()
    _, outcomes = run(deliver(sink, certs, message=message(data=data, eight_bit=True)))
    (outcome,) = outcomes
    assert outcome.outcome is Outcome.PERMANENT and outcome.reply.enhanced == "5.6.3"
    assert "not downgraded" in outcome.reply.text
    assert not any(c.startswith("MAIL") for c in sink.commands)


def test_smtputf8_to_a_peer_without_it_bounces(sinks, certs):
    sink = sinks(cert=certs.good, extensions=("PIPELINING", "8BITMIME"))
    _, outcomes = run(deliver(sink, certs, message=message("j\u00f6rg@example.net")))
    assert outcomes[0].outcome is Outcome.PERMANENT and outcomes[0].reply.enhanced == "5.6.7"
    assert sink.messages == []


def test_smtputf8_to_a_peer_with_it(sinks, certs):
    sink = sinks(cert=certs.good)
    _, outcomes = run(deliver(sink, certs, message=message("j\u00f6rg@example.net", smtputf8=True)))
    assert delivered(outcomes) and "SMTPUTF8" in sink.messages[0].mail_params
    assert sink.violations == []


REQUIRETLS_RULE = Requirement(TlsLevel.VERIFY, PolicySource.REQUIRETLS)


def test_requiretls_over_verified_tls_to_a_requiretls_peer(sinks, certs):
    sink = sinks(cert=certs.good, extensions=("PIPELINING", "REQUIRETLS"))
    msg = message(requiretls=True)
    _, outcomes = run(deliver(sink, certs, REQUIRETLS_RULE, message=msg))
    assert delivered(outcomes) and "REQUIRETLS" in sink.messages[0].mail_params
    assert sink.violations == []


@pytest.mark.parametrize(
    "options, cert",
    [
        ({"extensions": ("PIPELINING",)}, "good"),  # no REQUIRETLS
        ({"extensions": ("REQUIRETLS",)}, "expired"),  # not verified (policy said may)
        ({"extensions": ("REQUIRETLS",), "starttls": False}, "good"),  # plaintext
    ],
)
def test_requiretls_without_verified_tls_or_support_bounces(sinks, certs, options, cert):
    sink = sinks(cert=getattr(certs, cert), **options)
    _, outcomes = run(deliver(sink, certs, MAY, message=message(requiretls=True)))
    (outcome,) = outcomes
    assert outcome.outcome is Outcome.PERMANENT
    assert (outcome.reply.code, outcome.reply.enhanced) == (550, "5.7.30")
    assert sink.messages == [] and not any(c.startswith("MAIL") for c in sink.commands)


# -- K8: refusals and slow replies ---------------------------------------------------------------


def test_per_recipient_outcomes(sinks, certs):
    replies = {
        "RCPT busy@example.net": b"450 4.2.1 try later\r\n",
        "RCPT gone@example.net": b"550 5.1.1 no such user\r\n",
    }
    sink = sinks(cert=certs.good, replies=replies)
    msg = message("busy@example.net", "ok@example.net", "gone@example.net")
    _, outcomes = run(deliver(sink, certs, message=msg))
    assert [(o.address, o.outcome, o.reply.code) for o in outcomes] == [
        ("busy@example.net", Outcome.TRANSIENT, 450),
        ("ok@example.net", Outcome.DELIVERED, 250),
        ("gone@example.net", Outcome.PERMANENT, 550),
    ]
    assert sink.messages[0].recipients == ("ok@example.net",)


@pytest.mark.parametrize("pipelining", [True, False])
def test_no_recipient_accepted_resets_and_stays_usable(sinks, certs, pipelining):
    extensions = ("PIPELINING", "8BITMIME") if pipelining else ("8BITMIME",)
    sink = sinks(cert=certs.good, extensions=extensions, replies={"RCPT": b"550 5.1.1 no\r\n"})

    async def scenario():
        session = await OutboundSession.open(target(sink), MAY, settings(certs), BrokenTlsHosts())
        assert isinstance(session, OutboundSession)
        outcomes = await session.send(message())
        usable = session.usable
        await session.close()
        return outcomes, usable

    outcomes, usable = run(scenario())
    assert outcomes[0].outcome is Outcome.PERMANENT and usable
    assert "RSET" in sink.commands and sink.messages == [] and sink.violations == []
    assert ("DATA" in sink.commands) is pipelining


@pytest.mark.parametrize(
    "key, reply, outcome",
    [
        ("MAIL", b"452 4.3.1 insufficient storage\r\n", Outcome.TRANSIENT),
        ("MAIL", b"553 5.7.1 sender rejected\r\n", Outcome.PERMANENT),
        ("DATA", b"554 5.7.0 no data today\r\n", Outcome.PERMANENT),
        ("DATA", b"451 4.3.0 later\r\n", Outcome.TRANSIENT),
        ("DOT", b"554 5.6.0 content rejected\r\n", Outcome.PERMANENT),
        ("DOT", b"451 4.3.0 queue write error\r\n", Outcome.TRANSIENT),
        ("DOT", b"421 4.3.2 shutting down\r\n", Outcome.TRANSIENT),
        ("RCPT", b"421 4.7.0 too many\r\n", Outcome.TRANSIENT),
    ],
)
def test_transaction_refusals(sinks, certs, key, reply, outcome):
    sink = sinks(cert=certs.good, replies={key: reply})
    _, outcomes = run(deliver(sink, certs))
    (result,) = outcomes
    assert result.outcome is outcome and result.reply.code == int(reply[:3])


@pytest.mark.parametrize(
    "banner, closes",
    [(b"421 4.3.2 busy, come back later\r\n", True), (b"554 5.7.1 no mail here\r\n", False)],
)
def test_refusing_greeting(sinks, certs, banner, closes):
    sink = sinks(cert=certs.good, replies={"BANNER": banner})
    result, _ = run(deliver(sink, certs))
    assert isinstance(result, OpenFailure) and result.outcome is Outcome.TRANSIENT
    assert result.reply.code == int(banner[:3]) and result.tls is None
    assert sink.commands == ([] if closes else ["QUIT"])


def test_ehlo_and_helo_refused(sinks, certs):
    no = b"550 5.7.1 go away\r\n"
    sink = sinks(cert=certs.good, replies={"EHLO": no, "HELO": no})
    result, _ = run(deliver(sink, certs))
    assert isinstance(result, OpenFailure) and result.outcome is Outcome.PERMANENT
    assert sink.commands[:2] == ["EHLO client.example.test", "HELO client.example.test"]


def test_helo_only_peer(sinks, certs):
    sink = sinks(replies={"EHLO": b"502 5.5.2 what is EHLO\r\n"})
    session, outcomes = run(deliver(sink, certs))
    assert delivered(outcomes) and session.tls.offered is False  # type: ignore[union-attr]
    assert sink.violations == []  # nothing pipelined, no parameters without EHLO


def test_slow_replies_within_the_timeouts(sinks, certs):
    sink = sinks(cert=certs.good, stall={"BANNER": 0.2, "MAIL": 0.2, "DOT": 0.3})
    _, outcomes = run(deliver(sink, certs, command_timeout=5, data_timeout=5))
    assert delivered(outcomes)


# -- timeouts --------------------------------------------------------------------------------------


def test_stalled_greeting_times_out(sinks, certs):
    sink = sinks(stall={"BANNER": math.inf})
    result, _ = run(deliver(sink, certs, **FAST))
    assert isinstance(result, OpenFailure) and result.outcome is Outcome.TRANSIENT
    assert result.reply.enhanced == "4.4.2" and "timeout" in result.reply.text


@pytest.mark.parametrize("key", ["MAIL", "RCPT", "DATA"])
def test_stalled_command_reply_is_transient_and_ends_the_session(sinks, certs, key):
    sink = sinks(cert=certs.good, stall={key: math.inf})

    async def scenario():
        session = await OutboundSession.open(
            target(sink), MAY, settings(certs, **FAST), BrokenTlsHosts()
        )
        assert isinstance(session, OutboundSession)
        outcomes = await session.send(message())
        usable = session.usable
        later = await session.send(message())
        await session.close()
        return outcomes, usable, later

    outcomes, usable, later = run(scenario())
    assert outcomes[0].outcome is Outcome.TRANSIENT and "timeout" in outcomes[0].reply.text
    assert not usable and later[0].outcome is Outcome.TRANSIENT
    assert sink.messages == []


def test_stalled_final_reply_is_transient_with_a_possible_duplicate(sinks, certs, loop):
    sink = sinks(cert=certs.good, stall={"DOT": math.inf})
    _, outcomes = run(deliver(sink, certs, command_timeout=5, data_timeout=0.5), loop)
    assert outcomes[0].outcome is Outcome.TRANSIENT and outcomes[0].reply.enhanced == "4.4.2"
    assert len(sink.messages) == 1  # the sink has it: a retry would be a duplicate (RFC 1047)


# -- K7: connection dropped after the final dot ------------------------------------------------


def test_drop_after_the_dot_is_transient_never_delivered(sinks, certs, loop):
    sink = sinks(cert=certs.good, drop_after_dot=True)

    async def scenario():
        session = await OutboundSession.open(target(sink), MAY, settings(certs), BrokenTlsHosts())
        assert isinstance(session, OutboundSession)
        outcomes = await session.send(message("a@example.net", "b@example.net"))
        usable = session.usable
        await session.close()
        return outcomes, usable

    outcomes, usable = run(scenario(), loop)
    assert [o.outcome for o in outcomes] == [Outcome.TRANSIENT, Outcome.TRANSIENT]
    assert all(o.reply.code == 451 and o.reply.enhanced == "4.4.2" for o in outcomes)
    assert not usable
    assert len(sink.messages) == 1  # it was received: the retry is a counted duplicate


# -- connections ---------------------------------------------------------------------------------


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_nothing_listening(certs):
    dead = Target(HOST, ("127.0.0.1",), unused_port())

    async def scenario():
        return await OutboundSession.open(dead, MAY, settings(certs), BrokenTlsHosts())

    result = run(scenario())
    assert isinstance(result, OpenFailure) and result.outcome is Outcome.TRANSIENT
    assert result.reply.enhanced == "4.4.1" and "127.0.0.1" in result.reply.text


def test_next_address_is_tried(sinks, certs, monkeypatch):
    """The first address refuses the connection (simulated: tests use 127.0.0.1 only)."""
    sink = sinks(cert=certs.good)
    real_connect = Stream.connect.__func__  # type: ignore[attr-defined]
    tried: list[str] = []

    async def flaky(cls, host: str, port: int, timeout: float) -> Stream:
        tried.append(host)
        if len(tried) == 1:
            raise ConnectionRefusedError(111, "Connection refused")
        return await real_connect(cls, host, port, timeout)

    monkeypatch.setattr(Stream, "connect", classmethod(flaky))
    two = Target(HOST, ("127.0.0.1", "127.0.0.1"), sink.port)

    async def scenario():
        session = await OutboundSession.open(two, MAY, settings(certs), BrokenTlsHosts())
        assert isinstance(session, OutboundSession)
        outcomes = await session.send(message())
        await session.close()
        return outcomes

    assert delivered(run(scenario())) and len(tried) == 2
    assert len(sink.sessions) == 1


def test_two_messages_on_one_session_with_rset_between(sinks, certs, loop):
    sink = sinks(cert=certs.good)

    async def scenario():
        session = await OutboundSession.open(target(sink), MAY, settings(certs), BrokenTlsHosts())
        assert isinstance(session, OutboundSession)
        first = await session.send(message("a@example.net"))
        between = session.usable
        second = await session.send(message("b@example.net", data=b"second\r\n"))
        after = session.usable
        await session.close()
        return first, between, second, after, session.messages_sent

    first, between, second, after, count = run(scenario(), loop)
    assert delivered(first) and delivered(second) and between and after and count == 2
    assert len(sink.sessions) == 1 and len(sink.messages) == 2
    commands = sink.commands
    second_mail = [i for i, c in enumerate(commands) if c.startswith("MAIL")][1]
    assert commands[second_mail - 1] == "RSET"
    assert commands[-1] == "QUIT" and sink.violations == []
    assert [m.recipients for m in sink.messages] == [("a@example.net",), ("b@example.net",)]


def test_server_closing_between_messages_makes_the_session_unusable(sinks, certs):
    sink = sinks(cert=certs.good, replies={"RSET": b"421 4.4.2 idle too long\r\n"})

    async def scenario():
        session = await OutboundSession.open(target(sink), MAY, settings(certs), BrokenTlsHosts())
        assert isinstance(session, OutboundSession)
        first = await session.send(message("a@example.net"))
        second = await session.send(message("b@example.net"))
        usable = session.usable
        await session.close()
        return first, second, usable

    first, second, usable = run(scenario())
    assert delivered(first) and second[0].outcome is Outcome.TRANSIENT and not usable
