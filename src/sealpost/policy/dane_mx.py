"""DANE's per-MX step: the TLSA records of one MX host decide what mail to it needs.

An ``MxSource`` (``policy.mx_policy``) for domains whose level is ``dane`` or ``dane-only``
(Postfix's names), following RFC 7672 section 2.2; ``policy.dane_lookup.find_tlsa`` finds
the records (DNSSEC trusted, secure MX RRset and address records, CNAME expansion, the
TLSA base domain):

- no secure TLSA records (not trusted, not secure, none) is no DANE for the host;
- a TLSA lookup that fails (SERVFAIL, timeout: bogus answers come back as SERVFAIL from a
  validating resolver) means the host MUST NOT be used: it is taken out (``dnssec-invalid``),
  never delivered to in plaintext (section 2.2);
- a secure RRset with a usable record (``policy.dane.usable_in_delivery``: DANE-EE, DANE-TA) makes
  the host DANE-authenticated: ``Requirement(level, source=dane, tlsa=...)`` with the TLSA
  base domain (SNI) and the reference identifiers. That replaces whatever MTA-STS or the
  default asked (RFC 8461 section 2: MTA-STS never overrides DANE);
- a secure RRset of only unusable records (PKIX usages 0 and 1, unknown parameters;
  DANE-TA where the chain cannot be read) makes TLS mandatory but unauthenticated
  (section 2.2: ``encrypt``).

Without DANE for a host, ``dane`` is ``may`` (a stronger requirement from MTA-STS, REQUIRETLS
or the message is kept), and ``dane-only`` takes the host out: ``dane-required`` when it has
no secure TLSA records, ``tlsa-invalid`` when they are all unusable.

The same step serves static routes and the smarthost (``PolicyDecision.for_relay``), as
Postfix does DANE for a ``[host]:port`` next hop: TLSA at ``_<port>._tcp.<host>`` when the
host's address records are secure, the host itself the next-hop domain; an IP literal has
no DANE.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from sealpost.dns.resolver import DnsError
from sealpost.model.tlsrpt import TlsFailure
from sealpost.policy.dane import usable_in_delivery
from sealpost.policy.dane_lookup import SMTP_PORT, HostDns, NoDane, TlsaLookup, find_tlsa
from sealpost.policy.levels import PolicySource, Requirement, TlsLevel
from sealpost.policy.mx_policy import MxRequirement

__all__ = ["DANE_LEVELS", "SMTP_PORT", "DaneMx", "TlsaLookup"]

DANE_LEVELS = (TlsLevel.DANE, TlsLevel.DANE_ONLY)


@dataclass(frozen=True, slots=True)
class DaneMx:
    """The per-MX source for a domain at ``level`` (``dane`` or ``dane-only``)."""

    lookup: TlsaLookup
    level: TlsLevel

    async def refine(self, mx: MxRequirement) -> MxRequirement:
        dns = mx.dns or HostDns(
            mx.host, mx.host, parent_secure=mx.secure, addresses_secure=mx.secure
        )
        found = await find_tlsa(self.lookup, dns)
        if isinstance(found, DnsError):
            reason = f"TLSA lookup for {mx.host} failed ({found.kind.value}: {found.name})"
            return self._out(mx, TlsFailure.DNSSEC_INVALID, reason)
        if isinstance(found, NoDane):
            return self._without_dane(mx, TlsFailure.DANE_REQUIRED, found.value)
        dane = Requirement(
            self.level,
            PolicySource.DANE,
            tlsa=found.records,
            tlsa_base=found.base,
            reference_names=found.names,
            tlsa_owner=found.owner,
        )
        if any(usable_in_delivery(r) for r in found.records):
            return dataclasses.replace(mx, requirement=dane)
        if self.level is TlsLevel.DANE_ONLY:
            return self._out(mx, TlsFailure.TLSA_INVALID, f"no usable TLSA record for {mx.host}")
        current = mx.requirement
        if current.level.rank >= TlsLevel.ENCRYPT.rank:
            return mx
        return dataclasses.replace(
            mx, requirement=dataclasses.replace(dane, level=TlsLevel.ENCRYPT)
        )

    def _without_dane(self, mx: MxRequirement, failure: TlsFailure, why: str) -> MxRequirement:
        if self.level is TlsLevel.DANE_ONLY:
            return self._out(mx, failure, f"dane-only: no DANE for {mx.host}: {why}")
        if mx.requirement.level in DANE_LEVELS:
            return dataclasses.replace(
                mx, requirement=dataclasses.replace(mx.requirement, level=TlsLevel.MAY)
            )
        return mx

    @staticmethod
    def _out(mx: MxRequirement, failure: TlsFailure, reason: str) -> MxRequirement:
        failures = (*mx.failures, failure)
        return dataclasses.replace(mx, allowed=False, failures=failures, reason=reason)
