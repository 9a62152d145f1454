"""What one recipient's delivery attempt counts as in the TLS coverage metrics.

Each recipient result of an attempt is tallied by result (``delivered``, ``deferred``,
``bounced``), by what TLS the attempt achieved and by the source of the policy that applied
(``policy.levels.PolicySource``, or ``none`` when no session was tried). The TLS outcome:

- ``verified``: TLS with a certificate that was checked and passed (WebPKI or DANE);
- ``unverified``: TLS whose certificate was not verified (allowed by the level, RFC 7435);
- ``plaintext``: the peer did not offer STARTTLS, or the level was ``none``;
- ``fallback``: STARTTLS was offered but the session went on in plaintext (a failed or
  refused handshake, ``TlsRecord.fallback``);
- ``policy_refused``: no session met the policy (a 4.7.x/5.7.x refusal of our own before
  MAIL: MTA-STS enforce, DANE, REQUIRETLS, an ``encrypt``/``verify`` level);
- ``no_session``: no session at all (DNS, connection failures, null MX).

Pure: the dispatcher hands the tallies to the metrics.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sealpost.model.reply import Reply
from sealpost.model.tls_record import TlsRecord


class TlsOutcome(StrEnum):
    VERIFIED = "verified"
    UNVERIFIED = "unverified"
    PLAINTEXT = "plaintext"
    FALLBACK = "fallback"
    POLICY_REFUSED = "policy_refused"
    NO_SESSION = "no_session"


@dataclass(frozen=True, slots=True)
class AttemptTally:
    """One recipient of one attempt, as the metrics count it."""

    result: str  # delivered | deferred | bounced
    tls: TlsOutcome
    policy_source: str  # a PolicySource value, or "none"
    domain: str  # the recipient domain (the metrics keep only listed ones)


def tls_outcome(tls: TlsRecord | None, sent: bool, reply: Reply | None) -> TlsOutcome:
    """``sent``: a session that met the policy carried the transaction
    (``DomainAttempt.sent``); otherwise ``reply`` is our own answer: a policy refusal
    (x.7.x: 4.7.4, 4.7.5, 4.7.0, 5.7.30) or a routing or connection failure."""
    if sent and tls is not None:
        if tls.version is not None:
            return TlsOutcome.VERIFIED if tls.verified else TlsOutcome.UNVERIFIED
        return TlsOutcome.FALLBACK if tls.fallback is not None else TlsOutcome.PLAINTEXT
    if sent:
        return TlsOutcome.PLAINTEXT
    enhanced = reply.enhanced if reply is not None else None
    if tls is not None and enhanced and enhanced[2:4] == "7.":
        return TlsOutcome.POLICY_REFUSED
    return TlsOutcome.NO_SESSION


def policy_source(tls: TlsRecord | None) -> str:
    return (tls.policy_source if tls is not None else None) or "none"
