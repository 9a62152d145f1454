"""The ``TLS-Required`` header field of a message (RFC 8689 section 3).

``TLS-Required: No`` asks that the one message be delivered even where the recipient
domain's TLS policy (DANE, MTA-STS) would refuse it: the client still tries STARTTLS but
ignores those policies' failures (section 4.2.2). RFC 8689 section 3: the field MUST be
ignored on a message sent with the REQUIRETLS MAIL FROM parameter, so ``relaxes`` says no
for those. The value is case-insensitive; only ``No`` is defined, anything else is ignored.
"""

from __future__ import annotations

HEADER = b"TLS-Required: No\r\n"  # what the API adds for ``options.tls.tls_required: false``
_NAME = b"tls-required"


def says_no(data: bytes) -> bool:
    """The header block of ``data`` (CRLF or LF line endings) has ``TLS-Required: No``."""
    head = data.split(b"\r\n\r\n", 1)[0] if b"\r\n\r\n" in data else data.split(b"\n\n", 1)[0]
    fields: list[bytes] = []
    for line in head.splitlines():
        if line[:1] in (b" ", b"\t") and fields:  # folded (RFC 5322 section 2.2.3)
            fields[-1] += line
        else:
            fields.append(line)
    for field in fields:
        name, colon, value = field.partition(b":")
        if colon and name.strip().lower() == _NAME and value.strip().lower() == b"no":
            return True
    return False


def relaxes(data: bytes, *, requiretls: bool) -> bool:
    """Whether the message's ``TLS-Required: No`` is honoured (never with REQUIRETLS)."""
    return not requiretls and says_no(data)
