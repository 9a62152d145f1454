"""Property tests of the whole session (checklist G11/L1): in every state, any bytes in any
chunking never raise and every reply is a well-formed 2xx-5xx reply."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sealpost.smtp.server import Close, Event, Send
from tests.unit.test_smtp_support import Driver, driver, plain, submission

REPLY_LINE = re.compile(r"^[2-5]\d\d([ -]|$)")

TOKENS = [
    b"EHLO client.test\r\n",
    b"HELO client.test\r\n",
    b"MAIL FROM:<a@b.test>\r\n",
    b"MAIL FROM:<> SIZE=10 BODY=8BITMIME SMTPUTF8\r\n",
    b"RCPT TO:<u@example.test>\r\n",
    b"RCPT TO:<x@remote.test>\r\n",
    b"DATA\r\n",
    b".\r\n",
    b"\r\n.\r\n",
    b"..\r\n",
    b"\r\n",
    b"\n",
    b"\r",
    b"\0",
    b"\xff\xfe",
    "é".encode(),
    b"STARTTLS\r\n",
    b"AUTH PLAIN\r\n",
    b"AUTH LOGIN\r\n",
    b"AUTH PLAIN " + plain("alice", "secret").encode() + b"\r\n",
    b"YWxpY2U=\r\n",
    b"*\r\n",
    b"RSET\r\n",
    b"NOOP\r\n",
    b"VRFY x\r\n",
    b"QUIT\r\n",
    b"BDAT 10 LAST\r\n",
    b"A" * 700,
]

streams = st.lists(st.sampled_from(TOKENS) | st.binary(max_size=24), max_size=25).map(b"".join)
cuts = st.lists(st.integers(min_value=1, max_value=64), max_size=12)


def fresh() -> Driver:
    return driver()


def after_ehlo() -> Driver:
    d = driver()
    d.cmd("EHLO client.test")
    return d


def after_mail() -> Driver:
    d = after_ehlo()
    d.cmd("MAIL FROM:<a@b.test>")
    return d


def after_rcpt() -> Driver:
    d = after_mail()
    d.cmd("RCPT TO:<u@example.test>")
    return d


def in_data() -> Driver:
    d = after_rcpt()
    d.cmd("DATA")
    assert d.session.in_data
    return d


def inside_tls() -> Driver:
    d = submission()
    d.users = {"alice": ("secret", None)}
    return d


def during_auth() -> Driver:
    d = inside_tls()
    d.cmd("AUTH LOGIN")
    return d


STATES: dict[str, Callable[[], Driver]] = {
    "fresh": fresh,
    "after_ehlo": after_ehlo,
    "after_mail": after_mail,
    "after_rcpt": after_rcpt,
    "in_data": in_data,
    "inside_tls": inside_tls,
    "during_auth": during_auth,
}


def check(events: list[Event], closed_before: bool) -> None:
    if closed_before:
        assert events == []
    for event in events:
        if isinstance(event, Send):
            assert 200 <= event.reply.code <= 599
            wire = event.reply.to_bytes()
            assert wire.endswith(b"\r\n")
            for line in wire[:-2].split(b"\r\n"):
                assert REPLY_LINE.match(line.decode()), wire
    closes = [i for i, e in enumerate(events) if isinstance(e, Close)]
    assert closes in ([], [len(events) - 1])


@pytest.mark.parametrize("state", STATES)
@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(stream=streams, sizes=cuts, answer=st.booleans())
def test_any_input_in_any_state(state: str, stream: bytes, sizes: list[int], answer: bool):
    d = STATES[state]()
    pos = 0
    pieces = []
    for size in sizes:
        pieces.append(stream[pos : pos + size])
        pos += size
    pieces.append(stream[pos:])
    for piece in pieces:
        closed = d.session.closed
        # the driver answers TLS, AUTH and store requests; otherwise input piles up
        events = d.feed(piece) if answer else d.session.feed(piece)
        check(events, closed)
    closed = d.session.closed
    check(d.session.timeout(), closed)
    assert d.session.closed
