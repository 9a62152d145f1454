"""The outbound policy engine: which TLS requirement applies to mail for one domain.

Sources, strongest first (DESIGN.md section 3): REQUIRETLS on the message (RFC 8689 section
4.2.1: verified TLS on every hop), an MTA-STS ``enforce`` policy (RFC 8461 section 5:
``verify`` and only MX hosts matching the policy), the operator's rule for the domain
(``[delivery.tls_policy]``: an exact domain, else the nearest parent written
``.example.com``), then the default level. The resulting level is the strongest that
applies; an operator rule replaces the default (it may lower it) but can never lower
REQUIRETLS or an ``enforce`` policy.

MTA-STS discovery follows RFC 8461 sections 3.1, 3.3 and 5:

- TXT ``_mta-sts.<domain>`` is asked before every decision; an unexpired cached policy whose
  id equals the TXT id is used without fetching;
- a new or changed id means a fetch; a failed fetch keeps the cached policy until it
  expires (section 3.3: with no live policy, an unexpired cached one MUST be applied);
- no TXT record (or a DNS failure, or a bad record) with an unexpired cached policy: keep
  using it (downgrade resistance, checklist C4); with no cached policy: no MTA-STS
  (section 3.1 MUST);
- a failed fetch with no cached policy: deliver as though the domain had no MTA-STS
  (section 3.3 MUST), reporting the failure (RFC 8460 result type) in ``failures``;
- a failed fetch is not retried for the same id for ``failure_holdoff`` seconds (section
  3.3 allows limiting attempts to one per five minutes per id); the failure is still
  reported on every decision. The hold-offs (``policy.fetch_holdoffs``) are kept in the
  store when given one, so every node of a cluster honours one node's.

A ``testing`` policy never raises the level: the attempt delivers and records what failed.
It is marked ``report_only`` only when the level is ``may`` (nothing stronger applies), as
``Requirement.report_only`` permits plaintext; under a stronger rule the rule is enforced
and ``mode="testing"`` still tells the attempt to record MTA-STS failures.

The decision is refined per MX host (``for_mx``, ``policy.mx_policy``) by a chain of
sources: DANE's first when the domain's own level (operator rule or default) is ``dane`` or
``dane-only`` (``policy.dane_mx``: MTA-STS never overrides DANE, RFC 8461 section 2, checklist
C6), then the engine's own ``mx_sources``, then the MTA-STS ``mx`` patterns. ``dane`` ranks
with ``may`` here, so an MTA-STS ``enforce`` policy still raises the domain to ``verify``;
the DANE step then replaces that for a host with usable secure TLSA records.

REQUIRETLS (RFC 8689 section 4.2.1) adds two per-MX steps: DANE's even when the domain's
level is not a DANE level (step 5: a host with TLSA records is checked by DANE), and last
``RequireTlsMx`` (``policy.requiretls_mx``): a host validated by neither DANE, a secure MX
lookup nor MTA-STS is taken out for good (5.7.30). ``TLS-Required: No`` on a message
(``relaxed``, sections 3 and 4.2.2) drops MTA-STS and DANE for it: the operator's rule or
the default level applies, a DANE level as ``may``.

Proactive refresh of cached policies (section 3.3 SHOULD, about daily) is left to a later
release.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from sealpost.dns.resolver import DnsError, Resolver
from sealpost.model.tlsrpt import TlsFailure
from sealpost.policy.dane_lookup import HostDns
from sealpost.policy.dane_mx import DANE_LEVELS, DaneMx, TlsaLookup
from sealpost.policy.fetch_holdoffs import FetchHoldoffs
from sealpost.policy.levels import PolicySource, Requirement, TlsLevel
from sealpost.policy.mta_sts import StsError, StsMode, StsPolicy, parse_txt
from sealpost.policy.mx_policy import MxRequirement, MxSource, StsMxPatterns, refine
from sealpost.policy.requiretls_mx import RequireTlsMx
from sealpost.policy.sts_cache import CachedPolicy, StsCache

# After a failed fetch, the same (domain, id) is not fetched again for this long (RFC 8461
# section 3.3: five minutes or longer per version id); the failure is reported each time.
DEFAULT_FAILURE_HOLDOFF = 300.0


class PolicyFetcher(Protocol):
    """What the engine needs of ``sts_fetch.StsFetcher``."""

    async def fetch(self, domain: str) -> StsPolicy | StsError: ...


@dataclass(frozen=True, slots=True)
class PolicyDecision:
    """The requirement for one domain, the discovery failures to report (TLS-RPT), and the
    per-MX sources that refine it for each host (``policy.mx_policy``)."""

    requirement: Requirement
    failures: tuple[TlsFailure, ...] = ()
    sts_policy: StsPolicy | None = None  # the enforce/testing policy applied, if any
    sts_policy_id: str | None = None
    detail: str = ""  # why: fetch errors, cache use; for logs and events
    mx_sources: tuple[MxSource, ...] = ()  # in order; DANE's first
    relaxed: bool = False  # TLS-Required: No (RFC 8689 section 3) ignored DANE and MTA-STS
    relay_dane: DaneMx | None = None  # DANE's step for a static route or the smarthost

    async def for_mx(
        self, host: str, *, secure: bool = False, dns: HostDns | None = None
    ) -> MxRequirement:
        """What mail to MX ``host`` (named by DNS, implicit MX included) needs; ``secure``:
        the MX RRset and the host's addresses were DNSSEC-secure; ``dns``: what DANE reads
        (the CNAME expansion, the next-hop domain)."""
        return await refine(host, self.requirement, self.mx_sources, secure=secure, dns=dns)

    async def for_relay(self, host: str, dns: HostDns | None = None) -> MxRequirement:
        """A static route or the smarthost (``dns``: its address lookup, None for an IP
        literal): the domain's requirement, and DANE's step alone when the domain's level
        is a DANE level (or REQUIRETLS asks for DANE where there is TLSA), as Postfix does
        for a ``[host]:port`` next hop; MTA-STS ``mx`` patterns do not apply to relays."""
        mx = MxRequirement(host, self.requirement, dns=dns)
        if self.relay_dane is None:
            return mx
        if dns is None:  # an IP address: no TLSA base domain, no DANE
            mx = dataclasses.replace(mx, dns=HostDns(host, host, parent_secure=False))
        return await self.relay_dane.refine(mx)


@dataclass(frozen=True, slots=True)
class _Sts:
    policy: StsPolicy | None = None
    policy_id: str | None = None
    failures: tuple[TlsFailure, ...] = ()
    detail: str = ""


class PolicyEngine:
    def __init__(
        self,
        resolver: Resolver,
        fetcher: PolicyFetcher,
        cache: StsCache,
        *,
        operator_rules: Mapping[str, TlsLevel],
        default_level: TlsLevel = TlsLevel.MAY,
        mta_sts_enabled: bool = True,
        clock: Callable[[], float] = time.time,
        failure_holdoff: float = DEFAULT_FAILURE_HOLDOFF,
        mx_sources: tuple[MxSource, ...] = (),
        tlsa: TlsaLookup | None = None,
        holdoffs: FetchHoldoffs | None = None,
    ) -> None:
        self._resolver = resolver
        self._fetcher = fetcher
        self._cache = cache
        self._rules = {_normalize(k): TlsLevel(v) for k, v in operator_rules.items()}
        self._default = default_level
        self._sts_enabled = mta_sts_enabled
        self._clock = clock
        self._holdoff_seconds = failure_holdoff
        self._holdoffs = holdoffs or FetchHoldoffs()  # in the store: shared by every node
        self._inflight: dict[str, asyncio.Future[_Sts]] = {}
        self._mx_sources = mx_sources  # per-MX sources between DANE's and MTA-STS's
        # TLSA records are secure only when the resolver is trusted to validate ([dns] dnssec)
        self._tlsa = tlsa or TlsaLookup(resolver, trusted=False)

    def update_rules(
        self,
        operator_rules: Mapping[str, TlsLevel],
        default_level: TlsLevel,
        mta_sts_enabled: bool,
    ) -> None:
        """New operator rules from a reloaded config (SIGHUP): the next decision uses them;
        one already made (a session open) keeps what it was given."""
        self._rules = {_normalize(k): TlsLevel(v) for k, v in operator_rules.items()}
        self._default = default_level
        self._sts_enabled = mta_sts_enabled

    async def requirement_for(
        self, domain: str, *, requiretls: bool = False, relaxed: bool = False
    ) -> PolicyDecision:
        """``relaxed``: the message says ``TLS-Required: No`` (``model.tls_required``; the
        caller never sets it with ``requiretls``)."""
        domain = _normalize(domain)
        sts = await self._discover(domain) if self._sts_enabled else _Sts()
        base_level, base_source = self._base(domain)
        if relaxed and not requiretls:
            return _relaxed(sts, base_level, base_source, self._mx_sources)
        candidates: list[tuple[TlsLevel, PolicySource]] = []
        if requiretls:
            candidates.append((TlsLevel.VERIFY, PolicySource.REQUIRETLS))
        policy = sts.policy
        if policy is not None and policy.mode is StsMode.ENFORCE:
            candidates.append((TlsLevel.VERIFY, PolicySource.MTA_STS))
        candidates.append((base_level, base_source))
        level, source = _strongest(candidates)
        report_only = False
        mode: str | None = None
        patterns: tuple[str, ...] = ()
        if policy is not None and policy.mode is not StsMode.NONE:
            mode, patterns = policy.mode.value, policy.mx
            if policy.mode is StsMode.TESTING and level in (TlsLevel.MAY, TlsLevel.DANE):
                report_only, source = True, PolicySource.MTA_STS
        applied = policy if mode is not None else None
        sources = self._mx_sources
        dane: DaneMx | None = None
        if base_level in DANE_LEVELS:
            dane = DaneMx(self._tlsa, base_level)
        elif requiretls:  # RFC 8689 section 4.2.1 step 5: DANE when the host has TLSA
            dane = DaneMx(self._tlsa, TlsLevel.DANE)
        if dane is not None:
            sources = (dane, *sources)
        if applied is not None:
            sources = (*sources, StsMxPatterns(applied))
        if requiretls:  # section 4.2.1 step 2: DNSSEC or MTA-STS validates the MX host
            sources = (*sources, RequireTlsMx(applied, self._tlsa.trusted))
        return PolicyDecision(
            requirement=Requirement(
                level=level,
                source=source,
                mode=mode,
                mx_patterns=patterns,
                report_only=report_only,
            ),
            failures=sts.failures,
            sts_policy=applied,
            sts_policy_id=sts.policy_id if applied is not None else None,
            detail=sts.detail,
            mx_sources=sources,
            relay_dane=dane,
        )

    def _base(self, domain: str) -> tuple[TlsLevel, PolicySource]:
        """The operator rule (exact, else nearest ``.parent``) or the default level."""
        if domain in self._rules:
            return self._rules[domain], PolicySource.OPERATOR
        labels = domain.split(".")
        for i in range(1, len(labels)):
            rule = self._rules.get("." + ".".join(labels[i:]))
            if rule is not None:
                return rule, PolicySource.OPERATOR
        return self._default, PolicySource.DEFAULT

    async def _discover(self, domain: str) -> _Sts:
        """One discovery per domain at a time; concurrent callers share its result.

        It runs as its own task, so a caller cancelled mid-way cancels nobody else.
        """
        task = self._inflight.get(domain)
        if task is None:
            task = asyncio.ensure_future(self._discover_once(domain))
            self._inflight[domain] = task
            task.add_done_callback(lambda done: self._finished(domain, done))
        return await asyncio.shield(task)

    def _finished(self, domain: str, task: asyncio.Future[_Sts]) -> None:
        if self._inflight.get(domain) is task:
            del self._inflight[domain]
        if not task.cancelled():
            task.exception()  # retrieved here, raised to every waiter

    async def _discover_once(self, domain: str) -> _Sts:
        now = self._clock()
        cached = await self._cache.get(domain)
        if cached is not None and not cached.fresh(now):
            cached = None
        try:
            answer = await self._resolver.txt(f"_mta-sts.{domain}")
            record = parse_txt(answer.records)
        except DnsError as exc:
            record = StsError(TlsFailure.STS_POLICY_INVALID, f"TXT: {exc}", absent=True)
        if isinstance(record, StsError):
            failures = () if record.absent else (record.failure,)
            if cached is not None:
                detail = f"{record.detail}; using the cached policy (id {cached.policy_id})"
                return _from_cache(cached, failures, detail)
            return _Sts(failures=failures, detail=record.detail)
        if cached is not None and cached.policy_id == record.id:
            return _from_cache(cached, (), "")
        fetched = await self._fetch(domain, record.id, now)
        if isinstance(fetched, StsError):
            if cached is not None:
                detail = f"{fetched.detail}; using the cached policy (id {cached.policy_id})"
                return _from_cache(cached, (fetched.failure,), detail)
            return _Sts(failures=(fetched.failure,), detail=fetched.detail)
        await self._cache.put(domain, CachedPolicy(fetched, record.id, now, now + fetched.max_age))
        return _Sts(policy=fetched, policy_id=record.id)

    async def _fetch(self, domain: str, policy_id: str, now: float) -> StsPolicy | StsError:
        held = await self._holdoffs.held(domain, policy_id, now)
        if held is not None:
            return held
        fetched = await self._fetcher.fetch(domain)
        if isinstance(fetched, StsError):
            await self._holdoffs.hold(domain, policy_id, fetched, now, self._holdoff_seconds)
        else:
            await self._holdoffs.clear(domain)
        return fetched


def _relaxed(
    sts: _Sts, level: TlsLevel, source: PolicySource, sources: tuple[MxSource, ...]
) -> PolicyDecision:
    """RFC 8689 sections 3 and 4.2.2, ``TLS-Required: No``: the recipient domain's policies
    (MTA-STS, DANE) are ignored; STARTTLS is still tried (``may``). The operator's own rule
    for the domain still applies, a DANE level as ``may``. Discovery failures are still
    reported (TLS-RPT), and ``detail`` says what was ignored."""
    if level in DANE_LEVELS:
        level = TlsLevel.MAY
    ignored = [f"MTA-STS {sts.policy.mode.value}"] if sts.policy is not None else []
    ignored += ["DANE"]
    detail = "TLS-Required: No: ignoring " + ", ".join(ignored)
    return PolicyDecision(
        requirement=Requirement(level=level, source=source),
        failures=sts.failures,
        detail=f"{detail}; {sts.detail}" if sts.detail else detail,
        mx_sources=sources,  # the engine's own; DANE's and MTA-STS's are set aside
        relaxed=True,
    )


def _from_cache(cached: CachedPolicy, failures: tuple[TlsFailure, ...], detail: str) -> _Sts:
    return _Sts(cached.policy, cached.policy_id, failures, detail)


def _strongest(candidates: list[tuple[TlsLevel, PolicySource]]) -> tuple[TlsLevel, PolicySource]:
    """The highest rank; on a tie the earlier (stronger) source wins."""
    best = candidates[0]
    for candidate in candidates[1:]:
        if candidate[0].rank > best[0].rank:
            best = candidate
    return best


def _normalize(domain: str) -> str:
    return domain.strip().lower().removesuffix(".")
