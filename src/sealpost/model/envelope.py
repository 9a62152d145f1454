"""The envelope of one message and the facts about the session that handed it to us.

RFC 5321 section 4.1.1.2-4.1.1.3: the reverse-path may be null (``""``, bounces); each
forward-path is one recipient. RFC 6152 / RFC 6531 / RFC 8689: BODY=8BITMIME, SMTPUTF8
and REQUIRETLS are properties of the transaction and travel with the message.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sealpost.model.tls_record import TlsRecord


@dataclass(frozen=True, slots=True)
class Envelope:
    """Reverse-path (``""`` is the null sender), recipients and transaction parameters."""

    mail_from: str
    recipients: tuple[str, ...]
    body: str = "7BIT"  # "7BIT" | "8BITMIME"
    smtputf8: bool = False
    requiretls: bool = False
    declared_size: int | None = None
    tls_minimum: str | None = None  # per-message minimum TLS level (API options.tls)


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """Who handed us a message, how, and over what."""

    listener: str  # listener name from the config, or "api"
    client_ip: str
    client_port: int
    helo: str | None = None
    esmtp: bool = True
    auth_user: str | None = None  # the API key's id when authenticated
    tls: TlsRecord | None = None
    local_hostname: str = "localhost"
    # The authenticated key's sender domains (``keys create --domain``); None: any domain.
    # Submission refuses a message naming another domain and signs only for these.
    sender_domains: frozenset[str] | None = None


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """A complete message as received: envelope, session and the raw RFC 5322 bytes.

    ``data`` has CRLF line endings, is already dot-unstuffed, and does not yet carry our
    ``Received:`` header (submission adds it).
    """

    envelope: Envelope
    session: SessionInfo
    data: bytes
    extra_headers: tuple[str, ...] = field(default_factory=tuple)
    # Facts the API attaches for events (transmission_id, campaign_id, rcpt_meta,
    # rcpt_tags, template_id): SparkPost field names, echoed in every event of the message.
    annotations: Mapping[str, Any] = field(default_factory=dict)
