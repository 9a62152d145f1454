"""What the client writes: checked envelope text, command lines and the DATA payload.

Checklist I3 (aiosmtplib CVE-2026-53533, CPython bpo-43124): an address or EHLO name that
could smuggle a second command or an ESMTP parameter (CR, LF, NUL, other controls, spaces,
``<`` or ``>``) is refused before any command is written. RFC 5321 section 4.5.3.1.3: a
path is at most 256 octets; section 4.5.3.1.1: a local part at most 64.

RFC 5321 section 2.3.8: lines end in CRLF and a lone CR or LF MUST NOT be sent; here each
one becomes CRLF (SMTP smuggling, checklist F3; like Postfix ``cleanup_replace_stray_cr_lf``
it never reaches the wire alone). Section 4.5.2: a line starting with "." gets a second one
(dot-stuffing). Section 4.1.1.4: the data ends with CRLF "." CRLF. All of it is done with
whole-buffer ``bytes`` operations (``count``/``replace``), never per octet.
"""

from __future__ import annotations

import re

from sealpost.model.reply import Reply
from sealpost.smtp.client_events import OutgoingMail
from sealpost.smtp.client_extensions import Extensions

MAX_PATH = 256  # octets of an address (RFC 5321 section 4.5.3.1.3, without the brackets)
MAX_LOCAL_PART = 64  # RFC 5321 section 4.5.3.1.1

_FORBIDDEN = re.compile("[\x00-\x20\x7f-\x9f<>\u2028\u2029]")
_HELO = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*"
    r"|\[(?:IPv6:)?[0-9A-Fa-f.:]+\]"
)


def address_problem(address: str, *, sender: bool = False) -> str | None:
    """Why ``address`` cannot go in MAIL FROM / RCPT TO, or None. ``""`` is allowed only as
    the null sender."""
    if address == "":
        return None if sender else "empty address"
    if _FORBIDDEN.search(address):
        return "control character, space, '<' or '>' in address"
    if len(address.encode("utf-8")) > MAX_PATH:
        return f"address longer than {MAX_PATH} octets"
    local, at, domain = address.rpartition("@")
    if not at:
        return None if address.lower() == "postmaster" and not sender else "no '@' in address"
    if not local or not domain:
        return "empty local part or domain"
    if len(local.encode("utf-8")) > MAX_LOCAL_PART:
        return f"local part longer than {MAX_LOCAL_PART} octets"
    return None


def helo_problem(name: str) -> str | None:
    """Why ``name`` cannot be our EHLO/HELO argument, or None (a domain or an address
    literal, RFC 5321 section 4.1.1.1)."""
    if not name or len(name) > 255 or _HELO.fullmatch(name) is None:
        return f"not a domain name or address literal: {name!r}"
    return None


def command(text: str) -> bytes:
    """One command line; the caller has checked every piece of ``text``."""
    return text.encode("utf-8") + b"\r\n"


def mail_from(sender: str, params: list[str]) -> bytes:
    return command(" ".join([f"MAIL FROM:<{sender}>", *params]))


def rcpt_to(recipient: str) -> bytes:
    return command(f"RCPT TO:<{recipient}>")


def mail_parameters(
    mail: OutgoingMail, ext: Extensions, size: int, *, verified_tls: bool
) -> tuple[Reply | None, list[str]]:
    """The MAIL FROM parameters for ``mail``, or the reply refusing it before anything is
    written: RFC 6531 section 3.2 and RFC 6152 (no 8-bit or UTF-8 to a server that did not
    offer it; never downgraded here: 5.6.7 / 5.6.9 / 5.6.3), RFC 8689 section 4.2.1
    (REQUIRETLS needs verified TLS and the extension: 5.7.30), RFC 1870 (SIZE: 5.3.4)."""
    problem = address_problem(mail.mail_from, sender=True)
    if problem is not None:
        return Reply.of(553, "5.1.7", f"invalid sender address: {problem}"), []
    utf8_addresses = not all(a.isascii() for a in (mail.mail_from, *mail.recipients))
    smtputf8 = mail.smtputf8 or utf8_addresses
    eight_bit = mail.eight_bit or not mail.data.isascii()
    if smtputf8 and not ext.smtputf8:
        if utf8_addresses:
            return Reply.of(553, "5.6.7", "non-ASCII address, no SMTPUTF8; not downgraded"), []
        return Reply.of(554, "5.6.9", "message needs SMTPUTF8, not offered; not downgraded"), []
    if eight_bit and not ext.eight_bit_mime:
        return Reply.of(554, "5.6.3", "8-bit message, no 8BITMIME; not downgraded"), []
    if mail.requiretls and not verified_tls:
        return Reply.of(550, "5.7.30", "REQUIRETLS support required: TLS not verified"), []
    if mail.requiretls and not ext.requiretls:
        return Reply.of(550, "5.7.30", "REQUIRETLS support required: not offered"), []
    limit = ext.size_limit
    if limit and size > limit:
        return Reply.of(552, "5.3.4", f"message of {size} octets over the limit {limit}"), []
    params = [] if limit is None else [f"SIZE={size}"]
    params += ["BODY=8BITMIME"] if eight_bit else []
    params += ["SMTPUTF8"] if smtputf8 else []
    params += ["REQUIRETLS"] if mail.requiretls else []
    return None, params


def normalize_line_endings(data: bytes) -> bytes:
    """Every CRLF kept, every lone CR and lone LF turned into CRLF."""
    crlf = data.count(b"\r\n")
    if crlf == data.count(b"\n") == data.count(b"\r"):
        return data
    return data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").replace(b"\n", b"\r\n")


def encode_data(data: bytes) -> tuple[bytes, int]:
    """The DATA payload for ``data`` (line endings fixed, dot-stuffed, final CRLF . CRLF)
    and the message size as RFC 1870 counts it (before stuffing)."""
    text = normalize_line_endings(data)
    if text and not text.endswith(b"\r\n"):
        text += b"\r\n"
    size = len(text)
    if text.startswith(b"."):
        text = b"." + text
    if b"\r\n." in text:
        text = text.replace(b"\r\n.", b"\r\n..")
    return text + b".\r\n", size


def decode_data(wire: bytes) -> bytes:
    """The inverse of ``encode_data`` for a payload it produced (used by tests and
    diagnostics): the message text, unstuffed."""
    if not wire.endswith(b".\r\n"):
        raise ValueError("not a DATA payload")
    text = b"\r\n" + wire[:-3]
    return text.replace(b"\r\n.", b"\r\n")[2:]
