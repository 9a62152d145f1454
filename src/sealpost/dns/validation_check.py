"""The start-up check that ``[dns] dnssec = true`` is true: the resolver really validates.

With ``dnssec = true`` the AD bit of the configured resolvers makes an answer secure (RFC
4035 section 3.2.3), and DANE (RFC 7672 section 2.1) trusts it. A resolver that does not
validate never sets AD, so DANE would silently never apply; one that sets AD without
validating would make forged TLSA records "secure". Two probes tell them apart:

- a **signed** name (default: the root zone's SOA) must come back with the AD bit;
- a **bogus** name (default: ``dnssec-failed.org``, kept deliberately mis-signed by Comcast
  for this purpose) must fail with SERVFAIL, as a validating resolver answers bogus data
  (RFC 4035 section 5.5).

Each probe is ``"<name> [TYPE]"`` (``[dns] dnssec_probe_secure`` and ``dnssec_probe_bogus``).
The check returns the problems as sentences that say what failed and what to do; the caller
(``app.py``) refuses to start or warns, as ``[dns] dnssec_check`` says.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from sealpost.dns.resolver import DnsError, DnsErrorKind


class DnssecNotValidating(Exception):
    """The configured resolver failed the check and ``dnssec_check = "refuse"``."""


@dataclass(frozen=True, slots=True)
class Probe:
    name: str
    rdtype: str

    @classmethod
    def parse(cls, text: str, default_type: str) -> Probe:
        """``"example.org"`` or ``"example.org. A"``; ValueError when malformed."""
        parts = text.split()
        if not parts or len(parts) > 2:
            raise ValueError(f"DNSSEC probe {text!r}: expected '<name> [TYPE]'")
        rdtype = parts[1].upper() if len(parts) == 2 else default_type
        if not rdtype.isalnum():
            raise ValueError(f"DNSSEC probe {text!r}: {rdtype!r} is not a record type")
        return cls(parts[0], rdtype)

    def __str__(self) -> str:
        return f"{self.name} {self.rdtype}"


class ProbingResolver(Protocol):
    async def validated(self, name: str, rdtype: str) -> bool:
        """True when the answer (records or NODATA) carried AD; DnsError when it failed."""


WHAT_TO_DO = (
    "Point [dns] nameservers at a validating resolver you trust (unbound on loopback, see "
    "docs/outbound.md#dane), set [dns] dnssec = false to deliver without DANE, or set "
    '[dns] dnssec_check = "warn" to start anyway'
)


async def check_validation(
    resolver: ProbingResolver, secure: Probe, bogus: Probe, servers: str
) -> list[str]:
    """What is wrong with the DNSSEC validation of ``resolver`` (named ``servers`` in the
    sentences); empty when it validates."""
    problems: list[str] = []
    try:
        if not await resolver.validated(secure.name, secure.rdtype):
            problems.append(
                f"{servers} answered the signed name {secure} without the AD bit: "
                "it does not validate DNSSEC (or strips AD)"
            )
    except DnsError as exc:
        problems.append(f"{servers} did not answer the signed name {secure}: {exc}")
    try:
        ad = await resolver.validated(bogus.name, bogus.rdtype)
        problems.append(
            f"{servers} answered the bogus name {bogus} (AD={'set' if ad else 'not set'}) "
            "instead of failing with SERVFAIL: it does not reject forged DNSSEC data"
        )
    except DnsError as exc:
        if exc.kind is DnsErrorKind.TIMEOUT:
            problems.append(
                f"{servers} did not answer the bogus name {bogus} in time, so it is unknown "
                "whether it rejects forged DNSSEC data"
            )
        elif exc.kind is not DnsErrorKind.SERVFAIL:
            problems.append(
                f"{servers} answered the bogus name {bogus} with {exc.kind.value}, not "
                "SERVFAIL: it does not reject forged DNSSEC data (or the probe name is wrong)"
            )
    return problems


def refusal(problems: list[str]) -> str:
    """The one-paragraph error for a refused start."""
    return "[dns] dnssec = true, but " + "; ".join(problems) + ". " + WHAT_TO_DO + "."


def warning(problems: list[str]) -> str:
    """The one-paragraph warning of ``dnssec_check = "warn"``."""
    return (
        "[dns] dnssec = true, but "
        + "; ".join(problems)
        + '. Starting anyway ([dns] dnssec_check = "warn"): DANE trusts this resolver\'s AD '
        "bit although it failed the check."
    )
