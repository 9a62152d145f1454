"""What one delivery attempt counts for the TLS-RPT reports we send (RFC 8460).

RFC 8460 section 4.4 reports, per policy domain and policy, how many TLS sessions succeeded
and how many failed (with the result types of section 4.3 and the receiving MX and IP). Each
domain attempt (``DomainAttempt``) counts as one session to the MX it ended on:

- the policy is the one that applied to that host (``DomainAttempt.reported``, made by
  ``policy.reported.reported_policy``: ``tlsa``, ``sts`` or ``no-policy-found``);
- it failed when the attempt names RFC 8460 failures (``tls_failures``): one tally per
  distinct result type, so a session that saw two failures counts in both; it succeeded
  when TLS was negotiated and nothing failed; a session with neither (a refused connection)
  is no TLS session and counts nowhere;
- under ``no-policy-found`` a session that negotiated TLS succeeded even if the certificate
  did not verify: section 4.4 counts failures "to negotiate a TLS-enabled connection", and
  no policy asked for an authenticated peer. Policy discovery failures (``sts-*``,
  ``dnssec-invalid``, ``dane-required``) still count; so does ``starttls-not-supported``;
- hosts of static routes and the smarthost are the operator's, not the domain's: not
  counted. Nor is anything of a TLS report message itself (``delivery.outcomes`` skips
  messages of ``model.tlsrpt_report.REPORT_LISTENER``): reports about delivering reports
  would loop (one domain's failing ``rua`` feeding its own report).

A pooled connection carries several messages; each message's attempt counts once, so the
counts are delivery attempts over TLS sessions rather than TCP connections.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from sealpost.delivery.attempt import DomainAttempt
from sealpost.model.tlsrpt import TlsFailure
from sealpost.model.tlsrpt_report import PolicyType, TlsTally

# Failures of finding or checking a policy: reported whether or not TLS was negotiated.
DISCOVERY = frozenset(
    {
        TlsFailure.STS_POLICY_FETCH_ERROR,
        TlsFailure.STS_POLICY_INVALID,
        TlsFailure.STS_WEBPKI_INVALID,
        TlsFailure.DNSSEC_INVALID,
        TlsFailure.DANE_REQUIRED,
    }
)


def utc_day(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).date().isoformat()


def tallies(domain: str, attempt: DomainAttempt, now: float) -> list[TlsTally]:
    """The sessions ``attempt`` adds to the aggregate of ``domain`` on the day of ``now``."""
    policy = attempt.reported
    if policy is None or attempt.local:
        return []
    base = TlsTally(
        day=utc_day(now),
        policy_domain=domain.lower().rstrip("."),
        policy=policy,
        receiving_mx=(attempt.mx or "").lower().rstrip("."),
        receiving_ip=attempt.ip or "",
    )
    negotiated = attempt.tls is not None and bool(attempt.tls.version)
    failures = set(attempt.tls_failures)
    if policy.type is PolicyType.NO_POLICY_FOUND and negotiated:
        failures &= DISCOVERY
    if failures:
        return [replace(base, result=f) for f in sorted(failures)]
    return [base] if negotiated else []
