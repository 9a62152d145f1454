"""Where mail for one domain goes: a static route, the local queue, the smarthost, or MX.

Order: a static route for the exact domain; else a local domain stays queued (never MX:
that would loop to ourselves); else the smarthost; else MX. What the MX answer means is
``dns.mx``'s (RFC 5321 section 5.1: lowest preference first, equal preferences in random
order, a domain without MX records is its own implicit MX at preference 0; RFC 7505 section
3: a null MX). Here a null MX bounces at once with ``556 5.1.10``; MX host names are names,
so an IP literal in an MX record is not used.

Relay syntax (static routes and smarthost) is ``dns.names``' ``host[:port]``. Host names are
resolved to addresses (A/AAAA, no MX lookup); IP addresses are used as they are.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

from sealpost.delivery.types import Outcome, Target
from sealpost.dns.mx import by_preference, lookup_mx
from sealpost.dns.names import HostSpec, address_literal, normalize_domain, parse_host_spec
from sealpost.dns.resolver import Answer, DnsError, DnsErrorKind, MxRecord, Resolver
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
                parse_host_spec(spec)
            except ValueError as exc:
                raise ValueError(f"static route for {domain!r}: {exc}") from None
        if self.smarthost is not None:
            parse_host_spec(self.smarthost)
        routes = {normalize_domain(d): s for d, s in self.static_routes.items()}
        object.__setattr__(self, "static_routes", MappingProxyType(routes))
        local = frozenset(normalize_domain(d) for d in self.local_domains)
        object.__setattr__(self, "local_domains", local)


@dataclass(frozen=True, slots=True)
class Route:
    targets: tuple[Target, ...]  # in the order to try them
    via: Via
    secure: bool = False  # the answer naming the targets (MX RRset) was DNSSEC-validated


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
        return await _relay_route(parse_host_spec(static), Via.STATIC, resolver, settings)
    if name in settings.local_domains:
        reply = Reply.of(451, "4.3.0", f"{name} is a local domain without a static route")
        return RouteFailure(Outcome.TRANSIENT, reply, local=True)
    if settings.smarthost is not None:
        relay = parse_host_spec(settings.smarthost)
        return await _relay_route(relay, Via.SMARTHOST, resolver, settings)
    return await _mx_route(name, resolver, settings, rng or _SHUFFLE)


async def _relay_route(
    relay: HostSpec, via: Via, resolver: Resolver, settings: RouteSettings
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
    target = Target(relay.host, answer.records, port, 0, answer.secure, answer.canonical)
    return Route((target,), via, answer.secure)


async def _mx_route(
    name: str, resolver: Resolver, settings: RouteSettings, rng: random.Random
) -> Route | RouteFailure:
    try:
        found = await lookup_mx(name, resolver)
    except DnsError as exc:
        if exc.kind is DnsErrorKind.NXDOMAIN:
            return RouteFailure(Outcome.PERMANENT, DOMAIN_NOT_FOUND)
        return _dns_failed(f"MX {name}", exc.kind)
    if found.implicit:
        return await _implicit_mx(name, resolver, settings)
    if found.null:
        return RouteFailure(Outcome.PERMANENT, NULL_MX)
    ordered = by_preference(found.records, rng)
    targets, kinds = await _resolve_hosts(ordered, resolver, settings)
    if targets:
        return Route(tuple(targets), Via.MX, found.secure)
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
    target = Target(name, answer.records, settings.smtp_port, 0, answer.secure, answer.canonical)
    return Route((target,), Via.IMPLICIT_MX, answer.secure)


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
                port, preference = settings.smtp_port, record.preference
                targets.append(
                    Target(
                        record.host,
                        result.records,
                        port,
                        preference,
                        result.secure,
                        result.canonical,
                    )
                )
    return targets, kinds


async def _lookup(host: str, resolver: Resolver) -> Answer[str] | DnsErrorKind:
    if not host or address_literal(host) is not None:
        return DnsErrorKind.NXDOMAIN
    try:
        answer = await resolver.addresses(host)
    except DnsError as exc:
        return exc.kind
    return answer if answer.records else DnsErrorKind.NODATA


def _dns_failed(what: str, kind: DnsErrorKind) -> RouteFailure:
    reply = Reply.of(451, "4.4.3", f"DNS lookup failed ({what}: {kind.value})")
    return RouteFailure(Outcome.TRANSIENT, reply)
