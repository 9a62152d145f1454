"""Values that flow between routing, the delivery attempt and the dispatcher."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sealpost.model.reply import Reply


@dataclass(frozen=True, slots=True)
class Target:
    """One host to try: its name (for certificate checks and SNI), its addresses, a port."""

    host: str  # MX host name, or the static route / smarthost host
    addresses: tuple[str, ...]
    port: int = 25
    preference: int = 0
    secure: bool = False  # the address records were DNSSEC-secure (AD bit), for DANE
    canonical: str = ""  # the CNAME-expanded name of ``host``, when it is an alias (DANE)


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """What one attempt sends: the envelope for the recipients still to do, and the bytes."""

    message_id: str
    mail_from: str  # "" is the null sender
    recipients: tuple[str, ...]
    data: bytes  # CRLF line endings, not dot-stuffed (the client stuffs)
    eight_bit: bool = False  # body needs 8BITMIME
    smtputf8: bool = False  # envelope or headers need SMTPUTF8
    requiretls: bool = False  # RFC 8689
    tls_minimum: str | None = None  # per-message minimum level (API options.tls)


class Outcome(StrEnum):
    DELIVERED = "delivered"
    TRANSIENT = "transient"  # try again later
    PERMANENT = "permanent"  # bounce


@dataclass(frozen=True, slots=True)
class RecipientOutcome:
    address: str
    outcome: Outcome
    reply: Reply | None  # the server's reply, or a synthesized one (timeouts, policy)
    possible_duplicate: bool = False  # the final dot went unanswered: a retry may duplicate
