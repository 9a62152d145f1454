"""TLS levels, the requirement a policy puts on one delivery, and the verdict on a session.

Levels follow Postfix's names (DESIGN.md section 4). RFC 7435: ``may`` encrypts without
authenticating and never claims more; RFC 8461 section 5: an MTA-STS ``enforce`` policy
raises the domain to ``verify`` and restricts the MX hosts; RFC 8689: REQUIRETLS on a
message demands verified TLS on every hop. Failure names are RFC 8460 (TLS-RPT) result types.

DANE (RFC 7672): ``dane`` guarantees no more than ``may`` (a host without secure TLSA records
is delivered to as ``may``), so it ranks with ``may`` when levels are compared; ``dane-only``
guarantees DANE authentication or a deferral, so it ranks above ``verify``. The per-MX step
(``policy.dane_mx``) turns either into a concrete requirement for each host: DANE
authentication against ``Requirement.tlsa``, ``encrypt``, ``may``, or no delivery to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sealpost.dns.resolver import TlsaRecord
from sealpost.model.tlsrpt import TlsFailure


class TlsLevel(StrEnum):
    NONE = "none"  # never STARTTLS (operator override only)
    MAY = "may"  # STARTTLS when offered; certificate recorded, not enforced
    ENCRYPT = "encrypt"  # TLS mandatory, certificate not enforced
    VERIFY = "verify"  # TLS + WebPKI chain + MX host name
    DANE = "dane"  # DANE when the MX host has secure TLSA records, else may (RFC 7672)
    DANE_ONLY = "dane-only"  # DANE or no delivery

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {
    TlsLevel.NONE: 0,
    TlsLevel.MAY: 1,
    TlsLevel.ENCRYPT: 2,
    TlsLevel.VERIFY: 3,
    TlsLevel.DANE: 1,
    TlsLevel.DANE_ONLY: 4,
}


class PolicySource(StrEnum):
    DEFAULT = "default"
    OPERATOR = "operator"  # [delivery.tls_policy] in the config
    MTA_STS = "mta-sts"
    REQUIRETLS = "requiretls"  # RFC 8689, from the message
    MESSAGE = "message"  # per-message minimum (API options.tls)
    DANE = "dane"  # the MX host's secure TLSA records (RFC 7672)


@dataclass(frozen=True, slots=True)
class Requirement:
    """What one delivery must achieve, and why."""

    level: TlsLevel = TlsLevel.MAY
    source: PolicySource = PolicySource.DEFAULT
    mode: str | None = None  # MTA-STS "enforce" | "testing"
    mx_patterns: tuple[str, ...] = ()  # MTA-STS "mx:" patterns; () = any MX
    report_only: bool = False  # MTA-STS testing: deliver anyway, record the failure
    tlsa: tuple[TlsaRecord, ...] = ()  # the host's secure TLSA RRset (source DANE)
    tlsa_base: str = ""  # its TLSA base domain: the SNI name (RFC 7672 section 8.1)
    reference_names: tuple[str, ...] = ()  # names a DANE-TA leaf may carry (section 3.2.3)
    tlsa_owner: str = ""  # "_25._tcp.<base>": where the records are, for the events

    @property
    def dane_authenticated(self) -> bool:
        """The peer must match one of ``tlsa`` (RFC 7672 section 2.2; nothing else counts)."""
        return self.level in (TlsLevel.DANE, TlsLevel.DANE_ONLY) and bool(self.tlsa)

    @property
    def plaintext_allowed(self) -> bool:
        """Only ``none`` and ``may`` (and report-only policies) may ever send in clear."""
        return self.report_only or self.level in (TlsLevel.NONE, TlsLevel.MAY)

    @property
    def verification_enforced(self) -> bool:
        if self.dane_authenticated:
            return True
        return not self.report_only and self.level.rank >= TlsLevel.VERIFY.rank


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether a session meets the requirement; ``failure`` names what fell short."""

    ok: bool
    failure: TlsFailure | None = None
    detail: str = ""
