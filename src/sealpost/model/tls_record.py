"""What one TLS session proved, as a value (DESIGN.md section 5).

The same record describes an inbound session (kept with every stored message and quoted in
its ``Received:`` header) and, in later issues, an outbound delivery attempt.
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
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None and v != {}}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> TlsRecord | None:
        if not data:
            return None
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**known)
