"""The policy engine without sockets: the shared in-memory resolver, a scripted fetcher, an
injected clock. Precedence table (DESIGN.md section 3), operator rule matching, and RFC 8461
section 5 discovery with the cache (checklist C4, C5, C3 outcomes)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

import pytest

from sealpost.dns.resolver import DnsErrorKind
from sealpost.model.tlsrpt import TlsFailure
from sealpost.policy.engine import PolicyDecision, PolicyEngine
from sealpost.policy.fetch_holdoffs import FetchHoldoffs
from sealpost.policy.levels import PolicySource, TlsLevel
from sealpost.policy.mta_sts import StsError, StsMode, StsPolicy
from sealpost.policy.sts_cache import CachedPolicy, MemoryStsCache
from sealpost.store.memory.store import MemoryStore
from tests.fakes.resolver import Asked, ZoneResolver

DOMAIN = "example.test"
TXT_NAME = f"_mta-sts.{DOMAIN}"
ENFORCE = StsPolicy(StsMode.ENFORCE, 3600, ("mx1.example.test", "*.backup.example.test"))
TESTING = StsPolicy(StsMode.TESTING, 3600, ("mx1.example.test",))
NONE = StsPolicy(StsMode.NONE, 3600)
FETCH_ERROR = StsError(TlsFailure.STS_POLICY_FETCH_ERROR, "HTTP status 404")
WEBPKI_ERROR = StsError(TlsFailure.STS_WEBPKI_INVALID, "hostname mismatch")


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(coro)


@dataclass
class ScriptedFetcher:
    result: StsPolicy | StsError = ENFORCE
    calls: list[str] = field(default_factory=list)
    gate: asyncio.Event | None = None

    async def fetch(self, domain: str) -> StsPolicy | StsError:
        self.calls.append(domain)
        if self.gate is not None:
            await self.gate.wait()
        return self.result


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class Rig:
    resolver: ZoneResolver
    fetcher: ScriptedFetcher
    cache: MemoryStsCache
    clock: Clock
    engine: PolicyEngine

    def publish(self, policy_id: str | None) -> None:
        if policy_id is None:
            self.resolver.remove(TXT_NAME, "TXT")
        else:
            self.resolver.set(TXT_NAME, "TXT", [f"v=STSv1; id={policy_id}"])

    def decide(self, domain: str = DOMAIN, **kwargs: Any) -> PolicyDecision:
        return run(self.engine.requirement_for(domain, **kwargs))


def make_rig(
    *,
    policy: StsPolicy | StsError = ENFORCE,
    rules: dict[str, TlsLevel] | None = None,
    default: TlsLevel = TlsLevel.MAY,
    enabled: bool = True,
    holdoff: float = 300.0,
    holdoffs: FetchHoldoffs | None = None,
) -> Rig:
    resolver, fetcher, cache, clock = (
        ZoneResolver(),
        ScriptedFetcher(policy),
        MemoryStsCache(),
        Clock(),
    )
    engine = PolicyEngine(
        resolver,
        fetcher,
        cache,
        operator_rules=rules or {},
        default_level=default,
        mta_sts_enabled=enabled,
        clock=clock,
        failure_holdoff=holdoff,
        holdoffs=holdoffs,
    )
    return Rig(resolver, fetcher, cache, clock, engine)


# -- precedence (strongest first: REQUIRETLS, MTA-STS enforce, operator, default) ----------

V, M, E, N, DO = TlsLevel.VERIFY, TlsLevel.MAY, TlsLevel.ENCRYPT, TlsLevel.NONE, TlsLevel.DANE_ONLY
RT, STS, OP, DEF = (
    PolicySource.REQUIRETLS,
    PolicySource.MTA_STS,
    PolicySource.OPERATOR,
    PolicySource.DEFAULT,
)

PRECEDENCE = [
    # requiretls, sts policy, operator rule, default -> level, source, mode, report_only
    (False, None, None, M, M, DEF, None, False),
    (False, None, None, E, E, DEF, None, False),
    (False, None, V, M, V, OP, None, False),
    (False, None, N, E, N, OP, None, False),  # an operator rule may lower the default
    (False, ENFORCE, None, M, V, STS, "enforce", False),
    (False, ENFORCE, N, M, V, STS, "enforce", False),  # "none" never lowers enforce
    (False, ENFORCE, E, M, V, STS, "enforce", False),
    (False, ENFORCE, V, M, V, STS, "enforce", False),  # a tie goes to the stronger source
    (False, ENFORCE, DO, M, DO, OP, "enforce", False),  # stronger operator level kept
    (False, ENFORCE, None, E, V, STS, "enforce", False),
    (False, TESTING, None, M, M, STS, "testing", True),  # C5: deliver, record failures
    (False, TESTING, E, M, E, OP, "testing", False),  # report_only would permit plaintext
    (False, TESTING, V, M, V, OP, "testing", False),
    (False, TESTING, N, M, N, OP, "testing", False),
    (False, TESTING, None, E, E, DEF, "testing", False),
    (False, NONE, V, M, V, OP, None, False),  # mode none: as though no MTA-STS
    (False, NONE, None, M, M, DEF, None, False),
    (True, None, None, M, V, RT, None, False),
    (True, None, N, M, V, RT, None, False),  # nothing lowers REQUIRETLS
    (True, ENFORCE, None, M, V, RT, "enforce", False),
    (True, TESTING, None, M, V, RT, "testing", False),
    (True, None, DO, M, DO, OP, None, False),
]


@pytest.mark.parametrize(
    ("requiretls", "policy", "rule", "default", "level", "source", "mode", "report_only"),
    PRECEDENCE,
)
def test_precedence(
    requiretls: bool,
    policy: StsPolicy | None,
    rule: TlsLevel | None,
    default: TlsLevel,
    level: TlsLevel,
    source: PolicySource,
    mode: str | None,
    report_only: bool,
) -> None:
    rig = make_rig(policy=policy or ENFORCE, rules={DOMAIN: rule} if rule else {}, default=default)
    if policy is not None:
        rig.publish("1")
    requirement = rig.decide(requiretls=requiretls).requirement
    assert (requirement.level, requirement.source) == (level, source)
    assert (requirement.mode, requirement.report_only) == (mode, report_only)
    expected_patterns = policy.mx if mode is not None and policy is not None else ()
    assert requirement.mx_patterns == expected_patterns
    # Only report-only or none/may requirements ever permit plaintext.
    assert requirement.plaintext_allowed is (report_only or level in (N, M))


def test_mta_sts_disabled_never_looks() -> None:
    rig = make_rig()
    rig.publish("1")
    decision = rig.decide()
    assert decision.requirement.level is TlsLevel.VERIFY
    rig = make_rig(enabled=False)
    rig.publish("1")
    decision = rig.decide()
    assert (decision.requirement.level, decision.requirement.source) == (M, DEF)
    assert rig.resolver.asked == [] and rig.fetcher.calls == []


# -- operator rules -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("domain", "level"),
    [
        ("bank.test", TlsLevel.VERIFY),  # exact
        ("BANK.test.", TlsLevel.VERIFY),
        ("mail.bank.test", TlsLevel.ENCRYPT),  # ".bank.test" covers subdomains
        ("a.b.bank.test", TlsLevel.ENCRYPT),
        ("x.legacy.bank.test", TlsLevel.NONE),  # the nearest parent wins
        ("legacy.bank.test", TlsLevel.DANE_ONLY),  # exact beats a parent rule
        ("otherbank.test", TlsLevel.MAY),  # not a subdomain
        ("exact.test", TlsLevel.VERIFY),
        ("sub.exact.test", TlsLevel.MAY),  # an exact rule does not cover subdomains
        ("anything.else", TlsLevel.MAY),
    ],
)
def test_operator_rules(domain: str, level: TlsLevel) -> None:
    rules = {
        "bank.test": TlsLevel.VERIFY,
        ".Bank.Test": TlsLevel.ENCRYPT,
        ".legacy.bank.test.": TlsLevel.NONE,
        "legacy.bank.test": TlsLevel.DANE_ONLY,
        "EXACT.test": TlsLevel.VERIFY,
    }
    decision = make_rig(rules=rules).decide(domain)
    assert decision.requirement.level is level
    assert decision.requirement.source is (DEF if level is TlsLevel.MAY else OP)


# -- discovery and the cache (RFC 8461 section 5, checklist C4) ---------------------------


def test_no_txt_record_means_no_mta_sts_and_no_fetch() -> None:
    rig = make_rig()
    decision = rig.decide()
    assert decision.requirement.mode is None and decision.failures == ()
    assert rig.resolver.asked == [Asked("txt", TXT_NAME)] and rig.fetcher.calls == []


def test_first_fetch_is_cached_and_reused_while_the_id_is_unchanged() -> None:
    rig = make_rig()
    rig.publish("1")
    first = rig.decide()
    assert first.sts_policy == ENFORCE and first.sts_policy_id == "1"
    assert first.requirement.level is TlsLevel.VERIFY
    cached = run(rig.cache.get(DOMAIN))
    assert cached == CachedPolicy(ENFORCE, "1", rig.clock.now, rig.clock.now + ENFORCE.max_age)
    rig.clock.now += 100
    assert rig.decide() == first
    assert rig.fetcher.calls == [DOMAIN]


def test_changed_id_refetches() -> None:
    rig = make_rig()
    rig.publish("1")
    rig.decide()
    rig.publish("2")
    rig.fetcher.result = TESTING
    decision = rig.decide()
    assert decision.requirement.mode == "testing" and decision.sts_policy_id == "2"
    assert rig.fetcher.calls == [DOMAIN, DOMAIN]
    assert run(rig.cache.get(DOMAIN)).policy_id == "2"


@pytest.mark.parametrize("error", [FETCH_ERROR, WEBPKI_ERROR])
def test_changed_id_with_failed_fetch_keeps_the_cached_policy(error: StsError) -> None:
    rig = make_rig()
    rig.publish("1")
    rig.decide()
    rig.publish("2")
    rig.fetcher.result = error  # an attacker blocks HTTPS
    decision = rig.decide()
    assert decision.requirement.level is TlsLevel.VERIFY and decision.sts_policy == ENFORCE
    assert decision.failures == (error.failure,)
    assert "cached policy" in decision.detail
    assert run(rig.cache.get(DOMAIN)).policy_id == "1"


@pytest.mark.parametrize(
    "txt",
    [
        None,  # stripped: NXDOMAIN
        DnsErrorKind.NODATA,
        DnsErrorKind.SERVFAIL,
        DnsErrorKind.TIMEOUT,
        ["v=spf1 -all"],
    ],
)
def test_stripped_txt_keeps_the_cached_policy_until_it_expires(txt: object) -> None:
    rig = make_rig()
    rig.publish("1")
    rig.decide()
    if txt is None:
        rig.publish(None)
    elif txt is DnsErrorKind.NODATA:  # the name stays, without TXT records
        rig.resolver.set(TXT_NAME, "TXT", [])
        rig.resolver.add(TXT_NAME, "A", "192.0.2.1")
    elif isinstance(txt, DnsErrorKind):  # SERVFAIL, TIMEOUT
        getattr(rig.resolver, txt.value).add(TXT_NAME)
    else:
        rig.resolver.set(TXT_NAME, "TXT", txt)  # type: ignore[arg-type]
    rig.clock.now += ENFORCE.max_age - 1
    decision = rig.decide()
    assert decision.requirement.level is TlsLevel.VERIFY and decision.failures == ()
    assert decision.requirement.mx_patterns == ENFORCE.mx
    rig.clock.now += 1  # max_age reached: the policy is gone
    decision = rig.decide()
    assert decision.requirement.level is TlsLevel.MAY and decision.requirement.mode is None
    assert rig.fetcher.calls == [DOMAIN]


@pytest.mark.parametrize(
    "records",
    [["v=STSv1; id=1", "v=STSv1; id=2"], ["v=STSv1; id=bad-id"], ["v=STSv1 id=1"]],
)
def test_bad_txt_record(records: list[str]) -> None:
    rig = make_rig()
    rig.resolver.set(TXT_NAME, "TXT", records)
    decision = rig.decide()  # no cache: no MTA-STS, the failure reported
    assert decision.requirement.mode is None and rig.fetcher.calls == []
    assert decision.failures == (TlsFailure.STS_POLICY_INVALID,)
    rig.publish("1")
    rig.decide()
    rig.resolver.set(TXT_NAME, "TXT", records)
    decision = rig.decide()  # cached: kept, and the failure still reported
    assert decision.requirement.level is TlsLevel.VERIFY
    assert decision.failures == (TlsFailure.STS_POLICY_INVALID,)


@pytest.mark.parametrize(
    "error",
    [FETCH_ERROR, WEBPKI_ERROR, StsError(TlsFailure.STS_POLICY_INVALID, "no mode field")],
)
def test_failed_first_fetch_delivers_without_mta_sts(error: StsError) -> None:
    rig = make_rig(policy=error)
    rig.publish("1")
    decision = rig.decide()
    assert decision.requirement.level is TlsLevel.MAY and decision.requirement.mode is None
    assert decision.failures == (error.failure,) and decision.sts_policy is None
    assert decision.detail == error.detail
    assert run(rig.cache.get(DOMAIN)) is None


def test_failed_fetches_are_held_off_per_id() -> None:
    rig = make_rig(policy=FETCH_ERROR, holdoff=60)
    rig.publish("1")
    rig.decide()
    rig.clock.now += 59
    assert rig.decide().failures == (TlsFailure.STS_POLICY_FETCH_ERROR,)
    assert len(rig.fetcher.calls) == 1  # not fetched again within the hold-off
    rig.publish("2")
    rig.decide()
    assert len(rig.fetcher.calls) == 2  # a new id is fetched at once
    rig.clock.now += 60
    rig.fetcher.result = ENFORCE
    assert rig.decide().requirement.level is TlsLevel.VERIFY
    assert len(rig.fetcher.calls) == 3


def test_a_fetch_one_node_held_off_holds_off_the_others_sharing_the_store() -> None:
    store = MemoryStore()
    node_a = make_rig(policy=WEBPKI_ERROR, holdoff=60, holdoffs=FetchHoldoffs(store))
    node_b = make_rig(policy=WEBPKI_ERROR, holdoff=60, holdoffs=FetchHoldoffs(store))
    for rig in (node_a, node_b):
        rig.publish("1")
    node_a.decide()
    node_b.clock.now = node_a.clock.now + 59
    decision = node_b.decide()
    assert node_b.fetcher.calls == [], "node b did not fetch: node a's failure holds it off"
    assert decision.failures == (TlsFailure.STS_WEBPKI_INVALID,)
    assert decision.detail == WEBPKI_ERROR.detail
    node_b.publish("2")  # a new id is fetched at once, and its success clears the hold-off
    node_b.fetcher.result = ENFORCE
    assert node_b.decide().requirement.level is TlsLevel.VERIFY
    assert run(store.sts_fetch_holdoff(DOMAIN, node_b.clock.now)) is None


def test_mode_none_replaces_a_cached_enforce_policy() -> None:
    rig = make_rig()
    rig.publish("1")
    rig.decide()
    rig.publish("2")
    rig.fetcher.result = NONE  # RFC 8461 section 8.3: how a domain leaves MTA-STS
    decision = rig.decide()
    assert decision.requirement.level is TlsLevel.MAY and decision.requirement.mode is None
    assert decision.sts_policy is None
    rig.publish(None)
    assert rig.decide().requirement.mode is None  # the cached "none" is what stays


def test_expired_cache_with_the_same_id_refetches() -> None:
    rig = make_rig()
    rig.publish("1")
    rig.decide()
    rig.clock.now += ENFORCE.max_age
    rig.fetcher.result = FETCH_ERROR
    decision = rig.decide()
    assert decision.requirement.mode is None
    assert decision.failures == (TlsFailure.STS_POLICY_FETCH_ERROR,)
    assert rig.fetcher.calls == [DOMAIN, DOMAIN]


def test_max_age_zero_is_never_served_from_the_cache() -> None:
    rig = make_rig(policy=StsPolicy(StsMode.ENFORCE, 0, ("mx1.example.test",)))
    rig.publish("1")
    assert rig.decide().requirement.level is TlsLevel.VERIFY
    assert rig.decide().requirement.level is TlsLevel.VERIFY
    assert len(rig.fetcher.calls) == 2
    rig.publish(None)
    assert rig.decide().requirement.mode is None


def test_domain_is_normalised() -> None:
    rig = make_rig()
    rig.publish("1")
    rig.decide("Example.TEST.")
    assert rig.resolver.asked == [Asked("txt", TXT_NAME)] and rig.fetcher.calls == [DOMAIN]


def test_concurrent_callers_share_one_discovery() -> None:
    rig = make_rig()
    rig.publish("1")

    async def scenario() -> list[PolicyDecision]:
        rig.fetcher.gate = asyncio.Event()
        tasks = [asyncio.ensure_future(rig.engine.requirement_for(DOMAIN)) for _ in range(5)]
        while not rig.fetcher.calls:
            await asyncio.sleep(0)
        tasks[0].cancel()  # one caller giving up cancels nobody else
        rig.fetcher.gate.set()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        assert isinstance(results[0], asyncio.CancelledError)
        return results[1:]  # type: ignore[return-value]

    decisions = run(scenario())
    assert rig.fetcher.calls == [DOMAIN]
    assert all(d.requirement.level is TlsLevel.VERIFY for d in decisions)


# -- MX filtering (RFC 8461 section 4.1, checklist C2), through the per-MX step ------------

MX_HOSTS = ["mx1.example.test", "mx2.example.test", "a.backup.example.test", "evil.test"]


def allowed(decision: PolicyDecision, host: str) -> bool:
    """May mail go to MX ``host`` at all?"""
    return run(decision.for_mx(host)).allowed


def reported(decision: PolicyDecision, host: str) -> bool:
    """Is a delivery to MX ``host`` reported as a failure (outside a testing policy)?"""
    return bool(run(decision.for_mx(host)).failures)


def test_enforce_filters_mx_hosts() -> None:
    rig = make_rig()
    rig.publish("1")
    decision = rig.decide()
    assert [h for h in MX_HOSTS if allowed(decision, h)] == [
        "mx1.example.test",
        "a.backup.example.test",
    ]


def test_enforce_with_no_matching_mx_allows_none() -> None:
    rig = make_rig(policy=StsPolicy(StsMode.ENFORCE, 60, ("*.elsewhere.test",)))
    rig.publish("1")
    decision = rig.decide()
    assert not any(allowed(decision, h) for h in MX_HOSTS)


def test_testing_allows_every_mx_and_tells_which_fail() -> None:
    rig = make_rig(policy=TESTING)
    rig.publish("1")
    decision = rig.decide()
    assert all(allowed(decision, h) for h in MX_HOSTS)
    assert [h for h in MX_HOSTS if reported(decision, h)] == MX_HOSTS[1:]


def test_no_policy_allows_every_mx() -> None:
    decision = make_rig().decide()
    assert all(allowed(decision, h) and not reported(decision, h) for h in MX_HOSTS)


# -- DANE levels ---------------------------------------------------------------------------


def test_dane_ranks_with_may_so_mta_sts_enforce_still_raises_the_domain() -> None:
    rig = make_rig(default=TlsLevel.DANE)
    rig.publish("1")
    decision = rig.decide()
    assert decision.requirement.level is V and decision.requirement.source is STS
    assert type(decision.mx_sources[0]).__name__ == "DaneMx"  # DANE's step goes first


def test_relays_without_secure_tlsa_are_may_or_out() -> None:
    """Static routes and the smarthost without secure TLSA records (here: DNSSEC is not
    trusted): ``dane`` is ``may``; ``dane-only`` is not sent (dane-required)."""
    rig = make_rig(policy=StsError(TlsFailure.STS_POLICY_INVALID, "none", absent=True))
    rig.engine = PolicyEngine(
        rig.resolver,
        rig.fetcher,
        rig.cache,
        operator_rules={"only.test": DO},
        default_level=TlsLevel.DANE,
    )
    dane = run(run(rig.engine.requirement_for("example.test")).for_relay("relay.test"))
    assert dane.allowed and dane.requirement.level is M
    only = run(run(rig.engine.requirement_for("only.test")).for_relay("relay.test"))
    assert not only.allowed and only.failures == (TlsFailure.DANE_REQUIRED,)
