"""What the inbound SMTP session and its I/O driver exchange: policy in, events out.

The session never performs I/O; each call returns a list of events that the driver
performs in order (write a reply, start TLS, check credentials, store a message, close).
The limits default to RFC 5321 section 4.5.3.1 minimums and Postfix's defaults
(``message_size_limit``, ``smtpd_recipient_limit``, ``smtpd_junk_command_limit``,
``smtpd_hard_error_limit``, ``header_size_limit``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from sealpost.model.envelope import Envelope
from sealpost.model.reply import Reply


@dataclass(frozen=True, slots=True)
class ServerPolicy:
    """How one listener behaves."""

    hostname: str
    local_domains: frozenset[str]  # lower case, no trailing dot
    tls_mode: Literal["starttls", "implicit", "none"]
    require_tls: bool = False  # refuse MAIL/RCPT/DATA/AUTH/VRFY before TLS: 530 5.7.0
    auth_enabled: bool = False  # offer AUTH (only ever inside TLS)
    max_message_size: int = 10_240_000  # SIZE advertised; 552 5.3.4
    max_recipients: int = 1000  # then 452 4.5.3 Too many recipients (not 552)
    max_command_line: int = 512  # incl. CRLF (RFC 5321 4.5.3.1.4)
    max_text_line: int = 1000  # incl. CRLF (RFC 5321 4.5.3.1.6)
    max_header_line: int = 102_400
    max_header_lines: int = 1000
    max_junk_commands: int = 100  # NOOP/RSET/HELP/VRFY/EXPN... then 421 4.7.0 + close
    max_errors: int = 20  # replies >= 500 to commands; then 421 4.7.0 + close
    max_auth_failures: int = 3  # per session; then 421 4.7.0 + close
    # True while the queue's disk is under [store] min_free: MAIL gets 452 4.3.1. It reads
    # a verdict measured elsewhere (store.free_space), never the disk itself.
    storage_low: Callable[[], bool] | None = None


@dataclass(frozen=True, slots=True)
class Send:
    """Write this reply."""

    reply: Reply


@dataclass(frozen=True, slots=True)
class StartTls:
    """The preceding ``220`` is already written: do the TLS handshake, then call
    ``tls_established``."""


@dataclass(frozen=True, slots=True)
class Authenticate:
    """Check these credentials, then call ``auth_result``."""

    mechanism: str
    authzid: str
    username: str
    password: str

    def __repr__(self) -> str:  # never let a password reach a log through repr()
        return (
            f"Authenticate(mechanism={self.mechanism!r}, authzid={self.authzid!r}, "
            f"username={self.username!r}, password='***')"
        )


@dataclass(frozen=True, slots=True)
class MessageReady:
    """Store this message durably, then call ``store_result`` with the reply to send.

    ``data`` has CRLF line endings, is dot-unstuffed and has no ``Received:`` yet."""

    envelope: Envelope
    data: bytes


@dataclass(frozen=True, slots=True)
class Close:
    """Close the connection once everything before this event is written."""


Event = Send | StartTls | Authenticate | MessageReady | Close


@dataclass(frozen=True, slots=True)
class AuthOutcome:
    """The I/O layer's verdict on an Authenticate event."""

    user: str | None  # None: credentials rejected
    sender_domains: frozenset[str] | None = None  # None = may send as any domain
    locked_out: bool = False  # too many failures from this IP (I/O layer counts)
