"""What one TLS session proved, as a value (DESIGN.md section 5).

The same record describes an inbound session (kept with every stored message and quoted in
its ``Received:`` header) and an outbound delivery attempt, where it also carries the policy
that applied (required level, its source and mode), whether STARTTLS was offered, and any
fallback. RFC 7435 section 6: unauthenticated TLS is never presented as verified, so
``verified`` is True only when the certificate chain and name were checked and passed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class TlsRecord:
    """Facts about one TLS session; fields a side could not observe stay ``None``."""

    version: str | None = None  # "TLSv1.3"
    cipher: str | None = None  # "TLS_AES_256_GCM_SHA384"
    bits: int | None = None
    sni: str | None = None  # server name the client asked for (inbound) or sent (outbound)
    peer_name: str | None = None  # host name we expected the peer certificate to match
    peer_cert_subject: str | None = None
    peer_cert_sha256: str | None = None
    peer_cert_not_after: str | None = None  # ISO 8601, UTC
    verified: bool | None = None  # None: not checked (e.g. no client certificate)
    verify_error: str | None = None
    # Outbound only: the policy in force and what happened to it.
    level_required: str | None = None  # none | may | encrypt | verify | dane | dane-only
    policy_source: str | None = None  # default | operator | mta-sts | requiretls | message
    policy_mode: str | None = None  # MTA-STS enforce | testing
    offered: bool | None = None  # did the peer advertise STARTTLS
    dane: dict[str, Any] | None = None
    fallback: str | None = None  # e.g. "plaintext after handshake failure"
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None and v != {}}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> TlsRecord | None:
        if not data:
            return None
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
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
            "cert_sha256": self.peer_cert_sha256,
            "cert_not_after": self.peer_cert_not_after,
            "dane": self.dane,
            "fallback": self.fallback,
        }
