"""Builds the outbound half from the config: resolver, policy engine, sessions, dispatcher.

Kept apart from ``app.py`` (which wires inbound and calls this) so each composition step
stays small; nothing else constructs these parts.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sealpost.config.model import Config
from sealpost.delivery.attempt import DomainDelivery
from sealpost.delivery.dispatcher import Dispatcher, DispatcherSettings
from sealpost.delivery.pool import SessionPool
from sealpost.delivery.route import RouteSettings
from sealpost.delivery.schedule import RetrySchedule
from sealpost.delivery.session import (
    BrokenTlsHosts,
    ClientSettings,
    OpenFailure,
    OutboundSession,
)
from sealpost.delivery.types import Target
from sealpost.dns.dnspython_resolver import DnspythonResolver
from sealpost.dns.resolver import Resolver
from sealpost.dns.validation_check import (
    DnssecNotValidating,
    Probe,
    ProbingResolver,
    check_validation,
    refusal,
    warning,
)
from sealpost.policy.dane_mx import TlsaLookup
from sealpost.policy.engine import PolicyEngine
from sealpost.policy.fetch_holdoffs import FetchHoldoffs
from sealpost.policy.levels import Requirement, TlsLevel
from sealpost.policy.mta_sts import StsError, StsPolicy
from sealpost.policy.store_cache import StoreStsCache
from sealpost.policy.sts_fetch import StsFetcher
from sealpost.store.contracts import Store
from sealpost.store.contracts.domain_slots import DomainSlots

log = logging.getLogger("sealpost")


def build_resolver(config: Config) -> DnspythonResolver:
    return DnspythonResolver(
        config.dns.nameservers, timeout=config.dns.timeout, lifetime=config.dns.timeout * 2
    )


async def check_dnssec(config: Config, resolver: ProbingResolver) -> None:
    """With ``[dns] dnssec = true``: probe the resolver (``dns/validation_check.py``) and
    raise DnssecNotValidating, or log a warning with ``dnssec_check = "warn"``."""
    dns = config.dns
    if not dns.dnssec:
        return
    secure = Probe.parse(dns.dnssec_probe_secure, "SOA")
    bogus = Probe.parse(dns.dnssec_probe_bogus, "A")
    servers = ", ".join(dns.nameservers) or "the system resolver"
    problems = await check_validation(resolver, secure, bogus, servers)
    if not problems:
        log.info("DNSSEC: %s validates (%s is AD, %s is SERVFAIL)", servers, secure, bogus)
        return
    if dns.dnssec_check == "refuse":
        raise DnssecNotValidating(refusal(problems))
    log.warning("%s", warning(problems))


def default_level(config: Config) -> TlsLevel:
    """``[delivery] default_tls``, else ``dane`` with trusted DNSSEC, else ``may``."""
    if config.delivery.default_tls is not None:
        return TlsLevel(config.delivery.default_tls)
    return TlsLevel.DANE if config.dns.dnssec else TlsLevel.MAY


class CountedFetches:
    """An ``StsFetcher`` that tells ``tally`` each fetch's result: ``ok`` or the RFC 8460
    failure (``sts-policy-fetch-error``, ``sts-policy-invalid``, ``sts-webpki-invalid``)."""

    def __init__(self, fetcher: StsFetcher, tally: Callable[[str], None]) -> None:
        self._fetcher = fetcher
        self._tally = tally

    async def fetch(self, domain: str) -> StsPolicy | StsError:
        fetched = await self._fetcher.fetch(domain)
        self._tally("ok" if isinstance(fetched, StsPolicy) else fetched.failure.value)
        return fetched


@dataclass(slots=True)
class Outbound:
    """The outbound half, with the parts a reloaded config (SIGHUP) updates in place."""

    dispatcher: Dispatcher
    pool: SessionPool
    policy: PolicyEngine
    delivery: DomainDelivery

    def apply(self, config: Config) -> None:
        """Take the TLS policy rules, routes and retry timings of ``config``: what the next
        attempt decides follows them; sessions and decisions already made are kept."""
        d = config.delivery
        self.policy.update_rules(
            {k: TlsLevel(v) for k, v in d.tls_policy.items()},
            default_level(config),
            config.mta_sts.enabled,
        )
        self.delivery.update_routes(route_settings(config))
        self.dispatcher.update_schedule(retry_schedule(config))


def route_settings(config: Config) -> RouteSettings:
    d = config.delivery
    return RouteSettings(
        smtp_port=d.smtp_port,
        static_routes=dict(d.routes),
        smarthost=d.smarthost,
        local_domains=frozenset(config.server.local_domains),
    )


def retry_schedule(config: Config) -> RetrySchedule:
    d = config.delivery
    return RetrySchedule(
        minimal_backoff=d.minimal_backoff,
        maximal_backoff=d.maximal_backoff,
        max_lifetime=d.max_lifetime,
        delay_warning_after=d.delay_warning_after or None,
    )


def build_dispatcher(
    config: Config,
    store: Store,
    send_dsn: Callable[[str, bytes], Awaitable[None]],
    resolver: Resolver | None = None,
    sts_fetched: Callable[[str], None] = lambda result: None,
) -> tuple[Dispatcher, SessionPool]:
    """``sts_fetched`` is told each MTA-STS fetch's result (the metrics)."""
    outbound = build_outbound(config, store, send_dsn, resolver, sts_fetched)
    return outbound.dispatcher, outbound.pool


def build_outbound(
    config: Config,
    store: Store,
    send_dsn: Callable[[str, bytes], Awaitable[None]],
    resolver: Resolver | None = None,
    sts_fetched: Callable[[str], None] = lambda result: None,
    *,
    workers: int = 1,
    slots: DomainSlots | None = None,
) -> Outbound:
    """The dispatcher and its parts; ``sts_fetched`` is told each MTA-STS fetch's result.
    ``workers``: dispatchers sharing the node's limits, one per worker process; ``slots``:
    where the per-domain sessions are counted when not in the store (``shared_slots``)."""
    d = config.delivery
    resolver = resolver or build_resolver(config)
    fetcher = CountedFetches(
        StsFetcher(
            resolver,
            https_port=config.mta_sts.https_port,
            ca_file=d.ca_file,
            timeout=config.mta_sts.fetch_timeout,
        ),
        sts_fetched,
    )
    policy = PolicyEngine(
        resolver,
        fetcher,
        StoreStsCache(store),
        operator_rules={k: TlsLevel(v) for k, v in d.tls_policy.items()},
        default_level=default_level(config),
        mta_sts_enabled=config.mta_sts.enabled,
        tlsa=TlsaLookup(resolver, trusted=config.dns.dnssec),
        holdoffs=FetchHoldoffs(store),
    )
    client = ClientSettings(
        helo_name=d.helo_name or config.server.hostname,
        ca_file=d.ca_file,
        connect_timeout=d.connect_timeout,
        command_timeout=d.command_timeout,
        data_timeout=d.data_timeout,
        tls_handshake_timeout=d.tls_handshake_timeout,
        broken_tls_memory=d.broken_tls_memory,
    )
    broken = BrokenTlsHosts(store)  # in the store: every node applies what one learned

    async def opener(target: Target, requirement: Requirement) -> OutboundSession | OpenFailure:
        return await OutboundSession.open(target, requirement, client, broken)

    pool = SessionPool(opener, max_uses=d.messages_per_connection)
    schedule = retry_schedule(config)
    settings = DispatcherSettings(
        concurrency=d.concurrency,
        per_domain_concurrency=d.per_domain_concurrency,
        lease=d.lease,
        poll_interval=d.poll_interval,
        reporting_mta=config.server.hostname,
        workers=workers,
    )
    delivery = DomainDelivery(resolver, policy, route_settings(config), pool)
    dispatcher = Dispatcher(
        store,
        delivery,
        schedule,
        settings,
        send_dsn,
        time.time,
        housekeeping=pool.expire,
        wakeups=store,
        suppressions=store,
        slots=slots,
    )
    return Outbound(dispatcher, pool, policy, delivery)
