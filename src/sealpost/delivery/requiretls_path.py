"""Whether a REQUIRETLS message that found no path bounces now or waits (RFC 8689 4.2.1).

RFC 8689 section 4.2.1: when a step of the REQUIRETLS procedure fails with one MX host
(the host is validated by neither DNSSEC, DANE nor MTA-STS; no TLS; a certificate that
neither PKIX nor DANE authenticates; no REQUIRETLS in the EHLO reply after STARTTLS), the
client moves on to the next MX host; "if there are no more MX hosts, the client MUST NOT
transmit the message to the domain", and it MUST then send a non-delivery notification.
So when every host failed a REQUIRETLS step the message bounces at once, with the status
codes the RFC recommends (SHOULD): ``5.7.30`` (REQUIRETLS needed) when a host is not a
REQUIRETLS next hop or does not offer the extension, ``5.7.10`` (encryption needed) when no
authenticated TLS session could be made. The code is the one of the last host tried.

A host that failed for any other reason (no connection, a 4xx greeting, a TLSA lookup that
failed, a host an MTA-STS policy does not list) is not a REQUIRETLS failure: a later
attempt may find a path, so the attempt defers as usual.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sealpost.model.reply import Reply
from sealpost.policy.requiretls_mx import STATUS as NOT_A_REQUIRETLS_PATH  # 5.7.30

__all__ = ["NOT_A_REQUIRETLS_PATH", "NO_AUTHENTICATED_TLS", "RequireTlsPath"]

NO_AUTHENTICATED_TLS = "5.7.10"  # RFC 5248 / RFC 3207: encryption needed


@dataclass(frozen=True, slots=True)
class Miss:
    """One host that failed a REQUIRETLS step."""

    host: str
    status: str  # NOT_A_REQUIRETLS_PATH or NO_AUTHENTICATED_TLS
    why: str


@dataclass(slots=True)
class RequireTlsPath:
    """What the hosts tried for one REQUIRETLS message said."""

    misses: list[Miss] = field(default_factory=list)
    other_failure: bool = False  # a host failed for a reason a retry may change

    def miss(self, host: str, status: str, why: str) -> None:
        self.misses.append(Miss(host, status, why))

    def other(self) -> None:
        self.other_failure = True

    def bounce(self, domain: str) -> Reply | None:
        """The bounce when every host failed a REQUIRETLS step; None: defer as usual."""
        if self.other_failure or not self.misses:
            return None
        last = self.misses[-1]
        where = f"{last.host}: {last.why}"
        text = f"REQUIRETLS: no next hop for {domain} is a REQUIRETLS path ({where})"
        return Reply.of(550, last.status, text)
