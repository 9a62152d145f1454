"""A UTC day's TLS-RPT tallies, summed into the ``policies`` of each domain's report
(RFC 8460 section 4.4).

Tallies are grouped by policy domain, then by policy (type, policy strings and mx-host
together: a policy that changed during the day is two entries). Per policy, the summary sums
the successful and the failed sessions, and ``failure-details`` has one entry per result
type, receiving MX host and receiving IP, largest count first.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from sealpost.model.tlsrpt_report import FailureDetail, PolicyResult, ReportedPolicy, TlsTally


def by_domain(tallies: Iterable[TlsTally]) -> dict[str, tuple[PolicyResult, ...]]:
    """Policy domain -> its report's ``policies``, domains and policies in a stable order."""
    grouped: dict[str, dict[str, list[TlsTally]]] = defaultdict(lambda: defaultdict(list))
    for tally in tallies:
        grouped[tally.policy_domain][tally.policy.key].append(tally)
    return {
        domain: tuple(_policy(domain, group) for _key, group in sorted(policies.items()))
        for domain, policies in sorted(grouped.items())
    }


def _policy(domain: str, tallies: list[TlsTally]) -> PolicyResult:
    policy: ReportedPolicy = tallies[0].policy
    successful = sum(t.sessions for t in tallies if t.result is None)
    failed = [t for t in tallies if t.result is not None]
    details = [
        FailureDetail(t.result, t.receiving_mx, t.receiving_ip, t.sessions)
        for t in failed
        if t.result is not None
    ]
    details.sort(key=lambda d: (-d.sessions, d.result.value, d.receiving_mx, d.receiving_ip))
    return PolicyResult(
        policy=policy,
        policy_domain=domain,
        successful=successful,
        failed=sum(t.sessions for t in failed),
        failures=tuple(details),
    )
