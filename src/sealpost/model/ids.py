"""Message identifiers: sortable by creation time, unique without coordination.

20 lowercase base32 characters: 48 bits of milliseconds since the epoch, then 52 random bits.
Sorting ids sorts messages by arrival, which keeps queue listings and store indexes cheap.
"""

from __future__ import annotations

import secrets
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case


def new_message_id(now: float | None = None) -> str:
    millis = int((time.time() if now is None else now) * 1000) & ((1 << 48) - 1)
    value = (millis << 52) | secrets.randbits(52)
    chars = []
    for _ in range(20):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))
