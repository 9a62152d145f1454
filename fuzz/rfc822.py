#!/usr/bin/env python3
"""Fuzz target: the ``email_rfc822`` normaliser (``sealpost.compose.rfc822.normalise``).

The input is the caller's message text: UTF-8, with invalid octets read as lone surrogates
(a JSON ``"\\ud800"`` escape reaches the API as one). ``normalise`` documents one error,
``Refused`` (``BadAddress`` is one), which the API answers with a 422. Invariants:

1. No exception but ``Refused`` escapes.
2. An accepted message cannot smuggle anything onto the wire: its bytes are UTF-8 with CRLF
   line endings only (no bare CR or LF), no NUL, every line at most 998 octets (RFC 5322
   section 2.1.1), and it ends in CRLF; its header section is ``Name: value`` lines and
   their continuations only, and holds a Date and a Message-ID.
3. The sender is an address with a local part and a domain, made only of characters that
   the From header holds (nothing is lost or replaced on the way to the envelope).
4. Normalising is idempotent: the output, normalised again, is the same message.

Run: ``python fuzz/rfc822.py fuzz/corpus/rfc822 -dict=fuzz/rfc822.dict``.
"""

from __future__ import annotations

import re
import sys

import atheris

with atheris.instrument_imports(include=["sealpost", "email"]):
    from sealpost.compose.refusal import Refused
    from sealpost.compose.rfc822 import normalise

HOST = "mx.example.test"
NOW = 1767225600.0
_HEADER = re.compile(rb"[\x21-\x39\x3b-\x7e]+[ \t]*:|[ \t]")


def check(data: bytes, sender: str) -> None:
    data.decode("utf-8")
    assert data.endswith(b"\r\n"), data[-20:]
    lines = data[:-2].split(b"\r\n")
    for line in lines:
        assert b"\r" not in line and b"\n" not in line, ("bare CR or LF", line)
        assert b"\0" not in line, "NUL"
        assert len(line) <= 998, ("line over 998 octets", len(line))
    head = lines[: lines.index(b"")] if b"" in lines else lines
    names: list[bytes] = []
    from_text = ""
    for line in head:
        assert _HEADER.match(line), ("not a header line", line)
        if line[:1] not in b" \t":
            names.append(line.split(b":", 1)[0].strip().lower())
        if names[-1] == b"from":
            from_text += line.decode("utf-8")
    assert {b"date", b"message-id"} <= set(names), names
    local, at, domain = sender.rpartition("@")
    assert at and local and domain, sender
    assert set(sender) <= set(from_text), ("sender not taken from the From header", sender)


def test_one_input(data: bytes) -> None:
    text = data.decode("utf-8", "surrogateescape")
    try:
        message = normalise(text, hostname=HOST, now=NOW)
    except Refused:
        return
    check(message.data, message.sender.email)
    again = normalise(message.data.decode("utf-8"), hostname=HOST, now=NOW + 1)
    assert again == message, ("not idempotent", message, again)


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
