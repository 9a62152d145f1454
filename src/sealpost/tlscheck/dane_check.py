"""tls-check's DANE step: the TLSA records delivery would use for a host, found the same way.

tls-check must give the verdict delivery acts on (issue 14), so it finds a host's TLSA
records with delivery's own ``policy.dane_lookup.find_tlsa`` (RFC 7672 section 2.2):
DNSSEC trusted (``CheckOptions.dnssec``: ``[dns] dnssec`` of the server's config, or on for
the CLI without one), a secure MX RRset (for a domain target; an implicit MX's own address
records; a ``host:port`` target is checked as a static route, Postfix's ``[host]:port``),
secure address records, CNAME expansion (the expanded name first, then the original), and
TLSA at ``_25._tcp`` for MX hosts or the target's own port for a host target. What it finds
sets the SNI of the main probe (the TLSA base domain, section 8.1) and the reference
identifiers a DANE-TA leaf may carry (section 3.2.3: base domain, original MX host,
next-hop domain), which ``tlscheck.verdict.judge_dane`` matches with ``policy.dane``.

When delivery would not use DANE for the host (DNSSEC not trusted, MX or addresses not
secure, an insecure first CNAME link), the records at the host's own name are still looked
up and shown, with ``dane_skipped`` saying why they do not apply.
"""

from __future__ import annotations

import asyncio

from sealpost.dns.resolver import DnsError, Resolver
from sealpost.policy.dane_lookup import SMTP_PORT, HostDns, NoDane, TlsaFound, TlsaLookup, find_tlsa
from sealpost.tlscheck import domain_policy
from sealpost.tlscheck.report import HostReport


async def dane_for_host(
    host: HostReport,
    resolver: Resolver,
    *,
    domain: str | None,
    parent_secure: bool,
    trusted: bool,
    timeout: float,
) -> None:
    """Fill ``host``'s TLSA findings as delivery would find them; ``domain``: the next-hop
    domain for an MX host (None: a host target, checked at its own port)."""
    port = SMTP_PORT if domain is not None else host.port
    dns = HostDns(
        host.host,
        domain or host.host,
        port,
        parent_secure,
        host.addresses_secure,
        host.canonical,
    )
    owner = f"_{port}._tcp.{host.host}"
    try:
        async with asyncio.timeout(timeout):
            found = await find_tlsa(TlsaLookup(resolver, trusted), dns)
            if isinstance(found, NoDane):
                host.tlsa = await domain_policy.tlsa(host.host, port, resolver)
    except TimeoutError:
        host.tlsa = domain_policy.TlsaFindings(owner, error="timed out")
        return
    if isinstance(found, DnsError):
        host.tlsa = domain_policy.TlsaFindings(found.name, error=f"DNS: {found}")
    elif isinstance(found, TlsaFound):
        host.tlsa = domain_policy.TlsaFindings(found.owner, found.records, True)
        host.tlsa_base, host.reference_names = found.base, found.names
    elif found is not NoDane.NO_RECORDS:
        host.dane_skipped = found.value
