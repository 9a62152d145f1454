"""The egress rule (DESIGN.md section 9): where a connection an API caller aims may go.

An API key is a tenant; it must never borrow the server's network position. So every
connection a caller can aim (webhook targets and OAuth2 token URLs, tls-check targets and the
MX hosts and MTA-STS policy host tls-check resolves) is cleared here first:

1. the host is resolved ONCE through the server's ``Resolver`` (an IP literal is not
   resolved at all);
2. every address is judged, and the target is refused if any one of them is:

   - loopback: 127.0.0.0/8 (RFC 1122 section 3.2.1.3), ::1 (RFC 4291 section 2.5.3);
   - unspecified / "this network": 0.0.0.0/8 (RFC 1122; Linux connects 0.0.0.0 to itself), ::;
   - private-use: 10/8, 172.16/12, 192.168/16 (RFC 1918);
   - shared address space (carrier-grade NAT): 100.64.0.0/10 (RFC 6598);
   - link-local: 169.254.0.0/16 (RFC 3927; includes the cloud metadata service
     169.254.169.254), fe80::/10 (RFC 4291 section 2.5.6), deprecated site-local fec0::/10
     (RFC 3879);
   - unique-local: fc00::/7 (RFC 4193);
   - multicast: 224.0.0.0/4 (RFC 5771), ff00::/8 (RFC 4291 section 2.7);
   - limited broadcast 255.255.255.255 (RFC 919) and reserved 240.0.0.0/4 (RFC 1112);
   - documentation (RFC 5737, RFC 3849, RFC 9637), benchmarking 198.18.0.0/15 (RFC 2544),
     IETF protocol assignments 192.0.0.0/24 and 2001::/23, discard-only 100::/64
     (RFC 6666), local-use NAT64 64:ff9b:1::/48 (RFC 8215); and, as a backstop, anything
     else the RFC 6890 special-purpose registry marks as not globally reachable
     (``ipaddress``'s ``is_global``);
   - IPv6 forms of IPv4 addresses are judged by the IPv4 address inside: IPv4-mapped
     ``::ffff:a.b.c.d`` (RFC 4291 section 2.5.5.2; connected to as plain IPv4),
     NAT64 ``64:ff9b::/96`` (RFC 6052) and 6to4 ``2002::/16`` (RFC 3056); the deprecated
     IPv4-compatible ``::a.b.c.d`` (RFC 4291 section 2.5.5.1) is always refused;
   - this server's own addresses (``local_addresses``: its interfaces and so its listeners);

   unless the address lies in ``[api] allowed_private_targets``, which the operator sets to
   allow specific ranges (an allowed range wins over every rule above, own addresses
   included);
3. the caller connects to exactly the addresses returned, never to the name again.

With ``ports`` (tls-check through the API), the port must also be one of them unless every
address is in the allowed ranges. The answer is a value (``model.egress``), never an
exception, and a refusal never depends on a connection: nothing is sent before the check.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sealpost.dns.resolver import DnsError, Resolver
from sealpost.model.egress import Clearance, Cleared, Refused, Rule, Unresolved
from sealpost.net.local_addresses import IPAddress, LocalAddresses

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_V4: tuple[tuple[str, str], ...] = (
    ("127.0.0.0/8", "a loopback address (RFC 1122)"),
    ("0.0.0.0/8", "an unspecified or 'this network' address (RFC 1122)"),
    ("10.0.0.0/8", "a private address (RFC 1918)"),
    ("172.16.0.0/12", "a private address (RFC 1918)"),
    ("192.168.0.0/16", "a private address (RFC 1918)"),
    ("100.64.0.0/10", "a shared carrier-grade NAT address (RFC 6598)"),
    ("169.254.0.0/16", "a link-local address (RFC 3927)"),
    ("224.0.0.0/4", "a multicast address (RFC 5771)"),
    ("255.255.255.255/32", "the limited broadcast address (RFC 919)"),
    ("240.0.0.0/4", "a reserved address (RFC 1112)"),
    ("192.0.2.0/24", "a documentation address (RFC 5737)"),
    ("198.51.100.0/24", "a documentation address (RFC 5737)"),
    ("203.0.113.0/24", "a documentation address (RFC 5737)"),
    ("198.18.0.0/15", "a benchmarking address (RFC 2544)"),
    ("192.0.0.0/24", "an IETF protocol assignment (RFC 6890)"),
)
_V6: tuple[tuple[str, str], ...] = (
    ("::1/128", "a loopback address (RFC 4291)"),
    ("::/128", "the unspecified address (RFC 4291)"),
    ("::/96", "a deprecated IPv4-compatible address (RFC 4291)"),
    ("fe80::/10", "a link-local address (RFC 4291)"),
    ("fec0::/10", "a deprecated site-local address (RFC 3879)"),
    ("fc00::/7", "a unique-local address (RFC 4193)"),
    ("ff00::/8", "a multicast address (RFC 4291)"),
    ("2001:db8::/32", "a documentation address (RFC 3849)"),
    ("3fff::/20", "a documentation address (RFC 9637)"),
    ("100::/64", "a discard-only address (RFC 6666)"),
    ("64:ff9b:1::/48", "a local-use NAT64 address (RFC 8215)"),
    ("2001::/23", "an IETF protocol assignment (RFC 6890)"),
)
_RANGES: tuple[tuple[Network, str], ...] = tuple(
    (ipaddress.ip_network(net), label) for net, label in _V4 + _V6
)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_COMPAT = ipaddress.IPv6Network("::/96")  # :: and ::1 are named on their own


def parse_address(text: str) -> IPAddress | None:
    """An IP address (brackets allowed), or None if ``text`` is not one."""
    try:
        return ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None


def connectable(address: IPAddress) -> IPAddress:
    """The address to connect to: an IPv4-mapped IPv6 address as plain IPv4."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _embedded_v4(address: ipaddress.IPv6Address) -> tuple[str, ipaddress.IPv4Address] | None:
    """``("IPv4-mapped", a.b.c.d)`` for an IPv6 form of an IPv4 address, else None."""
    if address.ipv4_mapped is not None:
        return "IPv4-mapped", address.ipv4_mapped
    if address in _NAT64:
        return "NAT64", ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.sixtofour is not None:
        return "6to4", address.sixtofour
    if address in _COMPAT and int(address) > 1:
        return "IPv4-compatible", ipaddress.IPv4Address(int(address))
    return None


_FORM_RFC = {"IPv4-mapped": "RFC 4291", "NAT64": "RFC 6052", "6to4": "RFC 3056"}
_FORM_RFC["IPv4-compatible"] = "RFC 4291"


def special_purpose(address: IPAddress) -> str | None:
    """Why ``address`` is not a public destination (e.g. "a loopback address (RFC 1122)"),
    or None when it is globally reachable. Pure: no allow-list, no own-address check."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_v4(address)
        if embedded is not None:
            kind, inner = embedded
            why = special_purpose(inner)
            if why is not None:
                return f"the {kind} form of {inner} ({_FORM_RFC[kind]}), {why}"
            if address.ipv4_mapped is not None:
                return None
    for network, label in _RANGES:
        if address.version == network.version and address in network:
            return label
    if not address.is_global:
        return "a special-purpose address (RFC 6890)"
    return None


def parse_networks(texts: Iterable[str]) -> tuple[Network, ...]:
    """CIDR texts (already validated by the config model) as networks."""
    return tuple(ipaddress.ip_network(t, strict=True) for t in texts)


@dataclass(frozen=True, slots=True)
class _Judgement:
    address: IPAddress
    refusal: str | None  # why not, or None
    private: bool  # in the allowed ranges


class EgressGuard:
    """The ``TargetGuard`` every API-aimed connection goes through."""

    def __init__(
        self,
        resolver: Resolver,
        allowed: Iterable[str] = (),
        *,
        own: Callable[[IPAddress], bool] | None = None,
    ) -> None:
        self._resolver = resolver
        self._allowed = parse_networks(allowed)
        self._own = own or LocalAddresses().__contains__

    def _in_allowed(self, address: IPAddress) -> bool:
        return any(address.version == n.version and address in n for n in self._allowed)

    def judge(self, address: IPAddress) -> _Judgement:
        """One address: refused (and why), or fine (and whether only the allow-list let it)."""
        target = connectable(address)
        if self._in_allowed(target):
            return _Judgement(address, None, True)
        why = special_purpose(address)
        if why is None and self._own(target):
            why = "an address of this server"
        return _Judgement(address, why, False)

    async def clear(
        self, host: str, *, port: int | None = None, ports: frozenset[int] | None = None
    ) -> Clearance:
        name = host.strip().strip("[]").rstrip(".").lower()
        literal = parse_address(name)
        secure = False
        if literal is not None:
            found: tuple[IPAddress, ...] = (literal,)
        else:
            try:
                answer = await self._resolver.addresses(name)
            except DnsError as exc:
                return Unresolved(name, exc.kind.value)
            secure = answer.secure
            parsed = [parse_address(a) for a in answer.records]
            found = tuple(dict.fromkeys(a for a in parsed if a is not None))
            if not found:
                return Unresolved(name, "no A or AAAA records")
        judgements = [self.judge(a) for a in found]
        for judgement in judgements:
            if judgement.refusal is not None:
                shown = name if literal is not None else str(judgement.address)
                return Refused(name, Rule.PRIVATE_TARGET, judgement.refusal, shown)
        private = any(j.private for j in judgements)
        off_port = ports is not None and port is not None and port not in ports
        if off_port and not all(j.private for j in judgements):
            allowed = ", ".join(str(p) for p in sorted(ports or ()))
            return Refused(
                name,
                Rule.TARGET_PORT,
                f"port {port} is not a mail port ({allowed}) and the target is not in "
                "[api] allowed_private_targets",
            )
        addresses = dict.fromkeys(str(connectable(j.address)) for j in judgements)
        return Cleared(name, tuple(addresses), private, secure)
