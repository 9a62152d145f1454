"""``ZoneResolver``: the one in-memory ``Resolver`` (src/sealpost/dns/resolver.py) for tests.

Zone data uses the syntax of the test DNS server (tests/fixtures/dns_server.py), so the same
data feeds both and tests/conformance/test_resolver_contract.py holds them to one contract::

    resolver = ZoneResolver({
        "example.test": {"MX": [(10, "mx1.example.test")], "TXT": ["v=spf1 -all"]},
        "mx1.example.test": {"A": ["192.0.2.1"], "AAAA": ["2001:db8::1"]},
    }, servfail=["broken.test"], timeout=["mx1.example.test/AAAA"], secure=["example.test"])
    resolver.set("_mta-sts.example.test", "TXT", ["v=STSv1; id=2"])

Values per type: A/AAAA an address; MX ``(preference, host)`` (host ``""`` or ``"."`` is the
RFC 7505 null MX); TXT a string or bytes (one record) or a list of character-strings (one
record, joined); TLSA ``(usage, selector, mtype, data)`` with data as bytes or hex. CNAME is
not supported (the real server follows chains; use it for those tests).

Answers keep the contract: MX hosts lower case without the trailing dot ("" for a null MX),
addresses IPv4 first, in their canonical text; names compared without case or trailing dot;
NXDOMAIN for a name that is neither in the zone nor above a name in it (empty non-terminals
exist, RFC 8020), NODATA for a name without records of the type (RFC 2308). Names asked are
read as DnspythonResolver reads them, with dnspython's parser: escapes decoded, U-labels
asked as their IDNA 2008 A-labels, and text that is no DNS name (an empty label, a label over
63 octets, RFC 1035 section 2.3.4) is NXDOMAIN. Zone data is written in ASCII (A-labels), as
the DNS holds it.

Faults per name, or per name and type as ``"name/AAAA"``, in the public sets ``servfail``
and ``timeout`` (SERVFAIL and TIMEOUT, raised at once); names (or ``"name/TYPE"``) in
``secure`` are answered with ``secure=True``, as a validating resolver's AD bit (RFC 4035
section 3.2.3). An address answer is secure only when every family that answered was.

Introspection: ``asked`` logs each call as ``Asked(method, name)`` with the name as given;
``in_flight`` and ``max_in_flight`` count the calls running at once (each call yields to the
event loop once before answering, so concurrent callers overlap).
"""

from __future__ import annotations

import asyncio
import binascii
import contextlib
import ipaddress
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from typing import Any, NamedTuple

import dns.exception
import dns.name

from sealpost.dns.resolver import Answer, DnsError, DnsErrorKind, MxRecord, TlsaRecord

Records = Mapping[str, Mapping[str, Sequence[object]]]

SUPPORTED_TYPES = ("A", "AAAA", "MX", "TXT", "TLSA")
# Which failure an address lookup reports when neither family had records: the same order
# as DnspythonResolver.addresses (a transient failure first: we do not know).
ADDRESS_ERROR_ORDER = (
    DnsErrorKind.SERVFAIL,
    DnsErrorKind.TIMEOUT,
    DnsErrorKind.NODATA,
    DnsErrorKind.NXDOMAIN,
)


class Asked(NamedTuple):
    method: str  # "mx" | "addresses" | "txt" | "tlsa"
    name: str  # as the caller gave it


def normalize(name: str) -> str:
    """A zone name or MX host: ASCII, compared without case or trailing dot."""
    if not name.isascii():
        raise ValueError(f"{name!r}: write zone data with A-labels (xn--...), as the DNS does")
    return name.lower().rstrip(".")


def query_name(name: str) -> str | None:
    """``name`` as the DNS is asked it (see the module docstring); None if it is no name."""
    try:
        parsed = dns.name.from_text(name.rstrip(".") or ".")
    except (dns.exception.DNSException, UnicodeError, ValueError):
        return None
    return parsed.to_text(omit_final_dot=True).lower()


def parse_value(rtype: str, value: object) -> object:
    """The answer record for one zone value (see the module docstring)."""
    if rtype in ("A", "AAAA"):
        address = ipaddress.ip_address(str(value))
        if address.version != (4 if rtype == "A" else 6):
            raise ValueError(f"{value!r} is not an {rtype} address")
        return str(address)
    if rtype == "MX":
        preference, host = value  # type: ignore[misc]
        return MxRecord(int(preference), normalize(str(host)))
    if rtype == "TXT":
        parts = value if isinstance(value, (list, tuple)) else [value]
        joined = b"".join(p.encode() if isinstance(p, str) else bytes(p) for p in parts)
        return joined.decode("utf-8", "replace")
    if rtype == "TLSA":
        usage, selector, mtype, data = value  # type: ignore[misc]
        raw = binascii.unhexlify(data) if isinstance(data, str) else bytes(data)
        return TlsaRecord(int(usage), int(selector), int(mtype), raw)
    raise ValueError(f"unsupported record type {rtype!r} (supported: {SUPPORTED_TYPES})")


def _matches(keys: set[str], name: str, rtype: str) -> bool:
    for entry in list(keys):
        key_name, slash, key_type = entry.partition("/")
        if normalize(key_name) == name and (not slash or key_type.upper() == rtype):
            return True
    return False


class ZoneResolver:
    """A ``Resolver`` answering from zone data held in memory; see the module docstring."""

    def __init__(
        self,
        records: Records | None = None,
        *,
        servfail: Iterable[str] = (),
        timeout: Iterable[str] = (),
        secure: Iterable[str] = (),
    ) -> None:
        self.servfail = set(servfail)
        self.timeout = set(timeout)
        self.secure = set(secure)
        self.asked: list[Asked] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._zone: dict[str, dict[str, list[object]]] = {}
        for name, types in (records or {}).items():
            for rtype, values in types.items():
                for value in values:
                    self.add(name, rtype, value)

    # -- zone data (the same calls as the test DNS server) -------------------------------

    def add(self, name: str, rtype: str, value: object) -> None:
        record = parse_value(rtype.upper(), value)
        rrset = self._zone.setdefault(normalize(name), {}).setdefault(rtype.upper(), [])
        if record not in rrset:  # an RRset holds each record once (RFC 2181 section 5)
            rrset.append(record)

    def remove(self, name: str, rtype: str | None = None) -> None:
        """Remove every record of ``rtype`` at ``name`` (every record of the name if None)."""
        types = self._zone.get(normalize(name))
        if types is None:
            return
        if rtype is None:
            types.clear()
        else:
            types.pop(rtype.upper(), None)
        if not types:
            del self._zone[normalize(name)]

    def set(self, name: str, rtype: str, values: Sequence[object]) -> None:
        """Replace the records of ``rtype`` at ``name``."""
        self.remove(name, rtype)
        for value in values:
            self.add(name, rtype, value)

    def published(self, name: str, rtype: str) -> tuple[Any, ...]:
        """The records of ``rtype`` at ``name`` as answers carry them, ignoring faults and
        without logging a question (for code that reads DNS without the Resolver)."""
        return tuple(self._zone.get(normalize(name), {}).get(rtype.upper(), ()))

    def asked_for(self, method: str) -> list[str]:
        """The names given to ``method`` ("mx", "addresses", "txt", "tlsa"), in order."""
        return [asked.name for asked in self.asked if asked.method == method]

    # -- the Resolver ----------------------------------------------------------------------

    async def mx(self, domain: str) -> Answer[MxRecord]:
        async with self._asking("mx", domain):
            return Answer(*self._query(domain, "MX"))

    async def addresses(self, host: str) -> Answer[str]:
        async with self._asking("addresses", host):
            found: list[str] = []
            secure = True
            errors: list[DnsError] = []
            for rtype in ("A", "AAAA"):
                try:
                    records, rrset_secure = self._query(host, rtype)
                except DnsError as exc:
                    errors.append(exc)
                    continue
                found += [r for r in records if r not in found]
                secure = secure and rrset_secure
            if found:
                return Answer(tuple(found), secure)
            raise min(errors, key=lambda e: ADDRESS_ERROR_ORDER.index(e.kind))

    async def txt(self, name: str) -> Answer[str]:
        async with self._asking("txt", name):
            return Answer(*self._query(name, "TXT"))

    async def tlsa(self, name: str) -> Answer[TlsaRecord]:
        async with self._asking("tlsa", name):
            return Answer(*self._query(name, "TLSA"))

    async def alias(self, name: str) -> Answer[str]:
        """CNAME is not supported here: every name is no alias (NODATA) or absent."""
        async with self._asking("alias", name):
            qname = query_name(name)
            if qname is None or not self._exists(qname):
                raise DnsError(DnsErrorKind.NXDOMAIN, name, "CNAME")
            raise DnsError(DnsErrorKind.NODATA, name, "CNAME")

    @contextlib.asynccontextmanager
    async def _asking(self, method: str, name: str) -> AsyncIterator[None]:
        self.asked.append(Asked(method, name))
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(0)  # let concurrent callers start: makes max_in_flight mean it
            yield
        finally:
            self.in_flight -= 1

    def _query(self, name: str, rtype: str) -> tuple[tuple[Any, ...], bool]:
        qname = query_name(name)
        if qname is None:
            raise DnsError(DnsErrorKind.NXDOMAIN, name, f"not a DNS name ({rtype})")
        if _matches(self.timeout, qname, rtype):
            raise DnsError(DnsErrorKind.TIMEOUT, name, rtype)
        if _matches(self.servfail, qname, rtype):
            raise DnsError(DnsErrorKind.SERVFAIL, name, rtype)
        if not self._exists(qname):
            raise DnsError(DnsErrorKind.NXDOMAIN, name, rtype)
        records = self._zone.get(qname, {}).get(rtype)
        if not records:
            raise DnsError(DnsErrorKind.NODATA, name, rtype)
        return tuple(records), _matches(self.secure, qname, rtype)

    def _exists(self, name: str) -> bool:
        return name in self._zone or any(n.endswith("." + name) for n in self._zone)
