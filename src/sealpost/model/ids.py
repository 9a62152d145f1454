"""Message identifiers: sortable by creation time, unique without coordination.

20 lowercase base32 characters: 48 bits of milliseconds since the epoch, then 52 random bits.
Sorting ids sorts messages by arrival, which keeps queue listings and store indexes cheap.

The random bits come from the kernel's CSPRNG (``os.urandom``), read 4 KiB at a time rather
than one ``getrandom`` call per id (that call was 2-3% of the event loop under load, see
docs/benchmarks.md "Profile"). The buffer is dropped in a forked child (``os.register_at_fork``)
so that two worker processes never hand out the same bits.
"""

from __future__ import annotations

import os
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case
_CHUNK = 4096
_RANDOM_BYTES = 7  # 56 bits drawn, 52 used


class _RandomBits:
    """Random 52-bit values from a buffer of ``os.urandom`` bytes, refilled when used up."""

    def __init__(self) -> None:
        self._buffer = b""
        self._offset = 0

    def reset(self) -> None:
        self._buffer, self._offset = b"", 0

    def next52(self) -> int:
        if self._offset + _RANDOM_BYTES > len(self._buffer):
            self._buffer, self._offset = os.urandom(_CHUNK), 0
        start = self._offset
        self._offset = start + _RANDOM_BYTES
        return int.from_bytes(self._buffer[start : self._offset], "big") >> 4


_BITS = _RandomBits()
os.register_at_fork(after_in_child=_BITS.reset)


def new_message_id(now: float | None = None) -> str:
    millis = int((time.time() if now is None else now) * 1000) & ((1 << 48) - 1)
    value = (millis << 52) | _BITS.next52()
    chars = []
    for _ in range(20):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))
