"""Running a tls-check: the target, the MX walk, concurrent bounded probes, then verdicts.

TARGET is a domain (its MX hosts as ``dns.mx`` reads the zone, lowest preference first;
RFC 5321 section 5.1: no MX records means the domain is its own implicit MX; RFC 7505: a
null MX takes no mail) or
``host:port`` / an IP address (that one host, no domain policy). For every host, at once:
its addresses, its TLSA records as delivery finds them (``tlscheck.dane_check``: the same
code, so the same verdict), then one session with an unverified context (what any sender
gets: banner, EHLO, STARTTLS, version, cipher, certificate), one with a verifying context
(WebPKI chain and name, RFC 8461 section 4.2), and one handshake per TLS version. The
domain's MTA-STS and TLS-RPT lookups run alongside. Every step has ``timeout``; the whole
check has a budget (2.8 x timeout: 14 s by default), after which unfinished hosts are
reported as timed out.

Through the API (DESIGN.md section 9) the options carry the server's ``TargetGuard``: every
host (the target, each MX host, the MTA-STS policy host) is cleared by the egress rule
instead of resolved directly, and probed only at the checked address. ``ports`` limits the
port to SMTP's unless the address is in the operator's allowed ranges. A refused host is
reported ``refused`` and never contacted; when every host is refused, ``report.refusal``
says why. ``conceal`` (``tlscheck.exposure``) makes every host that did not greet with
``220`` read like a closed port.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import ssl
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sealpost.dns.mx import lookup_mx
from sealpost.dns.names import normalize_domain, parse_host_spec
from sealpost.dns.resolver import DnsError, Resolver
from sealpost.model.egress import TargetGuard
from sealpost.net.client_tls import unverified, verifying
from sealpost.policy.dane import name_matches
from sealpost.policy.sts_fetch import StsFetcher
from sealpost.tlscheck import domain_policy
from sealpost.tlscheck.certificate import certificate_facts
from sealpost.tlscheck.dane_check import dane_for_host
from sealpost.tlscheck.exposure import clear_host, conceal
from sealpost.tlscheck.report import CheckReport, Grade, HostReport, Verdict, Verification
from sealpost.tlscheck.smtp_probe import VERSION_NAMES, VERSIONS, probe, probe_version
from sealpost.tlscheck.verdict import domain_verdict, host_verdict, judge_dane

MAX_HOSTS = 10
BUDGET_FACTOR = 2.8


@dataclass(frozen=True, slots=True)
class CheckOptions:
    port: int | None = None  # None: 25 (or the port in a host:port target)
    implicit: bool = False  # TLS from the first byte (RFC 8314) instead of STARTTLS
    sni: str | None = None  # SNI and the name verified; default the host name
    timeout: float = 5.0
    ca_file: Path | None = None  # extra trusted CAs (besides the system ones)
    helo: str = "localhost"
    https_port: int = 443  # MTA-STS policy servers
    budget: float | None = None  # whole-check bound; default BUDGET_FACTOR x timeout
    guard: TargetGuard | None = None  # the API's egress rule; None: the CLI, unrestricted
    ports: frozenset[int] | None = None  # with guard: the only ports outside allowed ranges
    conceal: bool = False  # report every host that did not greet with 220 as unreachable
    dnssec: bool = True  # trust the resolver's AD bit for DANE, as [dns] dnssec does delivery


@dataclass(frozen=True, slots=True)
class ParsedTarget:
    name: str
    kind: str  # "domain" | "host"
    port: int | None
    literal: bool


def parse_target(text: str) -> ParsedTarget:
    """``example.com`` (domain), ``mx.example.com:2525``, ``[::1]:25`` or ``192.0.2.1``
    (host); ValueError names what is wrong."""
    value = text.strip()
    if not value:
        raise ValueError("empty target")
    spec = parse_host_spec(value)
    if spec.literal:
        return ParsedTarget(spec.host, "host", spec.port, True)
    if spec.port is not None or value.startswith("["):
        return ParsedTarget(spec.host, "host", spec.port, False)
    return ParsedTarget(normalize_domain(value), "domain", None, False)


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def run_check(text: str, resolver: Resolver, options: CheckOptions) -> CheckReport:
    """Check ``text`` and return the report with its verdicts; never raises for faults of
    the target (they are in the report)."""
    started = time.monotonic()
    port = options.port or 25
    report = CheckReport(text.strip(), "domain", port, options.implicit, options.timeout, _now())
    try:
        target = parse_target(text)
    except ValueError as exc:
        report.verdict = Verdict(Grade.ERROR, f"bad target: {exc}", (str(exc),))
        return report
    report.target, report.kind = target.name, target.kind
    report.port = port = target.port or port
    loop = asyncio.get_running_loop()
    deadline = loop.time() + (options.budget or BUDGET_FACTOR * options.timeout)
    if target.kind == "host":
        report.hosts = [HostReport(target.name, port)]
        await _bounded(
            deadline,
            *(_check_host(h, resolver, options, target.literal, report) for h in report.hosts),
        )
    else:
        await _walk_mx(report, resolver, options)
        if report.mx_error is None:
            fetcher = StsFetcher(
                resolver,
                https_port=options.https_port,
                ca_file=options.ca_file,
                timeout=options.timeout,
                guard=options.guard,
            )
            await _bounded(
                deadline,
                _sts(report, resolver, fetcher),
                _rpt(report, resolver),
                *(_check_host(h, resolver, options, False, report) for h in report.hosts),
            )
    for host in report.hosts:
        if options.conceal:
            conceal(host)
            judge_dane(host)
        if host.probe is None and not host.dns_error and not host.refused:
            host.timed_out = True
        sts = report.mta_sts
        if sts is not None and sts.policy is not None:
            host.sts_match = sts.policy.mx_allowed(host.host)
        host.verdict = host_verdict(host, sts, domain=report.kind == "domain")
    refused = [h.refused for h in report.hosts if h.refused]
    if refused and len(refused) == len(report.hosts):
        report.refusal = refused[0]
    report.verdict = domain_verdict(report)
    report.duration_ms = round((time.monotonic() - started) * 1000, 1)
    return report


async def _bounded(deadline: float, *jobs: object) -> None:
    """Run ``jobs`` concurrently; each is cancelled at ``deadline`` (its partial results
    stay in the report objects it was filling)."""

    async def one(job: object) -> None:
        try:
            async with asyncio.timeout_at(deadline):
                await job  # type: ignore[misc]
        except TimeoutError:
            pass

    await asyncio.gather(*(one(job) for job in jobs))


async def _walk_mx(report: CheckReport, resolver: Resolver, options: CheckOptions) -> None:
    domain = report.target
    try:
        async with asyncio.timeout(options.timeout):
            found = await lookup_mx(domain, resolver)
    except TimeoutError:
        report.mx_error = f"MX lookup for {domain} timed out"
        return
    except DnsError as exc:
        report.mx_error = f"MX lookup for {domain}: {exc.kind.value}"
        return
    if found.implicit:
        report.mx_implicit = True
        report.hosts = [HostReport(domain, report.port, preference=0)]
        return
    report.mx_records = tuple((r.preference, r.host) for r in found.records)
    report.mx_secure = found.secure
    if found.null:
        report.mx_error = f"{domain} has a null MX (RFC 7505): it accepts no mail"
        return
    listed = (r for r in found.records if r.host)  # every (host, preference) the zone lists
    hosts = list(dict.fromkeys((r.host, r.preference) for r in listed))[:MAX_HOSTS]
    report.hosts = [HostReport(h, report.port, preference=p) for h, p in hosts]


async def _sts(report: CheckReport, resolver: Resolver, fetcher: StsFetcher) -> None:
    report.mta_sts = domain_policy.StsFindings(error="not finished in time")
    report.mta_sts = await domain_policy.mta_sts(report.target, resolver, fetcher)


async def _rpt(report: CheckReport, resolver: Resolver) -> None:
    report.tls_rpt = domain_policy.TlsRptFindings(error="not finished in time")
    report.tls_rpt = await domain_policy.tls_rpt(report.target, resolver)


def _ms(start: float) -> float:
    return round((time.monotonic() - start) * 1000, 1)


async def _check_host(
    host: HostReport,
    resolver: Resolver,
    options: CheckOptions,
    literal: bool,
    report: CheckReport,
) -> None:
    started = time.monotonic()
    if options.guard is not None:
        if not await clear_host(host, options.guard, options.ports, options.timeout):
            return
    elif literal:
        host.addresses = (host.host,)
    else:
        try:
            async with asyncio.timeout(options.timeout):
                answer = await resolver.addresses(host.host)
        except TimeoutError:
            host.dns_error = f"address lookup for {host.host} timed out"
            return
        except DnsError as exc:
            host.dns_error = f"address lookup for {host.host}: {exc.kind.value}"
            return
        host.addresses, host.addresses_secure = tuple(answer.records), answer.secure
        host.canonical = answer.canonical
    host.timings_ms["dns"] = _ms(started)
    if not host.addresses:
        host.dns_error = f"{host.host} has no address"
        return
    if not literal:  # delivery's DANE step first: it names the SNI of the main probe
        mx = report.kind == "domain"
        parent_secure = host.addresses_secure if report.mx_implicit else report.mx_secure
        await dane_for_host(
            host,
            resolver,
            domain=report.target if mx else None,
            parent_secure=parent_secure if mx else True,
            trusted=options.dnssec,
            timeout=options.timeout,
        )
    await _probe_all(host, options, literal)
    judge_dane(host)


async def _probe_all(host: HostReport, options: CheckOptions, literal: bool) -> None:
    address = host.addresses[0]
    sni = options.sni or host.host
    dane_sni = options.sni or host.tlsa_base or host.host  # RFC 7672 section 8.1
    common: dict[str, Any] = {
        "helo": options.helo,
        "timeout": options.timeout,
        "implicit": options.implicit,
    }

    async def main() -> None:
        host.probe = await probe(
            address, host.port, context=unverified(), server_hostname=dane_sni, **common
        )
        host.timings_ms.update(host.probe.timings_ms)
        if host.probe.der:
            host.certificate = certificate_facts(host.probe.der, chain_length=len(host.probe.chain))
            host.name_match = name_matches(host.certificate.sans, sni)

    async def verify() -> None:
        started = time.monotonic()
        result = await probe(
            address,
            host.port,
            context=verifying(options.ca_file),
            server_hostname=sni,
            ehlo_after_tls=False,
            **common,
        )
        host.timings_ms["verify"] = _ms(started)
        if result.tls_up:
            host.verification = Verification(True)
        elif result.verify_failure is not None:
            host.verification = Verification(False, result.error, result.verify_failure.value)
        elif result.failed_at is not None and result.failed_at.value == "handshake":
            host.verification = Verification(False, result.error, "validation-failure")

    async def version(v: ssl.TLSVersion) -> None:
        started = time.monotonic()
        name = VERSION_NAMES[v]
        host.versions[name] = await probe_version(
            address, host.port, v, server_hostname=sni, **common
        )
        host.timings_ms[f"version_{name}"] = _ms(started)

    await asyncio.gather(main(), verify(), *(version(v) for v in VERSIONS))


def is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
