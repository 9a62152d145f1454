"""The ``Resolver`` over dnspython's asyncio stub resolver.

Every query sets the EDNS DO bit and the AD flag, so a validating upstream reports whether
it validated the answer (RFC 6840 section 5.7); ``Answer.secure`` is the response's AD bit
(RFC 4035 section 3.2.3), which is only as trustworthy as the path to the configured
resolver. A truncated UDP answer is asked again over TCP (RFC 7766 section 5; dnspython's
resolution loop does this). Nothing is cached here: routing and MTA-STS discovery must see
DNS changes at once. Failures become ``DnsError`` with a kind: NXDOMAIN, NODATA (NoAnswer),
SERVFAIL (every server failed or refused), TIMEOUT (the lifetime ran out).
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Sequence

import dns.asyncresolver
import dns.exception
import dns.flags
import dns.name
import dns.nameserver
import dns.rdatatype
import dns.resolver

from sealpost.dns.resolver import Answer, DnsError, DnsErrorKind, MxRecord, TlsaRecord

DEFAULT_PORT = 53
EDNS_PAYLOAD = 1232  # the DNS flag day 2020 size: no IP fragmentation on common paths


def parse_nameserver(text: str) -> tuple[str, int]:
    """``"127.0.0.1:5353"``, ``"127.0.0.1"``, ``"[::1]:5353"``, ``"::1"`` -> (address, port).

    Raises ValueError for anything that is not an IP address with an optional port.
    """
    value = text.strip()
    port = DEFAULT_PORT
    if value.startswith("["):
        address, sep, rest = value[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise ValueError(f"nameserver {text!r}: expected [address]:port")
        if rest:
            port = _port(rest[1:], text)
    elif value.count(":") == 1:
        address, _, port_text = value.partition(":")
        port = _port(port_text, text)
    else:
        address = value
    try:
        return str(ipaddress.ip_address(address)), port
    except ValueError:
        raise ValueError(f"nameserver {text!r}: {address!r} is not an IP address") from None


def _port(text: str, spec: str) -> int:
    if not (text.isascii() and text.isdigit()) or not 0 < int(text) < 65536:
        raise ValueError(f"nameserver {spec!r}: port must be 1-65535")
    return int(text)


class DnspythonResolver:
    """``Resolver`` asking the given nameservers (``[]``: the system's /etc/resolv.conf)."""

    def __init__(
        self, nameservers: Sequence[str], *, timeout: float = 5.0, lifetime: float = 10.0
    ) -> None:
        if nameservers:
            resolver = dns.asyncresolver.Resolver(configure=False)
            resolver.nameservers = [
                dns.nameserver.Do53Nameserver(*parse_nameserver(ns)) for ns in nameservers
            ]
        else:
            resolver = dns.asyncresolver.Resolver(configure=True)
        resolver.timeout = timeout
        resolver.lifetime = lifetime
        resolver.cache = None
        resolver.retry_servfail = False
        resolver.use_edns(0, dns.flags.DO, EDNS_PAYLOAD)
        resolver.flags = dns.flags.RD | dns.flags.AD
        self._resolver = resolver

    @property
    def nameservers(self) -> tuple[str, ...]:
        return tuple(str(ns) for ns in self._resolver.nameservers)

    async def mx(self, domain: str) -> Answer[MxRecord]:
        answer = await self._query(domain, dns.rdatatype.MX)
        records = tuple(
            MxRecord(rdata.preference, _host(rdata.exchange)) for rdata in answer.rrset or ()
        )
        return Answer(records, _secure(answer))

    async def addresses(self, host: str) -> Answer[str]:
        """A and AAAA together, IPv4 first. Records from either query are returned even when
        the other failed; with none, the error says why: a transient failure first (we do
        not know), then NODATA (the name exists), then NXDOMAIN."""
        results = await asyncio.gather(
            self._query(host, dns.rdatatype.A),
            self._query(host, dns.rdatatype.AAAA),
            return_exceptions=True,
        )
        addresses: list[str] = []
        answers: list[dns.resolver.Answer] = []
        errors: list[DnsError] = []
        for result in results:
            if isinstance(result, DnsError):
                errors.append(result)
            elif isinstance(result, BaseException):
                raise result
            else:
                answers.append(result)
                for rdata in result.rrset or ():
                    if rdata.address not in addresses:
                        addresses.append(rdata.address)
        if addresses:
            secure = all(_secure(a) for a in answers if a.rrset)
            canonical = next((_canonical(a) for a in answers if a.rrset), "")
            return Answer(tuple(addresses), secure, canonical)
        for kind in (DnsErrorKind.SERVFAIL, DnsErrorKind.TIMEOUT, DnsErrorKind.NODATA):
            for error in errors:
                if error.kind is kind:
                    raise error
        if errors:
            raise errors[0]
        raise DnsError(DnsErrorKind.NODATA, host, "no A or AAAA records")

    async def txt(self, name: str) -> Answer[str]:
        answer = await self._query(name, dns.rdatatype.TXT)
        records = tuple(
            b"".join(rdata.strings).decode("utf-8", "replace") for rdata in answer.rrset or ()
        )
        return Answer(records, _secure(answer))

    async def tlsa(self, name: str) -> Answer[TlsaRecord]:
        answer = await self._query(name, dns.rdatatype.TLSA)
        records = tuple(
            TlsaRecord(rdata.usage, rdata.selector, rdata.mtype, bytes(rdata.cert))
            for rdata in answer.rrset or ()
        )
        return Answer(records, _secure(answer))

    async def alias(self, name: str) -> Answer[str]:
        answer = await self._query(name, dns.rdatatype.CNAME)
        records = tuple(_host(rdata.target) for rdata in answer.rrset or ())
        return Answer(records, _secure(answer))

    async def validated(self, name: str, rdtype: str) -> bool:
        """Whether ``name``/``rdtype`` came back with AD, records or NODATA alike (the
        start-up DNSSEC check, ``dns/validation_check.py``); DnsError when it failed."""
        try:
            answer = await self._query(name, dns.rdatatype.from_text(rdtype))
        except DnsError as exc:
            if exc.kind is not DnsErrorKind.NODATA or exc.response is None:
                raise
            return bool(exc.response.flags & dns.flags.AD)
        return _secure(answer)

    async def _query(self, name: str, rdtype: dns.rdatatype.RdataType) -> dns.resolver.Answer:
        label = name.rstrip(".") or "."
        try:
            qname = dns.name.from_text(label)
        except (dns.exception.DNSException, UnicodeError, ValueError) as exc:
            raise DnsError(DnsErrorKind.NXDOMAIN, name, f"not a DNS name: {exc}") from None
        kind = dns.rdatatype.to_text(rdtype)
        try:
            answer = await self._resolver.resolve(qname, rdtype, search=False)
        except dns.resolver.NXDOMAIN:
            raise DnsError(DnsErrorKind.NXDOMAIN, name, kind) from None
        except dns.resolver.NoAnswer as exc:
            error = DnsError(DnsErrorKind.NODATA, name, kind)
            error.response = exc.response()
            raise error from None
        except dns.exception.Timeout:  # LifetimeTimeout is a Timeout
            raise DnsError(DnsErrorKind.TIMEOUT, name, kind) from None
        except dns.resolver.NoNameservers as exc:
            raise DnsError(DnsErrorKind.SERVFAIL, name, f"{kind}: {exc}") from None
        except dns.exception.DNSException as exc:  # YXDOMAIN, malformed answers
            raise DnsError(DnsErrorKind.SERVFAIL, name, f"{kind}: {exc}") from None
        if answer.rrset is None or len(answer.rrset) == 0:
            raise DnsError(DnsErrorKind.NODATA, name, kind)
        return answer


def _host(exchange: dns.name.Name) -> str:
    if exchange == dns.name.root:
        return ""
    return exchange.to_text(omit_final_dot=True).lower()


def _canonical(answer: dns.resolver.Answer) -> str:
    """The CNAME-expanded owner of the records ("" when the name asked was no alias); the
    AD bit of the whole response covers every link of the chain (RFC 4035 section 3.2.3)."""
    if answer.canonical_name == answer.qname:
        return ""
    return _host(answer.canonical_name)


def _secure(answer: dns.resolver.Answer) -> bool:
    return bool(answer.response.flags & dns.flags.AD)
