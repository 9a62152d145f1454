"""DANE's per-MX step: the TLSA records of one MX host decide what mail to it needs.

An ``MxSource`` (``policy.mx_policy``) for domains whose level is ``dane`` or ``dane-only``
(Postfix's names), following RFC 7672 section 2.2:

- TLSA records are looked up at ``_25._tcp.<mx host>`` only when DNSSEC is trusted
  (``[dns] dnssec = true``) and both the MX RRset and the host's address records were
  secure (RFC 7672 sections 2.2.1 and 2.2.2); otherwise the host has no DANE;
- an insecure TLSA answer, or none (NXDOMAIN, NODATA), is no DANE either;
- a TLSA lookup that fails (SERVFAIL, timeout: bogus answers come back as SERVFAIL from a
  validating resolver) means the host MUST NOT be used: it is taken out (``dnssec-invalid``),
  never delivered to in plaintext (section 2.2);
- a secure RRset with a usable record (``policy.dane.usable_in_delivery``: DANE-EE, DANE-TA) makes
  the host DANE-authenticated: ``Requirement(level, source=dane, tlsa=...)``. That replaces
  whatever MTA-STS or the default asked (RFC 8461 section 2: MTA-STS never overrides DANE);
- a secure RRset of only unusable records (PKIX usages 0 and 1, unknown parameters;
  DANE-TA where the chain cannot be read) makes TLS mandatory but unauthenticated
  (section 2.2: ``encrypt``).

Without DANE for a host, ``dane`` is ``may`` (a stronger requirement from MTA-STS, REQUIRETLS
or the message is kept), and ``dane-only`` takes the host out: ``dane-required`` when it has
no secure TLSA records, ``tlsa-invalid`` when they are all unusable.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from sealpost.dns.resolver import DnsError, Resolver, TlsaRecord
from sealpost.model.tlsrpt import TlsFailure
from sealpost.policy.dane import usable_in_delivery
from sealpost.policy.levels import PolicySource, Requirement, TlsLevel
from sealpost.policy.mx_policy import MxRequirement

DANE_LEVELS = (TlsLevel.DANE, TlsLevel.DANE_ONLY)
SMTP_PORT = 25  # RFC 7672 section 2.2.1: MX delivery uses the TLSA records of port 25


@dataclass(frozen=True, slots=True)
class TlsaLookup:
    """Asks for a host's TLSA records; ``trusted``: the resolver validates (``dnssec``)."""

    resolver: Resolver
    trusted: bool

    async def secure_records(self, host: str) -> tuple[TlsaRecord, ...] | DnsError:
        """The secure TLSA RRset of ``host`` (``()``: none, or not secure), or the failure."""
        try:
            answer = await self.resolver.tlsa(f"_{SMTP_PORT}._tcp.{host}")
        except DnsError as exc:
            if exc.kind.transient:
                return exc
            return ()
        return answer.records if answer.secure else ()


@dataclass(frozen=True, slots=True)
class DaneMx:
    """The per-MX source for a domain at ``level`` (``dane`` or ``dane-only``)."""

    lookup: TlsaLookup
    level: TlsLevel

    async def refine(self, mx: MxRequirement) -> MxRequirement:
        if not (self.lookup.trusted and mx.secure):
            return self._without_dane(mx, TlsFailure.DANE_REQUIRED, "not DNSSEC-secure")
        found = await self.lookup.secure_records(mx.host)
        if isinstance(found, DnsError):
            reason = f"TLSA lookup for {mx.host} failed ({found.kind.value})"
            return self._out(mx, TlsFailure.DNSSEC_INVALID, reason)
        if not found:
            return self._without_dane(mx, TlsFailure.DANE_REQUIRED, "no secure TLSA records")
        if any(usable_in_delivery(r) for r in found):
            return dataclasses.replace(
                mx, requirement=Requirement(self.level, PolicySource.DANE, tlsa=found)
            )
        if self.level is TlsLevel.DANE_ONLY:
            return self._out(mx, TlsFailure.TLSA_INVALID, f"no usable TLSA record for {mx.host}")
        current = mx.requirement
        if current.level.rank >= TlsLevel.ENCRYPT.rank:
            return mx
        encrypt = Requirement(TlsLevel.ENCRYPT, PolicySource.DANE, tlsa=found)
        return dataclasses.replace(mx, requirement=encrypt)

    def _without_dane(self, mx: MxRequirement, failure: TlsFailure, why: str) -> MxRequirement:
        if self.level is TlsLevel.DANE_ONLY:
            return self._out(mx, failure, f"dane-only: {mx.host} has {why}")
        if mx.requirement.level in DANE_LEVELS:
            return dataclasses.replace(
                mx, requirement=dataclasses.replace(mx.requirement, level=TlsLevel.MAY)
            )
        return mx

    @staticmethod
    def _out(mx: MxRequirement, failure: TlsFailure, reason: str) -> MxRequirement:
        failures = (*mx.failures, failure)
        return dataclasses.replace(mx, allowed=False, failures=failures, reason=reason)


def unrefined(requirement: Requirement) -> Requirement:
    """A DANE level where no DANE step runs (static routes, the smarthost): ``dane`` is
    ``may``, ``dane-only`` stays (its verdict then defers: DANE for relays is not built)."""
    if requirement.level is TlsLevel.DANE:
        return dataclasses.replace(requirement, level=TlsLevel.MAY)
    return requirement
