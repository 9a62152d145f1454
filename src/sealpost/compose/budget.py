"""How many bytes a composed message may still grow by, spent while it is being built.

DESIGN section 9: every size is bounded after expansion, not only on the wire. A small
request can name a large value many times (``{{a}}`` a thousand times over 10 KB of
``substitution_data``), so the API caps each message at ``[server] max_message_size`` (the
SMTP limit, RFC 1870) and a whole transmission at ``[api] max_transmission_bytes``. The
budget is spent as the output is produced: each substituted piece and literal run (after
HTML escaping, in octets as quoted-printable will write it: an ASCII character as one, every
octet of a non-ASCII character as three, RFC 2045 section 6.7) and each attachment's base64
size before it is encoded.
Expansion therefore stops as soon as the message would pass the cap instead of being built
and then measured; MIME structure and quoted-printable only add a bounded factor, and the
finished message is measured exactly once more (``check_size``). ``TooLarge`` is a
``Refused``: 422 with SparkPost's code 1300 ("invalid data format/type/length").
"""

from __future__ import annotations

from sealpost.compose.refusal import Refused

BASE64_LINE = 76  # RFC 2045 section 6.8, with CRLF after each line (compose.mime)
_ASCII = bytes(range(128))


class TooLarge(Refused):
    """The message, or the transmission, would pass its size cap."""


class Budget:
    """Octets one message may still take. ``limit`` is the smaller of the message cap and
    what the transmission has left; ``what`` names that cap for the error."""

    __slots__ = ("limit", "rcpt", "used", "what")

    def __init__(self, limit: int, what: str, rcpt: str = "the message") -> None:
        self.limit = limit
        self.what = what
        self.rcpt = rcpt
        self.used = 0

    def spend(self, field: str, octets: int) -> None:
        """Count ``octets`` more of output produced for ``field``; ``TooLarge`` past the cap."""
        self.used += octets
        if self.used > self.limit:
            raise TooLarge(field, f"{self.rcpt} would be larger than {self.what}")

    def spend_text(self, field: str, text: str) -> None:
        """Spend ``text`` as it will be written: ASCII as is, other octets as ``=XX``."""
        if text.isascii():
            self.spend(field, len(text))
            return
        encoded = text.encode("utf-8", "replace")
        self.spend(field, len(encoded) + 2 * len(encoded.translate(None, _ASCII)))


def for_message(
    rcpt: str, *, max_message: int, transmission_left: int, max_transmission: int
) -> Budget:
    """The budget of one recipient's message (``rcpt`` names it: ``recipients[3]``)."""
    if transmission_left < max_message:
        what = (
            f"what is left of [api] max_transmission_bytes ({max_transmission} octets for "
            f"all recipients together: {transmission_left} octets)"
        )
        return Budget(transmission_left, what, f"the message for {rcpt}")
    what = f"[server] max_message_size ({max_message} octets)"
    return Budget(max_message, what, f"the message for {rcpt}")


def base64_size(octets: int) -> int:
    """The size of ``octets`` bytes as base64 in CRLF-terminated 76-character lines."""
    encoded = (octets + 2) // 3 * 4
    return encoded + 2 * -(-encoded // BASE64_LINE)


def check_size(field: str, data: bytes, budget: Budget) -> bytes:
    """The finished message against the same cap, exactly: ``data`` or ``TooLarge``."""
    if len(data) > budget.limit:
        raise TooLarge(field, f"{budget.rcpt} is {len(data)} octets, larger than {budget.what}")
    return data
