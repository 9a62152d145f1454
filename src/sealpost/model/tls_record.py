"""What one TLS session proved, as a value (DESIGN.md section 5).

The same record describes an inbound session (kept with every stored message and quoted in
its ``Received:`` header) and an outbound delivery attempt, where it also carries the policy
that applied (required level, its source and mode), whether STARTTLS was offered, why the
session went on in plaintext (``fallback``, a ``Fallback``) and the RFC 8460 failure the
session saw (``failure``), as typed values that ``policy.verdict`` reads. RFC 7435 section 6:
unauthenticated TLS is never presented as verified, so ``verified`` is True only when the
certificate chain and name were checked and passed.

``event_view`` is the ``tls`` object of events (DESIGN.md section 5): ``fallback`` appears
there as its text (``fallback_text``); ``failure`` is not part of it (events carry the
failures in ``tlsrpt_failures``).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeVar

from sealpost.model.tlsrpt import TlsFailure

E = TypeVar("E", bound=StrEnum)


class Fallback(StrEnum):
    """Why an outbound session went on in plaintext although STARTTLS was offered."""

    HANDSHAKE_FAILED = "handshake-failed"  # on a new connection after a failed handshake
    HANDSHAKE_FAILED_RECENTLY = "handshake-failed-recently"  # the host is remembered broken
    STARTTLS_REFUSED = "starttls-refused"  # STARTTLS got no 220; ``starttls_reply_code`` says

    @property
    def after_handshake(self) -> bool:
        """A TLS handshake with the host failed (this time or recently)."""
        return self is not Fallback.STARTTLS_REFUSED

    @property
    def text(self) -> str:
        """The words of the event's ``fallback`` (the reply code follows a refusal)."""
        return _FALLBACK_TEXT[self]


_FALLBACK_TEXT = {
    Fallback.HANDSHAKE_FAILED: "plaintext after TLS handshake failure",
    Fallback.HANDSHAKE_FAILED_RECENTLY: "plaintext: TLS handshake failed recently",
    Fallback.STARTTLS_REFUSED: "plaintext: STARTTLS refused",
}


@dataclass(frozen=True, slots=True)
class TlsRecord:
    """Facts about one TLS session; fields a side could not observe stay ``None``."""

    version: str | None = None  # "TLSv1.3"
    cipher: str | None = None  # "TLS_AES_256_GCM_SHA384"
    bits: int | None = None
    sni: str | None = None  # server name the client asked for (inbound) or sent (outbound)
    peer_name: str | None = None  # host name we expected the peer certificate to match
    peer_cert_subject: str | None = None  # RFC 4514 text of the certificate's subject
    peer_cert_issuer: str | None = None  # and of its issuer
    peer_cert_sha256: str | None = None
    peer_cert_not_after: str | None = None  # ISO 8601, UTC
    verified: bool | None = None  # None: not checked (e.g. no client certificate)
    verify_error: str | None = None
    resumed: bool | None = None  # inbound: the client resumed a session (a ticket), no new cert
    # Outbound only: the policy in force and what happened to it.
    level_required: str | None = None  # none | may | encrypt | verify | dane | dane-only
    policy_source: str | None = None  # default | operator | mta-sts | requiretls | message
    policy_mode: str | None = None  # MTA-STS enforce | testing
    offered: bool | None = None  # did the peer advertise STARTTLS
    dane: dict[str, Any] | None = None
    fallback: Fallback | None = None  # why plaintext, though STARTTLS was offered
    starttls_reply_code: int | None = None  # Fallback.STARTTLS_REFUSED: the server's code
    failure: TlsFailure | None = None  # the RFC 8460 failure this session saw, if known
    tls_required: bool | None = None  # False: the message's TLS-Required: No relaxed policy
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def fallback_text(self) -> str | None:
        """``fallback`` in words, as events show it: "plaintext: STARTTLS refused (454)"."""
        if self.fallback is None:
            return None
        if self.starttls_reply_code is None:
            return self.fallback.text
        return f"{self.fallback.text} ({self.starttls_reply_code})"

    def to_dict(self) -> dict[str, Any]:
        """The set fields (neither ``None`` nor ``{}``), containers copied: what the store
        keeps and an ``injection`` event's ``inbound_tls`` shows. Written out instead of
        ``dataclasses.asdict``, whose recursive deep copy of every field cost more than the
        rest of building an inbound message's events (it is on the hot path)."""
        out: dict[str, Any] = {}
        for name in _FIELDS:
            value = getattr(self, name)
            if value is None or value == {}:
                continue
            out[name] = copy.deepcopy(value) if isinstance(value, dict | list) else value
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> TlsRecord | None:
        if not data:
            return None
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        if known.get("fallback") is not None:
            known["fallback"] = _typed(Fallback, known["fallback"], None)
        if known.get("failure") is not None:
            known["failure"] = _typed(TlsFailure, known["failure"], TlsFailure.VALIDATION_FAILURE)
        return cls(**known)

    def event_view(self) -> dict[str, Any]:
        """The ``tls`` object of an event (DESIGN.md section 5): always every key."""
        return {
            "level_required": self.level_required,
            "policy_source": self.policy_source,
            "policy_mode": self.policy_mode,
            "offered": self.offered,
            "version": self.version,
            "cipher": self.cipher,
            "verified": self.verified,
            "verify_error": self.verify_error,
            "peer_name": self.peer_name,
            "cert_subject": self.peer_cert_subject,
            "cert_issuer": self.peer_cert_issuer,
            "cert_sha256": self.peer_cert_sha256,
            "cert_not_after": self.peer_cert_not_after,
            "dane": self.dane,
            "fallback": self.fallback_text,
            "tls_required": self.tls_required,
        }


def _typed(kind: type[E], value: object, unknown: E | None) -> E | None:
    """``value`` as a member of ``kind``; ``unknown`` for a name it does not have."""
    try:
        return kind(value)
    except ValueError:
        return unknown


_FIELDS = tuple(TlsRecord.__dataclass_fields__)
