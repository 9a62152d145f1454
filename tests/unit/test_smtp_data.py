"""The DATA reader: end detection, unstuffing, strict line endings, limits, chunking."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sealpost.smtp.data import DataLimits, DataOutcome, DataProblem, DataReader

LIMITS = DataLimits(max_size=100_000)
MESSAGE = b"Subject: hello\r\nFrom: a@b.test\r\n\r\nline one\r\n.leading dot\r\n..two\r\n"
WIRE = b"Subject: hello\r\nFrom: a@b.test\r\n\r\nline one\r\n..leading dot\r\n...two\r\n.\r\n"


def read(wire: bytes, chunks: list[int] | None = None, limits: DataLimits = LIMITS):
    """Feed ``wire`` cut at the given sizes; return (outcome, bytes left over)."""
    reader = DataReader(limits)
    pieces: list[bytes] = []
    pos = 0
    for size in chunks or []:
        pieces.append(wire[pos : pos + size])
        pos += size
    pieces.append(wire[pos:])
    leftover = b""
    for piece in pieces:
        if reader.done:
            leftover += piece
            continue
        used = reader.feed(piece)
        leftover += piece[used:]
    return reader.outcome, leftover


def test_simple_message_is_unstuffed():
    outcome, rest = read(WIRE)
    assert outcome == DataOutcome(None, MESSAGE, len(MESSAGE), False)
    assert rest == b""


def test_dot_line_first_is_empty_message():
    outcome, rest = read(b".\r\nQUIT\r\n")
    assert outcome == DataOutcome(None, b"", 0, False)
    assert rest == b"QUIT\r\n"


def test_what_follows_the_end_is_left_for_commands():
    outcome, rest = read(WIRE + b"MAIL FROM:<a@b.test>\r\n")
    assert outcome is not None and outcome.data == MESSAGE
    assert rest == b"MAIL FROM:<a@b.test>\r\n"


def test_not_done_without_end():
    reader = DataReader(LIMITS)
    assert reader.feed(b"Subject: x\r\n\r\nbody\r\n") == 20
    assert not reader.done and reader.outcome is None
    assert reader.feed(b".\r") == 2
    assert not reader.done
    assert reader.feed(b"\nNEXT") == 1
    assert reader.done


def test_every_split_position_single_cut():
    wire = WIRE + b"RSET\r\n"
    for cut in range(len(wire) + 1):
        outcome, rest = read(wire, [cut])
        assert outcome is not None and outcome.data == MESSAGE, cut
        assert rest == b"RSET\r\n", cut


def test_every_split_position_byte_by_byte_and_pairs():
    wire = WIRE + b"RSET\r\n"
    outcome, rest = read(wire, [1] * len(wire))
    assert outcome is not None and outcome.data == MESSAGE
    assert rest == b"RSET\r\n"
    for first in range(len(wire)):
        for second in range(0, min(8, len(wire) - first)):
            outcome, rest = read(wire, [first, second])
            assert outcome is not None and outcome.data == MESSAGE, (first, second)
            assert rest == b"RSET\r\n"


@pytest.mark.parametrize(
    "ending",
    [b"\n.\n", b"\n.\r\n", b"\r\n.\n", b"\r.\r", b"\r.\n", b"\n.\r", b"\r.\r\n", b"\r\n.\r"],
)
def test_smuggling_endings_do_not_end_data_and_reject(ending: bytes):
    smuggled = b"MAIL FROM:<ceo@bank.test>\r\nRCPT TO:<v@example.test>\r\nDATA\r\nevil\r\n"
    wire = b"Subject: real\r\n\r\nbody" + ending + smuggled + b".\r\nQUIT\r\n"
    for cut in range(len(wire) + 1):
        outcome, rest = read(wire, [cut])
        assert outcome is not None
        assert outcome.problem is DataProblem.BARE_LINE_ENDING, (ending, cut)
        assert rest == b"QUIT\r\n"


def test_nul_before_dot_does_not_end_data():
    wire = b"body\r\n\x00.\r\nMAIL FROM:<x@y.test>\r\n.\r\n"
    outcome, rest = read(wire)
    assert outcome is not None and outcome.problem is DataProblem.NUL
    assert rest == b""


@pytest.mark.parametrize("text", [b"a\rb\r\n", b"a\nb\r\n", b"\n\r\n", b"a\r\r\n", b"x\n\r"])
def test_bare_cr_or_lf_anywhere(text: bytes):
    outcome, _ = read(text + b"\r\n.\r\n")
    assert outcome is not None and outcome.problem is DataProblem.BARE_LINE_ENDING


def test_eight_bit_detected():
    outcome, _ = read("Subject: é\r\n\r\nbody\r\n.\r\n".encode())
    assert outcome is not None and outcome.problem is None and outcome.eight_bit


def test_line_limit_is_inclusive_of_crlf():
    ok = b"x" * 998 + b"\r\n"
    outcome, _ = read(b"\r\n" + ok + b".\r\n")
    assert outcome is not None and outcome.problem is None
    outcome, _ = read(b"\r\n" + b"x" + ok + b".\r\n")
    assert outcome is not None and outcome.problem is DataProblem.LINE_TOO_LONG
    # the doubled leading dot does not count (RFC 5321 4.5.3.1.6)
    outcome, _ = read(b"\r\n.." + b"x" * 997 + b"\r\n.\r\n")
    assert outcome is not None and outcome.problem is None
    assert outcome.data == b"\r\n." + b"x" * 997 + b"\r\n"
    outcome, _ = read(b"\r\n.." + b"x" * 998 + b"\r\n.\r\n")
    assert outcome is not None and outcome.problem is DataProblem.LINE_TOO_LONG


def test_long_line_in_middle_of_big_message():
    body = (b"y" * 70 + b"\r\n") * 50 + b"z" * 1500 + b"\r\n" + (b"y" * 70 + b"\r\n") * 50
    for chunks in (None, [3000], [1] * 10 + [4000]):
        outcome, _ = read(b"\r\n" + body + b".\r\n", chunks)
        assert outcome is not None and outcome.problem is DataProblem.LINE_TOO_LONG


def test_endless_line_memory_bounded_and_stays_in_sync():
    reader = DataReader(LIMITS)
    for _ in range(100):  # 6.4 MB with no LF at all
        reader.feed(b"a" * 65536)
        assert len(reader._buf) < 70_000
    used = reader.feed(b"\r\n.\r\nNOOP\r\n")
    assert reader.outcome is not None
    assert reader.outcome.problem is DataProblem.LINE_TOO_LONG
    assert used == 5


def test_too_big_stops_keeping_bytes():
    limits = DataLimits(max_size=10_000)
    reader = DataReader(limits)
    line = b"z" * 98 + b"\r\n"
    for _ in range(2000):
        reader.feed(line * 10)
    assert len(reader._buf) < 20_000
    assert not reader.done
    assert reader.feed(b".\r\n") == 3
    assert reader.outcome is not None and reader.outcome.problem is DataProblem.TOO_BIG


def test_size_limit_applies_after_unstuffing():
    limits = DataLimits(max_size=40)
    exact = b"..\r\n" * 10  # 40 octets on the wire, 30 after unstuffing
    outcome, _ = read(exact + b".\r\n", limits=limits)
    assert outcome is not None and outcome.problem is None and outcome.size == 30
    outcome, _ = read(b"a" * 39 + b"\r\n.\r\n", limits=limits)
    assert outcome is not None and outcome.problem is DataProblem.TOO_BIG


def test_skipping_finds_end_split_across_chunks():
    limits = DataLimits(max_size=100)
    wire = b"q" * 300 + b"\r\n.\r\nRSET\r\n"
    for cut in range(250, len(wire)):
        outcome, rest = read(wire, [200, cut - 200], limits)
        assert outcome is not None and outcome.problem is DataProblem.TOO_BIG
        assert rest == b"RSET\r\n", cut


def test_header_field_too_long_counts_continuations():
    folded = b"X-Big: a\r\n" + b" " + b"b" * 900 + b"\r\n"
    header = folded + b"".join(b" " + b"c" * 900 + b"\r\n" for _ in range(120))
    outcome, _ = read(header + b"\r\nbody\r\n.\r\n", limits=DataLimits(max_size=10**6))
    assert outcome is not None and outcome.problem is DataProblem.HEADER_TOO_LONG


def test_big_header_spread_over_fields_is_fine():
    header = b"".join(b"X-H%d: " % i + b"v" * 200 + b"\r\n" for i in range(600))
    outcome, _ = read(header + b"\r\nbody\r\n.\r\n", limits=DataLimits(max_size=10**6))
    assert outcome is not None and outcome.problem is None


def test_too_many_header_fields():
    header = b"".join(b"X-H%d: v\r\n" % i for i in range(1001))
    outcome, _ = read(header + b"\r\nbody\r\n.\r\n")
    assert outcome is not None and outcome.problem is DataProblem.TOO_MANY_HEADERS
    header = b"".join(b"X-H%d: v\r\n" % i for i in range(1000))
    outcome, _ = read(header + b"\r\nbody\r\n.\r\n")
    assert outcome is not None and outcome.problem is None


def test_many_continuation_lines_are_not_fields():
    header = b"X-Long: a\r\n" + b" b\r\n" * 1500
    outcome, _ = read(header + b"\r\nbody\r\n.\r\n")
    assert outcome is not None and outcome.problem is None


def test_body_lines_are_not_headers():
    body = b"".join(b"line %d: v\r\n" % i for i in range(5000))
    outcome, _ = read(b"Subject: x\r\n\r\n" + body + b".\r\n")
    assert outcome is not None and outcome.problem is None


def test_fed_after_done_consumes_nothing():
    reader = DataReader(LIMITS)
    reader.feed(b".\r\n")
    assert reader.feed(b"more") == 0


# -- property: stuffed text unstuffs to the original whatever the chunking ----------------

line_text = st.binary(max_size=40).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b""))


def stuff(lines: list[bytes]) -> bytes:
    return b"".join((b"." + ln if ln.startswith(b".") else ln) + b"\r\n" for ln in lines)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(line_text | st.sampled_from([b".", b"..", b".x", b""]), max_size=30),
    st.lists(st.integers(min_value=0, max_value=40), max_size=10),
    st.binary(max_size=20),
)
def test_property_unstuff_round_trip(lines: list[bytes], cuts: list[int], after: bytes):
    original = b"".join(ln + b"\r\n" for ln in lines)
    wire = stuff(lines) + b".\r\n"
    outcome, rest = read(wire + after, cuts)
    assert outcome is not None
    expected_problem = DataProblem.NUL if b"\0" in original else None
    assert outcome.problem is expected_problem
    if expected_problem is None:
        assert outcome.data == original
        assert outcome.eight_bit == (not original.isascii())
    assert rest == after
