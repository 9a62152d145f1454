"""How a fuzz input becomes a byte stream and the chunk boundaries it arrives in.

The stream targets (``smtp_server``, ``client_replies``) read one input as::

    flags (1 octet) | n (1 octet) | stream ... | n cut octets

Each cut octet ``c`` is the length ``c + 1`` of the next chunk; what is left after the
last cut is the final chunk. The stream sits in the middle so that a seed file is a
readable transcript behind two header octets, and libFuzzer's dictionary entries (SMTP
verbs) land in it; the mutator also changes the cuts, so the fuzzer picks the chunk
boundaries as well as the bytes.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_CUTS = 32


@dataclass(frozen=True, slots=True)
class Input:
    flags: int
    stream: bytes
    chunks: tuple[bytes, ...]


def split(data: bytes) -> Input:
    """``data`` as flags, the stream, and the stream cut into chunks (none empty)."""
    if len(data) < 2:
        return Input(data[0] if data else 0, b"", ())
    flags, count = data[0], data[1] % (MAX_CUTS + 1)
    body = data[2:]
    count = min(count, len(body))
    stream, cuts = (body[: len(body) - count], body[len(body) - count :]) if count else (body, b"")
    chunks: list[bytes] = []
    pos = 0
    for cut in cuts:
        if pos >= len(stream):
            break
        chunks.append(stream[pos : pos + cut + 1])
        pos += cut + 1
    if pos < len(stream):
        chunks.append(stream[pos:])
    return Input(flags, stream, tuple(chunks))


def at_line_ends(chunks: tuple[bytes, ...]) -> tuple[bytes, ...]:
    """The same stream keeping only the cuts that fall right after an LF: the chunking
    that line-based readers cannot tell apart from ``chunks``."""
    merged: list[bytes] = []
    pending = b""
    for chunk in chunks:
        pending += chunk
        if pending.endswith(b"\n"):
            merged.append(pending)
            pending = b""
    if pending:
        merged.append(pending)
    return tuple(merged)


def join(data: bytes, flags: int = 0, cuts: bytes = b"") -> bytes:
    """The fuzz input for ``data`` (used to write seed files and regression inputs)."""
    return bytes([flags, len(cuts)]) + data + cuts
