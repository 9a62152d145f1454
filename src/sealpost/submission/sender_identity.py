"""Who a message says it is from, checked against a restricted key's sender domains.

DESIGN section 9: a key made with ``sealpost keys create --domain`` is a tenant and sends
only as its own domains, and what we DKIM-sign we vouch for. RFC 6409 section 6.1 lets a
submission server refuse what the authenticated user does not own; for such a key this
module checks, as one pure function over the message bytes:

- the envelope sender (RFC 5321 MAIL FROM). The null sender ``<>`` names no domain and is
  allowed (RFC 5321 section 4.5.5; RFC 8098 reports are sent with it), but the header
  checks below still apply to it;
- EVERY address of the header ``From:`` (RFC 5322 section 3.6.2: a mailbox-list; the
  field occurs exactly once, section 3.6) and of ``Sender:`` (at most once, one mailbox).

Domains match exactly, case-insensitively and without a trailing dot (IDNA A-labels and
U-labels are the same domain), as the MAIL FROM check does (``smtp.relay.sender_allowed``):
``tenant.test`` does not cover ``mail.tenant.test``; list each domain the key may use.
The author must be unambiguous: no From, a second From or Sender, an address the two
header parsers of the standard library read differently or with a defect (a receiving MUA
might show the other reading), an address literal, or a group with nobody in it is
refused. ``Resent-*`` fields are not checked: no DKIM or DMARC decision is made on them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email import errors as email_errors
from email import policy
from email.headerregistry import AddressHeader
from email.utils import getaddresses
from enum import StrEnum

from sealpost.dkim.signer import header_block, header_fields

_PRINTABLE_DOMAIN = re.compile(r"[A-Za-z0-9.\-_\[\]:]{1,255}")


class Party(StrEnum):
    """Which claim about the sender was refused."""

    ENVELOPE = "envelope sender"
    FROM = "From"
    SENDER = "Sender"


@dataclass(frozen=True, slots=True)
class ForeignSender:
    """A refusal: the message names a sender this key may not use. ``reason`` is printable
    ASCII (it goes into an SMTP reply and an API error)."""

    party: Party
    reason: str

    def __str__(self) -> str:
        return f"{self.party.value}: {self.reason}"


def domain_key(domain: str) -> str:
    """The form domains are compared in: lower case, no trailing dot, IDNA A-labels."""
    bare = domain.strip().rstrip(".").lower()
    try:
        return bare.encode("idna").decode("ascii")
    except UnicodeError:
        return bare


def allowed_domains(domains: frozenset[str] | tuple[str, ...]) -> frozenset[str]:
    """A key's domain list in comparison form."""
    return frozenset(domain_key(d) for d in domains)


def _shown(domain: str) -> str:
    """The domain as it may appear in a reply: itself when printable ASCII, else escaped."""
    return domain if _PRINTABLE_DOMAIN.fullmatch(domain) else ascii(domain)


def _domain_refusal(party: Party, address: str, allowed: frozenset[str]) -> ForeignSender | None:
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain:
        return ForeignSender(party, "cannot find the domain of an address")
    if domain.startswith("["):
        return ForeignSender(party, "an address literal is not a domain this key may use")
    if domain_key(domain) not in allowed:
        return ForeignSender(party, f"this key may not send as {_shown(domain)}")
    return None


def check_envelope(mail_from: str, allowed: frozenset[str]) -> ForeignSender | None:
    """The envelope sender against the key's domains; ``""`` (null sender) passes."""
    if not mail_from:
        return None
    return _domain_refusal(Party.ENVELOPE, mail_from, allowed)


def address_refusal(
    party: Party, address: str, domains: frozenset[str] | None
) -> ForeignSender | None:
    """One address (an API field such as ``content.from``) against a key's domains."""
    if domains is None:
        return None
    return _domain_refusal(party, address, allowed_domains(domains))


def _addresses(party: Party, value: str) -> list[str] | ForeignSender:
    """The addr-specs of one field value, read by both standard-library parsers, which must
    agree and find no defect beyond obsolete syntax."""
    header = policy.default.header_factory(party.value, value)
    defects = [d for d in header.defects if not isinstance(d, email_errors.ObsoleteHeaderDefect)]
    if defects or not isinstance(header, AddressHeader):
        return ForeignSender(party, "the address does not parse cleanly")
    modern = sorted(a.addr_spec.lower() for a in header.addresses)
    classic = sorted(a.lower() for _, a in getaddresses([value]) if a)
    if not modern and not classic:
        return ForeignSender(party, f"the {party.value} header names no address")
    if modern != classic:
        return ForeignSender(party, "the address does not parse unambiguously")
    return modern


def check_headers(data: bytes, allowed: frozenset[str]) -> ForeignSender | None:
    """Every From and Sender address of ``data``'s header section against the key's domains."""
    fields = header_fields(header_block(data))
    froms = [value for name, value in fields if name == "from"]
    senders = [value for name, value in fields if name == "sender"]
    if not froms:
        return ForeignSender(Party.FROM, "the message has no From header")
    if len(froms) > 1:
        return ForeignSender(Party.FROM, "more than one From header (RFC 5322 section 3.6)")
    if len(senders) > 1:
        return ForeignSender(Party.SENDER, "more than one Sender header (RFC 5322 section 3.6)")
    for party, values in ((Party.FROM, froms), (Party.SENDER, senders)):
        for value in values:
            found = _addresses(party, value)
            if isinstance(found, ForeignSender):
                return found
            if party is Party.SENDER and len(found) != 1:
                return ForeignSender(party, "Sender holds exactly one mailbox")
            for address in found:
                refused = _domain_refusal(party, address, allowed)
                if refused is not None:
                    return refused
    return None


def check_sender(
    data: bytes, mail_from: str, domains: frozenset[str] | None
) -> ForeignSender | None:
    """None when a key limited to ``domains`` may send this message (``domains`` None: an
    unrestricted key, anything goes); otherwise the first claim it may not make."""
    if domains is None:
        return None
    allowed = allowed_domains(domains)
    return check_envelope(mail_from, allowed) or check_headers(data, allowed)
