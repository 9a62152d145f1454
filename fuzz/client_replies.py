#!/usr/bin/env python3
"""Fuzz target: the outbound client's reply reader (``sealpost.smtp.client_replies``).

The input is a server's byte stream and the chunks it arrives in (``chunking.split``).
``ReplyReader.next_reply`` documents its results: a ``Reply``, a ``ReplyFault`` (final: the
client stops reading) or ``None`` (more input needed); it raises nothing. Invariants:

1. No exception escapes.
2. Every reply is one RFC 5321 section 4.2 reply: code 200-559, a class digit 2-5, text lines
   without CR, LF or NUL, an enhanced code (when taken out of the text) of the reply's class;
   its wire form reads back as the same reply (but for spaces the wire form cannot keep).
3. ``buffered`` never exceeds what was fed.
4. Chunking invariance: any chunking gives the same replies and the same final fault.

Run: ``python fuzz/client_replies.py fuzz/corpus/client_replies -dict=fuzz/client_replies.dict``.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parent))
from chunking import split

with atheris.instrument_imports(include=["sealpost"]):
    from sealpost.model.reply import Reply
    from sealpost.smtp.client_replies import ReplyFault, ReplyReader

_ENHANCED = re.compile(r"[245]\.\d{1,3}\.\d{1,3}")
Outcome = list[Reply | ReplyFault]


def read(chunks: tuple[bytes, ...], flags: int) -> Outcome:
    reader = ReplyReader(max_line=16 + flags % 64) if flags & 0x80 else ReplyReader()
    out: Outcome = []
    fed = 0
    for chunk in chunks:
        reader.feed(chunk)
        fed += len(chunk)
        while True:
            result = reader.next_reply()
            assert reader.buffered <= fed
            if result is None:
                break
            out.append(result)
            if isinstance(result, ReplyFault):
                return out
    return out


def check_reply(reply: Reply) -> None:
    assert 200 <= reply.code <= 559 and reply.code % 100 <= 59, reply
    assert reply.lines, reply
    for line in reply.lines:
        assert not set(line) & {"\r", "\n", "\0"}, reply
    if reply.enhanced is not None:
        assert _ENHANCED.fullmatch(reply.enhanced), reply
        assert reply.enhanced[0] == str(reply.code)[0], reply
    again = ReplyReader(max_line=1 << 20)
    again.feed(reply.to_bytes())
    assert trimmed(again.next_reply()) == trimmed(reply), (reply, reply.to_bytes())


def trimmed(reply: Reply | ReplyFault | None) -> object:
    """A reply without the spaces its wire form cannot keep: trailing ones, and after an
    enhanced code the leading ones (it is followed by ``SP+``)."""
    if not isinstance(reply, Reply):
        return reply
    strip = str.strip if reply.enhanced else str.rstrip
    return Reply(reply.code, reply.enhanced, tuple(strip(line, " ") for line in reply.lines))


def test_one_input(data: bytes) -> None:
    fuzz = split(data)
    outcome = read(fuzz.chunks, fuzz.flags)
    for result in outcome:
        if isinstance(result, Reply):
            check_reply(result)
    whole = read((fuzz.stream,) if fuzz.stream else (), fuzz.flags)
    assert whole == outcome, ("the chunking changed the replies", whole, outcome)


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
