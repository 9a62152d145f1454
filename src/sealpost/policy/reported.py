"""The policy a delivery session ran under, as TLS reporting names it (RFC 8460 section 4.4).

- ``tlsa`` when DANE authenticated the MX host (RFC 7672): the "policy-string" is the host's
  secure TLSA records in presentation form, and "mx-host" the host;
- ``sts`` when an MTA-STS policy (``enforce`` or ``testing``) applied to the domain: the
  "policy-string" is the policy's lines (RFC 8461 section 3.2, as ``StsPolicy.text`` writes
  them) and "mx-host" its ``mx`` patterns;
- ``no-policy-found`` otherwise (a message with ``TLS-Required: No`` included: it set the
  domain's policies aside).
"""

from __future__ import annotations

from sealpost.model.tlsrpt_report import PolicyType, ReportedPolicy
from sealpost.policy.dane import presentation
from sealpost.policy.engine import PolicyDecision
from sealpost.policy.mx_policy import MxRequirement


def reported_policy(decision: PolicyDecision, mx: MxRequirement) -> ReportedPolicy:
    """The RFC 8460 policy that applied to a session with ``mx``."""
    requirement = mx.requirement
    if requirement.dane_authenticated:
        records = tuple(presentation(r) for r in requirement.tlsa)
        return ReportedPolicy(PolicyType.TLSA, records, (mx.host.lower().rstrip("."),))
    sts = decision.sts_policy
    if sts is not None:
        lines = tuple(line for line in sts.text().split("\r\n") if line)
        return ReportedPolicy(PolicyType.STS, lines, sts.mx)
    return ReportedPolicy(PolicyType.NO_POLICY_FOUND)
