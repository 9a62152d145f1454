"""Refusing input that would break a header or the envelope (checklist I1, I2, I3).

RFC 5322 section 2.2: a header field is one line (plus folding); a CR, LF or NUL in a name
or value would end it and let the caller write headers of their own. Python's
``str.splitlines`` also breaks at ``\\x0b \\x0c \\x1c \\x1d \\x1e \\x85 \\u2028 \\u2029``,
so those are refused too, with every other C0/C1 control except horizontal tab, and lone
UTF-16 surrogates (a JSON ``\\ud800`` escape that no UTF-8 encoder can write).

RFC 5322 section 3.6 (the table of field counts): the fields of ``SINGLE_FIELDS`` occur at
most once, so a caller may not give two of them (a reader may show either copy). A caller's
``DKIM-Signature`` is refused: Sealpost signs, only for the key's domains (DESIGN section 9).
"""

from __future__ import annotations

# RFC 5322 section 3.6: at most one of each (lower case -> the spelling errors show).
SINGLE_FIELDS = {
    name.lower(): name
    for name in (
        "From",
        "Sender",
        "Reply-To",
        "To",
        "Cc",
        "Bcc",
        "Subject",
        "Date",
        "Message-ID",
        "In-Reply-To",
        "References",
    )
}
SIGNATURE_FIELDS = {"dkim-signature": "DKIM-Signature"}
SIGNATURE_REASON = "Sealpost DKIM-signs messages itself; remove the DKIM-Signature header"

# Every character str.splitlines() treats as a line boundary, plus NUL.
LINE_BREAKS = frozenset("\r\n\x00\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")


class Refused(Exception):
    """Input refused; ``field`` names it the way the API names fields (``content.subject``)."""

    def __init__(self, field: str, reason: str, code: str = "1300") -> None:
        super().__init__(field, reason, code)
        self.field = field
        self.reason = reason
        self.code = code

    def __str__(self) -> str:
        return f"{self.field}: {self.reason}"


def is_forbidden_char(ch: str) -> bool:
    """Line breaks and control characters; horizontal tab is allowed."""
    if ch in LINE_BREAKS:
        return True
    code = ord(ch)
    return (code < 0x20 and ch != "\t") or 0x7F <= code <= 0x9F or 0xD800 <= code <= 0xDFFF


def has_forbidden(text: str) -> bool:
    return any(is_forbidden_char(ch) for ch in text)


def check_header_text(field: str, value: str) -> str:
    """Return ``value`` unchanged, or raise ``Refused`` if it contains a line break or a
    control character."""
    if has_forbidden(value):
        raise Refused(field, "line breaks and control characters are not allowed in headers")
    return value


def check_header_name(field: str, name: str) -> str:
    """RFC 5322 section 3.6.8: field-name = 1*ftext (printable ASCII except ':')."""
    if not name or len(name) > 76 or any(not 33 <= ord(c) <= 126 or c == ":" for c in name):
        raise Refused(field, "a header name is printable ASCII without ':' (at most 76 chars)")
    return name


def field_label(name: str) -> str:
    """A header name made safe to quote inside a field path."""
    return name.encode("unicode_escape").decode("ascii")
