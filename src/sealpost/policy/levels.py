"""TLS levels, the requirement a policy puts on one delivery, and the verdict on a session.

Levels follow Postfix's names (DESIGN.md section 4). RFC 7435: ``may`` encrypts without
authenticating and never claims more; RFC 8461 section 5: an MTA-STS ``enforce`` policy
raises the domain to ``verify`` and restricts the MX hosts; RFC 8689: REQUIRETLS on a
message demands verified TLS on every hop. Failure names are RFC 8460 (TLS-RPT) result types.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sealpost.model.tlsrpt import TlsFailure


class TlsLevel(StrEnum):
    NONE = "none"  # never STARTTLS (operator override only)
    MAY = "may"  # STARTTLS when offered; certificate recorded, not enforced
    ENCRYPT = "encrypt"  # TLS mandatory, certificate not enforced
    VERIFY = "verify"  # TLS + WebPKI chain + MX host name
    DANE = "dane"  # later release
    DANE_ONLY = "dane-only"  # later release

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {
    TlsLevel.NONE: 0,
    TlsLevel.MAY: 1,
    TlsLevel.ENCRYPT: 2,
    TlsLevel.VERIFY: 3,
    TlsLevel.DANE: 3,
    TlsLevel.DANE_ONLY: 4,
}


class PolicySource(StrEnum):
    DEFAULT = "default"
    OPERATOR = "operator"  # [delivery.tls_policy] in the config
    MTA_STS = "mta-sts"
    REQUIRETLS = "requiretls"  # RFC 8689, from the message
    MESSAGE = "message"  # per-message minimum (API options.tls, later release)


@dataclass(frozen=True, slots=True)
class Requirement:
    """What one delivery must achieve, and why."""

    level: TlsLevel = TlsLevel.MAY
    source: PolicySource = PolicySource.DEFAULT
    mode: str | None = None  # MTA-STS "enforce" | "testing"
    mx_patterns: tuple[str, ...] = ()  # MTA-STS "mx:" patterns; () = any MX
    report_only: bool = False  # MTA-STS testing: deliver anyway, record the failure

    @property
    def plaintext_allowed(self) -> bool:
        """Only ``none`` and ``may`` (and report-only policies) may ever send in clear."""
        return self.report_only or self.level in (TlsLevel.NONE, TlsLevel.MAY)

    @property
    def verification_enforced(self) -> bool:
        return not self.report_only and self.level.rank >= TlsLevel.VERIFY.rank


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether a session meets the requirement; ``failure`` names what fell short."""

    ok: bool
    failure: TlsFailure | None = None
    detail: str = ""
