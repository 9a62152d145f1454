"""The mail exchangers DNS names for a domain (RFC 5321 section 5.1, RFC 7505).

Pure interpretation of the MX answer, shared by delivery (which routes mail by it) and
tls-check (which reports it), so both read a zone the same way:

- MX hosts are names, compared lower case without the trailing dot;
- a domain without MX records (NODATA, or an empty answer) is its own implicit MX at
  preference 0 (RFC 5321 section 5.1);
- a single MX of ``.`` (the root, an empty host) is a null MX: the domain takes no mail
  and has no implicit MX (RFC 7505 section 3);
- hosts are tried lowest preference first, each host once at its best preference, hosts of
  equal preference in random order (RFC 5321 section 5.1: "randomize them to spread the
  load"); ``by_preference`` without a random source keeps them in name order.

A lookup that fails otherwise (NXDOMAIN, SERVFAIL, timeout) raises the resolver's
``DnsError``: what that means (bounce, defer, report) is the caller's to say.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from sealpost.dns.names import normalize_domain
from sealpost.dns.resolver import DnsError, DnsErrorKind, MxRecord, Resolver


@dataclass(frozen=True, slots=True)
class MxHosts:
    """What DNS says about where mail for one domain goes."""

    records: tuple[MxRecord, ...] = ()  # normalized, by (preference, host); () if implicit
    secure: bool = False  # the MX answer was DNSSEC-validated (AD bit)
    implicit: bool = False  # no MX records: the domain is its own MX (RFC 5321 section 5.1)

    @property
    def null(self) -> bool:
        """A null MX (RFC 7505): the domain accepts no mail."""
        return len(self.records) == 1 and self.records[0].host == ""


async def lookup_mx(domain: str, resolver: Resolver) -> MxHosts:
    """The MX records of ``domain`` (see the module docstring); DnsError for anything but
    NODATA."""
    try:
        answer = await resolver.mx(domain)
    except DnsError as exc:
        if exc.kind is DnsErrorKind.NODATA:
            return MxHosts(implicit=True)
        raise
    records = sorted(
        (MxRecord(r.preference, normalize_domain(r.host)) for r in answer.records),
        key=lambda r: (r.preference, r.host),
    )
    if not records:
        return MxHosts(implicit=True)
    return MxHosts(tuple(records), answer.secure)


def by_preference(records: tuple[MxRecord, ...], rng: random.Random | None) -> list[MxRecord]:
    """Lowest preference first, each host once, equal preferences shuffled with ``rng``
    (in name order without one)."""
    best: dict[str, int] = {}
    for record in records:
        if record.host not in best or record.preference < best[record.host]:
            best[record.host] = record.preference
    ordered: list[MxRecord] = []
    for preference in sorted(set(best.values())):
        group = sorted(host for host, pref in best.items() if pref == preference)
        if rng is not None:
            rng.shuffle(group)
        ordered += [MxRecord(preference, host) for host in group]
    return ordered
