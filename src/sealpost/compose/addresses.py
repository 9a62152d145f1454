"""Email addresses from API input: parsing, validation, and their header form.

Envelope addresses (RFC 5321 section 4.1.2 Mailbox: dot-atom local part, domain) go into
``MAIL FROM``/``RCPT TO`` as they are, so anything that could end the command or add an
ESMTP parameter (line breaks, spaces, ``<``, ``>``: checklist I3) is an injection attempt
and refused outright; other malformed addresses are ``BadAddress`` (a rejected recipient,
SparkPost's partial errors). Non-ASCII local parts and domains are allowed (RFC 6531,
SMTPUTF8). Header address lists given verbatim (``header_to``, ``Cc``, ``reply_to``) keep
their text when ASCII, otherwise are re-written with RFC 2047 display names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.utils import getaddresses

from sealpost.compose.header_encoding import phrase
from sealpost.compose.refusal import Refused, check_header_text, has_forbidden

_LOCAL_SPECIALS = set('"(),:;<>@[\\] ')
_LABEL = re.compile(r"(?:[A-Za-z0-9]|[^\x00-\x7f])(?:[A-Za-z0-9-]|[^\x00-\x7f]){0,62}")
_NAMED = re.compile(r"\s*(.*?)\s*<([^<>]*)>\s*", re.S)


class BadAddress(Refused):
    """A malformed (but harmless) address: the recipient is rejected, others still go."""


@dataclass(frozen=True, slots=True)
class Mailbox:
    email: str
    name: str | None = None

    @property
    def domain(self) -> str:
        return self.email.rpartition("@")[2].lower()

    def header(self) -> str:
        """The RFC 5322 form: ``Name <a@b>`` or ``a@b``."""
        if self.name and self.name.strip():
            return f"{phrase(self.name)} <{self.email}>"
        return self.email


def check_address(field: str, address: str) -> str:
    """An envelope-safe address, or ``Refused`` (injection) / ``BadAddress`` (malformed)."""
    if has_forbidden(address) or any(c.isspace() for c in address) or set("<>") & set(address):
        raise Refused(field, "an address may not contain spaces, '<', '>' or line breaks")
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain:
        raise BadAddress(field, f"invalid address {address!r}", "1300")
    if len(local.encode()) > 64 or len(domain.encode()) > 255:
        raise BadAddress(field, "address too long")
    if set(local) & _LOCAL_SPECIALS or ".." in local or local[0] == "." or local[-1] == ".":
        raise BadAddress(field, f"invalid local part in {address!r}")
    labels = domain.rstrip(".").split(".")
    if len(labels) < 1 or any(not _LABEL.fullmatch(x) or x.endswith("-") for x in labels):
        raise BadAddress(field, f"invalid domain in {address!r}")
    return address


def parse_mailbox(field: str, text: str) -> Mailbox:
    """``a@b`` or ``Name <a@b>`` / ``"Name" <a@b>`` (as clients send From and recipients)."""
    check_header_text(field, text)
    match = _NAMED.fullmatch(text)
    if match is None:
        return Mailbox(check_address(field, text.strip()))
    name, address = match.group(1), match.group(2).strip()
    if len(name) >= 2 and name[0] == name[-1] == '"':
        name = re.sub(r"\\(.)", r"\1", name[1:-1])
    elif set("<>") & set(name):
        raise Refused(field, "a display name may not contain '<' or '>' unquoted")
    return Mailbox(check_address(field, address), name or None)


def mailbox(field: str, email: str | None, name: str | None) -> Mailbox:
    """From ``{email, name}`` objects."""
    if email is None or not email.strip():
        raise BadAddress(f"{field}.email", f"{field}.email is a required field", "1400")
    if name is not None:
        check_header_text(f"{field}.name", name)
    return Mailbox(check_address(f"{field}.email", email), name or None)


def address_list(field: str, text: str) -> str:
    """A header address list given as text (``header_to``, ``Cc``, ``reply_to``): used
    verbatim when ASCII, re-written with encoded display names otherwise."""
    check_header_text(field, text)
    if text.isascii():
        return text.strip()
    parts = []
    for name, address in getaddresses([text]):
        if not address or has_forbidden(address) or set("<> ") & set(address):
            raise BadAddress(field, f"cannot parse address list {text!r}")
        parts.append(Mailbox(address, name or None).header())
    if not parts:
        raise BadAddress(field, f"cannot parse address list {text!r}")
    return ", ".join(parts)
