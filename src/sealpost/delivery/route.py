"""Where mail for one domain goes: a static route, the local queue, the smarthost, or MX.

Order: a static route for the exact domain; else a local domain stays queued (never MX:
that would loop to ourselves); else the smarthost; else MX. RFC 5321 section 5.1: MX hosts
are tried lowest preference first, equal preferences in random order, and a domain without
MX records (NODATA) is its own implicit MX at preference 0; MX host names are names, so an
IP literal in an MX record is not used. RFC 7505 section 3: a single MX of "." (null MX)
means the domain takes no mail: bounce at once with ``556 5.1.10``, no implicit MX.

Relay syntax (static routes and smarthost): ``host``, ``host:port``, ``1.2.3.4``,
``1.2.3.4:port``, ``[1.2.3.4]:port``, ``[::1]:port`` or ``[host]:port``. Host names are
resolved to addresses (A/AAAA, no MX lookup); IP addresses are used as they are.
"""

from __future__ import annotations

import asyncio
import ipaddress
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

from sealpost.delivery.types import Outcome, Target
from sealpost.dns.resolver import DnsError, DnsErrorKind, MxRecord, Resolver
from sealpost.model.reply import Reply

MX_LOOKUP_LIMIT = 20  # MX host names looked up per domain at most, however many the zone lists

NULL_MX = Reply.of(556, "5.1.10", "Recipient address has null MX")
DOMAIN_NOT_FOUND = Reply.of(550, "5.1.2", "Domain not found")

_SHUFFLE = random.Random()


class Via(StrEnum):
    MX = "mx"
    IMPLICIT_MX = "implicit-mx"
    STATIC = "static"
    SMARTHOST = "smarthost"


@dataclass(frozen=True, slots=True)
class Relay:
    """A parsed static route or smarthost."""

    host: str  # lower-case name, or an IP address when ``literal``
    port: int | None  # None: the configured smtp_port
    literal: bool


def parse_relay(spec: str) -> Relay:
    """Parse the relay syntax in the module docstring; ValueError names what is wrong."""
    text = spec.strip()
    port_text = ""
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise ValueError(f"relay {spec!r}: expected [host] or [host]:port")
        port_text = rest[1:] if rest else ""
        if rest == ":":
            raise ValueError(f"relay {spec!r}: empty port")
        if host[:5].lower() == "ipv6:":
            host = host[5:]
    elif _ip(text) is not None:
        host = text  # a bare IPv6 address has colons and no port
    else:
        host, colon, port_text = text.partition(":")
        if colon and not port_text:
            raise ValueError(f"relay {spec!r}: empty port")
    port: int | None = None
    if port_text:
        if not (port_text.isascii() and port_text.isdigit()) or not 0 < int(port_text) < 65536:
            raise ValueError(f"relay {spec!r}: port must be 1-65535")
        port = int(port_text)
    address = _ip(host)
    if address is not None:
        return Relay(address, port, literal=True)
    name = normalize_domain(host)
    labels = name.split(".")
    if not name or any(not label or len(label) > 63 for label in labels) or len(name) > 253:
        raise ValueError(f"relay {spec!r}: {host!r} is not a host name or IP address")
    if not name.isascii() or any(not (c.isalnum() or c in "-_.") for c in name):
        raise ValueError(f"relay {spec!r}: {host!r} is not a host name or IP address")
    return Relay(name, port, literal=False)


def normalize_domain(domain: str) -> str:
    return domain.strip().lower().rstrip(".")


def _ip(text: str) -> str | None:
    try:
        return str(ipaddress.ip_address(text.strip("[]")))
    except ValueError:
        return None


@dataclass(frozen=True)
class RouteSettings:
    smtp_port: int = 25
    static_routes: Mapping[str, str] = field(default_factory=dict)  # domain -> relay
    smarthost: str | None = None  # relay for all mail without a static route
    local_domains: frozenset[str] = frozenset()
    max_mx_hosts: int = 5  # hosts with addresses kept per domain (Postfix-like bound)

    def __post_init__(self) -> None:
        if not 0 < self.smtp_port < 65536:
            raise ValueError(f"smtp_port {self.smtp_port}: must be 1-65535")
        if self.max_mx_hosts < 1:
            raise ValueError(f"max_mx_hosts {self.max_mx_hosts}: must be at least 1")
        for domain, spec in self.static_routes.items():
            try:
                parse_relay(spec)
            except ValueError as exc:
                raise ValueError(f"static route for {domain!r}: {exc}") from None
        if self.smarthost is not None:
            parse_relay(self.smarthost)
        routes = {normalize_domain(d): s for d, s in self.static_routes.items()}
        object.__setattr__(self, "static_routes", MappingProxyType(routes))
        local = frozenset(normalize_domain(d) for d in self.local_domains)
        object.__setattr__(self, "local_domains", local)


@dataclass(frozen=True, slots=True)
class Route:
    targets: tuple[Target, ...]  # in the order to try them
    via: Via
    secure: bool = False  # the DNS answer naming the targets was DNSSEC-validated (AD bit)


@dataclass(frozen=True, slots=True)
class RouteFailure:
    outcome: Outcome  # TRANSIENT or PERMANENT
    reply: Reply
    local: bool = False  # a local domain: keep it queued as inbound mail


async def route(
    domain: str,
    resolver: Resolver,
    settings: RouteSettings,
    rng: random.Random | None = None,
) -> Route | RouteFailure:
    """The targets for mail to ``domain``, or why there are none (see the module docstring)."""
    name = normalize_domain(domain)
    static = settings.static_routes.get(name)
    if static is not None:
        return await _relay_route(parse_relay(static), Via.STATIC, resolver, settings)
    if name in settings.local_domains:
        reply = Reply.of(451, "4.3.0", f"{name} is a local domain without a static route")
        return RouteFailure(Outcome.TRANSIENT, reply, local=True)
    if settings.smarthost is not None:
        relay = parse_relay(settings.smarthost)
        return await _relay_route(relay, Via.SMARTHOST, resolver, settings)
    return await _mx_route(name, resolver, settings, rng or _SHUFFLE)


async def _relay_route(
    relay: Relay, via: Via, resolver: Resolver, settings: RouteSettings
) -> Route | RouteFailure:
    port = relay.port or settings.smtp_port
    if relay.literal:
        return Route((Target(relay.host, (relay.host,), port),), via)
    try:
        answer = await resolver.addresses(relay.host)
    except DnsError as exc:
        return _dns_failed(f"{via.value} host {relay.host}", exc.kind)
    if not answer.records:
        return _dns_failed(f"{via.value} host {relay.host}", DnsErrorKind.NODATA)
    return Route((Target(relay.host, answer.records, port),), via, answer.secure)


async def _mx_route(
    name: str, resolver: Resolver, settings: RouteSettings, rng: random.Random
) -> Route | RouteFailure:
    try:
        answer = await resolver.mx(name)
    except DnsError as exc:
        if exc.kind is DnsErrorKind.NODATA:
            return await _implicit_mx(name, resolver, settings)
        if exc.kind is DnsErrorKind.NXDOMAIN:
            return RouteFailure(Outcome.PERMANENT, DOMAIN_NOT_FOUND)
        return _dns_failed(f"MX {name}", exc.kind)
    records = [MxRecord(r.preference, normalize_domain(r.host)) for r in answer.records]
    if not records:
        return await _implicit_mx(name, resolver, settings)
    if len(records) == 1 and records[0].host == "":
        return RouteFailure(Outcome.PERMANENT, NULL_MX)
    targets, kinds = await _resolve_hosts(_ordered(records, rng), resolver, settings)
    if targets:
        return Route(tuple(targets), Via.MX, answer.secure)
    if kinds and all(kind is DnsErrorKind.NXDOMAIN for kind in kinds):
        return RouteFailure(Outcome.PERMANENT, Reply.of(550, "5.1.2", "MX hosts not found"))
    worst = next((k for k in kinds if k.transient), DnsErrorKind.NODATA)
    return _dns_failed(f"addresses of the MX hosts of {name}", worst)


async def _implicit_mx(
    name: str, resolver: Resolver, settings: RouteSettings
) -> Route | RouteFailure:
    try:
        answer = await resolver.addresses(name)
    except DnsError as exc:
        if exc.kind is DnsErrorKind.NXDOMAIN:
            return RouteFailure(Outcome.PERMANENT, DOMAIN_NOT_FOUND)
        return _dns_failed(f"implicit MX {name}", exc.kind)
    if not answer.records:
        return _dns_failed(f"implicit MX {name}", DnsErrorKind.NODATA)
    target = Target(name, answer.records, settings.smtp_port, preference=0)
    return Route((target,), Via.IMPLICIT_MX, answer.secure)


def _ordered(records: list[MxRecord], rng: random.Random) -> list[MxRecord]:
    """Lowest preference first, each host once, equal preferences shuffled (RFC 5321 5.1)."""
    best: dict[str, int] = {}
    for record in records:
        if record.host not in best or record.preference < best[record.host]:
            best[record.host] = record.preference
    ordered: list[MxRecord] = []
    for preference in sorted(set(best.values())):
        group = sorted(host for host, pref in best.items() if pref == preference)
        rng.shuffle(group)
        ordered += [MxRecord(preference, host) for host in group]
    return ordered


async def _resolve_hosts(
    records: list[MxRecord], resolver: Resolver, settings: RouteSettings
) -> tuple[list[Target], list[DnsErrorKind]]:
    """Addresses for the MX hosts in order, at most ``max_mx_hosts`` at a time, until
    ``max_mx_hosts`` hosts have addresses. Hosts that are empty (a null MX among others) or
    IP literals count as not found; hosts without addresses are skipped."""
    targets: list[Target] = []
    kinds: list[DnsErrorKind] = []
    candidates = records[:MX_LOOKUP_LIMIT]
    while candidates and len(targets) < settings.max_mx_hosts:
        window = candidates[: settings.max_mx_hosts - len(targets)]
        candidates = candidates[len(window) :]
        results = await asyncio.gather(*(_lookup(r.host, resolver) for r in window))
        for record, result in zip(window, results, strict=True):
            if isinstance(result, DnsErrorKind):
                kinds.append(result)
            else:
                targets.append(Target(record.host, result, settings.smtp_port, record.preference))
    return targets, kinds


async def _lookup(host: str, resolver: Resolver) -> tuple[str, ...] | DnsErrorKind:
    if not host or _ip(host) is not None:
        return DnsErrorKind.NXDOMAIN
    try:
        answer = await resolver.addresses(host)
    except DnsError as exc:
        return exc.kind
    return answer.records or DnsErrorKind.NODATA


def _dns_failed(what: str, kind: DnsErrorKind) -> RouteFailure:
    reply = Reply.of(451, "4.4.3", f"DNS lookup failed ({what}: {kind.value})")
    return RouteFailure(Outcome.TRANSIENT, reply)
