"""Where a host's TLSA records are, and which names its certificate may carry (RFC 7672).

One function, ``find_tlsa``, that delivery (``policy.dane_mx``) and tls-check
(``tlscheck.check``) both call, so that both find the same records for a host:

- TLSA records are trusted only when DNSSEC is (``[dns] dnssec = true``: the resolver
  validates, ``TlsaLookup.trusted``) and, for an MX host, when its MX RRset was secure
  (RFC 7672 section 2.2.1). A static route or smarthost (``[host]:port``, as Postfix) has
  no MX RRset: its own address records decide;
- the host's address records must be secure (section 2.2.2). When they came through a
  CNAME chain (``Answer.canonical``) that validated end to end, the TLSA base domain is
  first the expanded name, then, when there are no secure TLSA records there, the
  original name. When the chain did not validate end to end, the host is still
  DANE-eligible at its original name if the first link (the host's own CNAME RRset) is
  secure (the alias lives in a signed zone; its target may not): TLSA is looked up at the
  original name only. Otherwise there is no DANE for the host;
- the first secure TLSA RRset decides (as Postfix does): an insecure answer or none
  (NXDOMAIN, NODATA) moves on to the next base name; a lookup that fails (SERVFAIL,
  timeout; bogus answers are SERVFAIL from a validating resolver) stops at once and is
  returned: the host MUST NOT be used (section 2.2);
- TLSA records are at ``_<port>._tcp.<base>``: port 25 for MX hosts (section 2.2.1),
  the relay's port for a static route or smarthost.

The result names the TLSA base domain (the SNI name, section 8.1) and the reference
identifiers a DANE-TA certificate may match (section 3.2.3): the TLSA base domain, the
original MX host name when the base is its CNAME expansion, and the next-hop domain (the
recipient domain; a relay's own host name).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sealpost.dns.resolver import DnsError, Resolver, TlsaRecord

SMTP_PORT = 25  # RFC 7672 section 2.2.1: MX delivery uses the TLSA records of port 25


class NoDane(StrEnum):
    """Why a host has no DANE (no secure TLSA records to use)."""

    UNTRUSTED = "DNSSEC is not trusted ([dns] dnssec = false)"
    INSECURE = "not DNSSEC-secure"
    NO_RECORDS = "no secure TLSA records"


@dataclass(frozen=True, slots=True)
class TlsaFound:
    """A host's secure TLSA RRset and where it was found."""

    records: tuple[TlsaRecord, ...]
    base: str  # the TLSA base domain: SNI, and the first reference identifier
    names: tuple[str, ...]  # every reference identifier for DANE-TA, base first
    owner: str  # "_25._tcp.<base>", the name the records are at


@dataclass(frozen=True, slots=True)
class TlsaLookup:
    """Asks for a host's TLSA records; ``trusted``: the resolver validates (``dnssec``)."""

    resolver: Resolver
    trusted: bool

    async def secure_records(self, name: str) -> tuple[TlsaRecord, ...] | DnsError:
        """The secure TLSA RRset at ``name`` (``()``: none, or not secure), or the failure."""
        try:
            answer = await self.resolver.tlsa(name)
        except DnsError as exc:
            if exc.kind.transient:
                return exc
            return ()
        return answer.records if answer.secure else ()

    async def alias_secure(self, host: str) -> bool | DnsError:
        """Whether ``host`` is itself a secure CNAME (the first link of its chain)."""
        try:
            answer = await self.resolver.alias(host)
        except DnsError as exc:
            if exc.kind.transient:
                return exc
            return False
        return answer.secure and bool(answer.records)


@dataclass(frozen=True, slots=True)
class HostDns:
    """What DNS said about one host, as routing got it."""

    host: str  # the MX host name (or relay host), lower case, no trailing dot
    domain: str  # the next-hop domain: the recipient domain, or the relay host itself
    port: int = SMTP_PORT
    parent_secure: bool = True  # the MX RRset was secure (True for a relay: none asked)
    addresses_secure: bool = False  # its address records, every CNAME link included, were
    canonical: str = ""  # the CNAME-expanded name of ``host``, when it is an alias


async def find_tlsa(lookup: TlsaLookup, dns: HostDns) -> TlsaFound | NoDane | DnsError:
    """The host's secure TLSA RRset (see the module docstring), why there is none, or the
    lookup failure that takes the host out."""
    if not lookup.trusted:
        return NoDane.UNTRUSTED
    if not dns.parent_secure:
        return NoDane.INSECURE
    host = dns.host.rstrip(".").lower()
    expanded = dns.canonical.rstrip(".").lower()
    if expanded == host:
        expanded = ""
    if dns.addresses_secure:
        bases = (expanded, host) if expanded else (host,)
    elif expanded:
        first = await lookup.alias_secure(host)
        if isinstance(first, DnsError):
            return first
        if not first:
            return NoDane.INSECURE
        bases = (host,)
    else:
        return NoDane.INSECURE
    for base in bases:
        owner = f"_{dns.port}._tcp.{base}"
        found = await lookup.secure_records(owner)
        if isinstance(found, DnsError):
            return found
        if found:
            names = tuple(dict.fromkeys((base, host, dns.domain.rstrip(".").lower())))
            return TlsaFound(found, base, names, owner)
    return NoDane.NO_RECORDS
