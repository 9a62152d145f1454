"""The per-MX step of a policy decision: what one MX host must give, and whether to use it.

DANE decides per MX host, MTA-STS per domain, so a domain's decision is refined for each
host just before delivery tries it. The steps run in the order maddy gives its
MX-authentication policies (per domain, per MX, per connection), each step one chain of
sources:

1. per domain, ``PolicyEngine.requirement_for``: REQUIRETLS, MTA-STS discovery, the
   operator's rule, the default (and, in ``delivery.attempt``, the message's own minimum);
2. per MX host, ``PolicyDecision.for_mx``: each ``MxSource`` in turn may raise the
   requirement for that host, take the host out (``allowed=False``), or name a failure to
   report when mail goes there. Today's only source is ``StsMxPatterns``, RFC 8461 section
   4.1: under ``enforce`` an MX host matching none of the policy's ``mx`` patterns is not
   used; under ``testing`` it is, and the mismatch is reported as ``validation-failure``
   (RFC 8460 section 4.3). DANE's source (``policy.dane_mx``, RFC 7672 section 2.2: the TLSA
   records of ``_25._tcp.<host>``, looked up only for the hosts tried) runs ahead of
   MTA-STS, which never overrides it (RFC 8461 section 2): a host that DANE authenticates
   is not filtered by the ``mx`` patterns;
3. per connection, ``policy.verdict.check``: does the session meet the host's requirement.

Hosts that DNS did not name (static routes, the smarthost) are the operator's choice:
``PolicyDecision.for_relay`` gives them the domain's requirement, refined by DANE's step
alone (Postfix's ``[host]:port``: TLSA at the relay's port); MTA-STS patterns do not apply.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Protocol

from sealpost.model.tlsrpt import TlsFailure
from sealpost.policy.dane_lookup import HostDns
from sealpost.policy.levels import Requirement
from sealpost.policy.mta_sts import StsMode, StsPolicy

NO_STS_MX = "No MX host of the domain matches its MTA-STS policy"


@dataclass(frozen=True, slots=True)
class MxRequirement:
    """What mail to one MX host needs, as the per-MX sources left it."""

    host: str
    requirement: Requirement
    allowed: bool = True  # False: do not connect to this host at all
    failures: tuple[TlsFailure, ...] = ()  # report these with a delivery to this host
    secure: bool = False  # the MX RRset and this host's addresses were DNSSEC-secure
    reason: str = ""  # why the host is not allowed, for the deferral's text
    permanent: bool = False  # not allowed for good (REQUIRETLS, RFC 8689): bounce, 5.7.30
    dns: HostDns | None = None  # what DNS said of the host (DANE's step reads it)


class MxSource(Protocol):
    """One source of the per-MX step; it may look things up (DANE: TLSA records)."""

    async def refine(self, mx: MxRequirement) -> MxRequirement: ...


@dataclass(frozen=True, slots=True)
class StsMxPatterns:
    """RFC 8461 section 4.1 for the MTA-STS policy applied (``enforce`` or ``testing``)."""

    policy: StsPolicy

    async def refine(self, mx: MxRequirement) -> MxRequirement:
        if mx.requirement.dane_authenticated:  # RFC 8461 section 2: DANE wins
            return mx
        if self.policy.mx_allowed(mx.host):  # it matches one of the ``mx`` patterns
            return mx
        if self.policy.mode is StsMode.ENFORCE:
            return dataclasses.replace(mx, allowed=False, reason=NO_STS_MX)
        if not self.policy.mx:  # a testing policy listing no MX host reports nothing
            return mx
        failures = (*mx.failures, TlsFailure.VALIDATION_FAILURE)
        return dataclasses.replace(mx, failures=failures)


async def refine(
    host: str,
    requirement: Requirement,
    sources: tuple[MxSource, ...],
    *,
    secure: bool = False,
    dns: HostDns | None = None,
) -> MxRequirement:
    """Run ``host`` through ``sources`` in order, starting from the domain's requirement;
    ``secure``: DNSSEC validated the MX RRset and the host's address records; ``dns``: the
    details DANE needs (CNAME expansion, the next-hop domain, the port)."""
    mx = MxRequirement(host, requirement, secure=secure, dns=dns)
    for source in sources:
        mx = await source.refine(mx)
    return mx
