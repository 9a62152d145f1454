"""The client's wire formats: strict reply parsing, EHLO extensions, the DATA payload
(dot-stuffing, CRLF only: checklist F3) and the envelope checks (checklist I3)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sealpost.model.reply import Reply
from sealpost.smtp.client_encoding import (
    address_problem,
    decode_data,
    encode_data,
    helo_problem,
    normalize_line_endings,
)
from sealpost.smtp.client_extensions import Extensions
from sealpost.smtp.client_replies import ReplyFault, ReplyReader


def replies(data: bytes, chunk: int | None = None) -> list[Reply | ReplyFault]:
    reader = ReplyReader()
    out: list[Reply | ReplyFault] = []
    pieces = [data] if chunk is None else [data[i : i + chunk] for i in range(0, len(data), chunk)]
    for piece in pieces:
        reader.feed(piece)
        while (item := reader.next_reply()) is not None:
            out.append(item)
            if isinstance(item, ReplyFault):
                return out
    return out


# -- replies ---------------------------------------------------------------------------------


def test_single_and_multiline_replies():
    assert replies(b"250 ok\r\n") == [Reply(250, None, ("ok",))]
    assert replies(b"250-first\r\n250-\r\n250 last\r\n") == [
        Reply(250, None, ("first", "", "last"))
    ]
    assert replies(b"221\r\n") == [Reply(221, None, ("",))]


def test_enhanced_status_codes_are_taken_out_of_every_line():
    assert replies(b"550-5.1.1 no such\r\n550 5.1.1 user here\r\n") == [
        Reply(550, "5.1.1", ("no such", "user here"))
    ]
    assert replies(b"250 2.0.0\r\n") == [Reply(250, "2.0.0", ("",))]


def test_enhanced_code_of_another_class_is_text():
    assert replies(b"250 5.1.1 odd\r\n") == [Reply(250, None, ("5.1.1 odd",))]
    assert replies(b"250 2.0 short\r\n") == [Reply(250, None, ("2.0 short",))]


@pytest.mark.parametrize("chunk", [1, 2, 3, 7])
def test_byte_by_byte_feeding_gives_the_same_replies(chunk):
    data = b"220 hi\r\n250-a\r\n250 b\r\n354 go\r\n"
    assert replies(data, chunk) == replies(data)
    assert len(replies(data, chunk)) == 3


def test_utf8_text_is_tolerated():
    assert replies("250 caf\u00e9\r\n".encode()) == [Reply(250, None, ("caf\u00e9",))]


@pytest.mark.parametrize(
    "data, detail",
    [
        (b"250 ok\n", "CRLF"),
        (b"\n", "CRLF"),
        (b"250 a\rb\r\n", "malformed"),
        (b"250 a\x00\r\n", "malformed"),
        (b"250 a\x1b[1m\r\n", "malformed"),
        (b"25 ok\r\n", "malformed"),
        (b"600 ok\r\n", "malformed"),
        (b"260 ok\r\n", "malformed"),
        (b"250_ok\r\n", "malformed"),
        (b"250-a\r\n550 b\r\n", "code changed"),
        (b"250 " + b"a" * 509 + b"\r\n", "longer than 512"),
        (b"250 " + b"a" * 600, "longer than 512"),
        (b"250-a\r\n" * 201, "lines"),
    ],
)
def test_malformed_replies_are_faults(data, detail):
    out = replies(data)
    assert isinstance(out[-1], ReplyFault) and detail in out[-1].detail


def test_longest_allowed_line():
    assert replies(b"250 " + b"a" * 506 + b"\r\n")[0] == Reply(250, None, ("a" * 506,))


@given(st.binary(max_size=300))
def test_reader_never_raises(data):
    for item in replies(data):
        assert isinstance(item, (Reply, ReplyFault))
        if isinstance(item, Reply):
            assert 200 <= item.code < 600


def test_clear_forgets_a_partial_reply():
    reader = ReplyReader()
    reader.feed(b"250-fake\r\n250 AU")
    assert reader.next_reply() is None
    reader.clear()
    reader.feed(b"220 real\r\n")
    assert reader.next_reply() == Reply(220, None, ("real",))


# -- EHLO extensions ---------------------------------------------------------------------------


def test_extensions_parse():
    reply = Reply(
        250,
        None,
        ("mx.example.test greets you", "pipelining", "SIZE", "AUTH=LOGIN PLAIN", "X-?? junk"),
    )
    ext = Extensions.parse(reply)
    assert ext.server_name == "mx.example.test"
    assert ext.pipelining and ext.size_limit == 0
    assert ext.auth_mechanisms == {"LOGIN", "PLAIN"}
    assert not ext.starttls and not ext.has("X-??")
    assert Extensions.none().size_limit is None and not Extensions.none().esmtp


# -- the DATA payload (F3) ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "data, wire",
    [
        (b"", b".\r\n"),
        (b"a\r\nb\r\n", b"a\r\nb\r\n.\r\n"),
        (b"a\r\nb", b"a\r\nb\r\n.\r\n"),
        (b".", b"..\r\n.\r\n"),
        (b".leading\r\n.\r\n..two\r\n", b"..leading\r\n..\r\n...two\r\n.\r\n"),
        (b"bare\nlf\n.\n", b"bare\r\nlf\r\n..\r\n.\r\n"),
        (b"bare\rcr\r.\r", b"bare\r\ncr\r\n..\r\n.\r\n"),
        (b"mixed\r\r\n\n.\r\n", b"mixed\r\n\r\n\r\n..\r\n.\r\n"),
        (b"smuggle\n.\r\nMAIL FROM:<x>\r\n", b"smuggle\r\n..\r\nMAIL FROM:<x>\r\n.\r\n"),
        (b"\r\n.\r\n", b"\r\n..\r\n.\r\n"),
    ],
)
def test_encode_data(data, wire):
    assert encode_data(data)[0] == wire


def test_size_counts_the_message_before_stuffing():
    assert encode_data(b".a\nb")[1] == len(b".a\r\nb\r\n")


def lone_line_ending(wire: bytes) -> bool:
    return wire.count(b"\r") != wire.count(b"\r\n") or wire.count(b"\n") != wire.count(b"\r\n")


@given(st.lists(st.sampled_from([b"a", b".", b"\r", b"\n", b"\r\n", b"\x00", b"\xff", b" "])))
def test_encoded_data_is_wire_safe_and_round_trips(parts):
    data = b"".join(parts)
    wire, size = encode_data(data)
    assert not lone_line_ending(wire)
    assert wire.endswith(b"\r\n.\r\n") or wire == b".\r\n"
    body = wire[:-3]
    assert b"\r\n.\r\n" not in b"\r\n" + body  # no early end of data
    assert all(not line.startswith(b".") or line.startswith(b"..") for line in body.split(b"\r\n"))
    text = normalize_line_endings(data)
    expected = text if not text or text.endswith(b"\r\n") else text + b"\r\n"
    assert decode_data(wire) == expected and size == len(expected)


def test_large_message():
    data = (b"line of text\n.dot line\r\n" * 200_000)[:5_000_000]
    wire, size = encode_data(data)
    text = normalize_line_endings(data)
    text += b"" if text.endswith(b"\r\n") else b"\r\n"
    assert not lone_line_ending(wire) and size == len(text) and decode_data(wire) == text


# -- envelope checks (I3) ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    ["user@example.com", "first.last+tag@sub.example.com", "j\u00f6rg@example.de", "a@[127.0.0.1]"],
)
def test_good_addresses(address):
    assert address_problem(address) is None


def test_null_sender_only_as_sender():
    assert address_problem("", sender=True) is None
    assert address_problem("") is not None
    assert address_problem("postmaster") is None
    assert address_problem("postmaster", sender=True) is not None


@pytest.mark.parametrize(
    "name", ["mx.example.com", "localhost", "[192.0.2.1]", "[IPv6:2001:db8::1]", "a-b.c"]
)
def test_good_helo_names(name):
    assert helo_problem(name) is None


@pytest.mark.parametrize("name", ["mx.example.com XCLIENT", "-a.b", "a..b", "a\r\n", "[1.2.3.4"])
def test_bad_helo_names(name):
    assert helo_problem(name) is not None
