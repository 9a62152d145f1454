"""REQUIRETLS's per-MX step: which next hops a REQUIRETLS message may go to (RFC 8689).

RFC 8689 section 4.2.1, for a message sent with the REQUIRETLS MAIL FROM parameter:

- step 2: when the server was found by an MX lookup (an implicit MX too) that is not
  DNSSEC-validated, the MX host name MUST be validated by MTA-STS (RFC 8461 section 4.1:
  it matches the ``mx`` patterns of the domain's policy);
- step 5: the server's identity is checked by DANE (RFC 7672) when it has TLSA records,
  else by PKIX (RFC 6125): the level is ``verify`` (``policy.verdict``);
- step 6: the server offers REQUIRETLS (``smtp.client_encoding``: 5.7.30 at MAIL).

So a host is a REQUIRETLS next hop when DANE authenticates it, or when its MX RRset and
addresses were DNSSEC-secure from a trusted resolver (``[dns] dnssec = true``), or when it
matches an MTA-STS policy (``enforce`` or ``testing``: both name the domain's MX hosts).
A host validated by neither (WebPKI alone) is taken out ``permanent``: no retry can change
that, and when every host is out the message bounces with 5.7.30 (section 4.2.1: "MUST
NOT transmit"; the client "MUST either bounce" or try another MX). It is the sender's
requirement, not a failure of the recipient's policy, so nothing is reported by TLS-RPT.
Static routes and the smarthost are not MX lookups (step 2 does not apply); they keep
``verify``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from sealpost.policy.mta_sts import StsMode, StsPolicy
from sealpost.policy.mx_policy import MxRequirement

STATUS = "5.7.30"  # RFC 8689 section 6.3: REQUIRETLS support required


@dataclass(frozen=True, slots=True)
class RequireTlsMx:
    """The last per-MX source for a REQUIRETLS message."""

    sts_policy: StsPolicy | None  # the domain's MTA-STS policy (enforce or testing), if any
    dnssec_trusted: bool  # the resolver validates ([dns] dnssec = true)

    async def refine(self, mx: MxRequirement) -> MxRequirement:
        if not mx.allowed or mx.requirement.dane_authenticated:
            return mx
        if self.dnssec_trusted and mx.secure:  # step 2: a DNSSEC-validated MX lookup
            return mx
        policy = self.sts_policy
        if policy is not None and policy.mode is not StsMode.NONE and policy.mx_allowed(mx.host):
            return mx
        reason = (
            f"REQUIRETLS support required: {mx.host} is validated by neither DANE, "
            "a DNSSEC-secure MX lookup nor MTA-STS"
        )
        return dataclasses.replace(mx, allowed=False, permanent=True, reason=reason)
