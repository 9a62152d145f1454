"""The per-MX step of a policy decision (policy.mx_policy, PolicyDecision.for_mx): a golden
table of what one host gets under each MTA-STS policy (RFC 8461 section 4.1: ``enforce``
takes unlisted hosts out, ``testing`` reports them, RFC 8460 ``validation-failure``), how a
chain of sources composes (the seam DANE plugs into), and the engine's order: its own
sources ahead of MTA-STS's (RFC 8461 section 2: MTA-STS never overrides DANE)."""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass, field

import pytest

from sealpost.model.tlsrpt import TlsFailure
from sealpost.policy.engine import PolicyDecision, PolicyEngine
from sealpost.policy.levels import PolicySource, Requirement, TlsLevel
from sealpost.policy.mta_sts import StsError, StsMode, StsPolicy
from sealpost.policy.mx_policy import MxRequirement, StsMxPatterns
from sealpost.policy.sts_cache import MemoryStsCache
from tests.fakes.resolver import ZoneResolver

DOMAIN = "example.test"
LISTED = ("mx1.example.test", "*.backup.example.test")
ENFORCE = StsPolicy(StsMode.ENFORCE, 3600, LISTED)
ENFORCE_NONE_LISTED = StsPolicy(StsMode.ENFORCE, 3600, ())
TESTING = StsPolicy(StsMode.TESTING, 3600, LISTED)
TESTING_NONE_LISTED = StsPolicy(StsMode.TESTING, 3600, ())
VF = TlsFailure.VALIDATION_FAILURE
DOMAIN_REQUIREMENT = Requirement(TlsLevel.VERIFY, PolicySource.MTA_STS, "enforce")


def decision(policy: StsPolicy | None) -> PolicyDecision:
    sources = (StsMxPatterns(policy),) if policy is not None else ()
    return PolicyDecision(DOMAIN_REQUIREMENT, sts_policy=policy, mx_sources=sources)


# (case, policy, host, named by DNS, allowed, failures reported with a delivery there)
GOLDEN: list[tuple[str, StsPolicy | None, str, bool, bool, tuple[TlsFailure, ...]]] = [
    ("no policy", None, "anything.test", True, True, ()),
    ("enforce, listed", ENFORCE, "mx1.example.test", True, True, ()),
    ("enforce, listed case-insensitively", ENFORCE, "MX1.Example.Test.", True, True, ()),
    ("enforce, wildcard label", ENFORCE, "a.backup.example.test", True, True, ()),
    ("enforce, wildcard is one label", ENFORCE, "b.a.backup.example.test", True, False, ()),
    ("enforce, wildcard needs a label", ENFORCE, "backup.example.test", True, False, ()),
    ("enforce, unlisted", ENFORCE, "evil.test", True, False, ()),
    ("enforce listing nothing", ENFORCE_NONE_LISTED, "mx1.example.test", True, False, ()),
    ("testing, listed", TESTING, "mx1.example.test", True, True, ()),
    ("testing, unlisted", TESTING, "evil.test", True, True, (VF,)),
    ("testing listing nothing", TESTING_NONE_LISTED, "evil.test", True, True, ()),
    ("enforce, static route or smarthost", ENFORCE, "evil.test", False, True, ()),
    ("testing, static route or smarthost", TESTING, "evil.test", False, True, ()),
]


@pytest.mark.parametrize(
    ("case", "policy", "host", "from_dns", "allowed", "failures"),
    GOLDEN,
    ids=[row[0] for row in GOLDEN],
)
def test_golden(
    case: str,
    policy: StsPolicy | None,
    host: str,
    from_dns: bool,
    allowed: bool,
    failures: tuple[TlsFailure, ...],
) -> None:
    d = decision(policy)
    mx = asyncio.run(d.for_mx(host) if from_dns else d.for_relay(host))
    assert (mx.host, mx.allowed, mx.failures) == (host, allowed, failures)
    assert mx.requirement == DOMAIN_REQUIREMENT  # MTA-STS decides per domain, never per host


@dataclass
class RaiseFor:
    """A per-MX source as DANE will be one: it raises the level of the hosts it knows (DANE:
    those with usable TLSA records) and remembers which hosts it was asked about."""

    hosts: frozenset[str]
    level: TlsLevel = TlsLevel.DANE
    asked: list[str] = field(default_factory=list)

    async def refine(self, mx: MxRequirement) -> MxRequirement:
        self.asked.append(mx.host)
        if mx.host not in self.hosts:
            return mx
        return dataclasses.replace(
            mx, requirement=dataclasses.replace(mx.requirement, level=self.level)
        )


def test_sources_run_in_order_each_from_the_last_result() -> None:
    raising = RaiseFor(frozenset({"mx1.example.test", "evil.test"}))
    d = dataclasses.replace(decision(ENFORCE), mx_sources=(raising, StsMxPatterns(ENFORCE)))
    mx1 = asyncio.run(d.for_mx("mx1.example.test"))
    evil = asyncio.run(d.for_mx("evil.test"))
    other = asyncio.run(d.for_mx("a.backup.example.test"))
    assert (mx1.requirement.level, mx1.allowed) == (TlsLevel.DANE, True)
    assert (evil.requirement.level, evil.allowed) == (TlsLevel.DANE, False)
    assert (other.requirement, other.allowed) == (DOMAIN_REQUIREMENT, True)
    assert raising.asked == ["mx1.example.test", "evil.test", "a.backup.example.test"]


def test_a_relay_is_never_refined() -> None:
    raising = RaiseFor(frozenset({"relay.example.test"}))
    d = dataclasses.replace(decision(None), mx_sources=(raising,))
    assert asyncio.run(d.for_relay("relay.example.test")) == MxRequirement(
        "relay.example.test", DOMAIN_REQUIREMENT
    )
    assert raising.asked == []


@dataclass
class OnePolicy:
    policy: StsPolicy

    async def fetch(self, domain: str) -> StsPolicy | StsError:
        return self.policy


def engine_with(policy: StsPolicy, source: RaiseFor) -> PolicyEngine:
    resolver = ZoneResolver({f"_mta-sts.{DOMAIN}": {"TXT": ["v=STSv1; id=1"]}})
    return PolicyEngine(
        resolver, OnePolicy(policy), MemoryStsCache(), operator_rules={}, mx_sources=(source,)
    )


def test_the_engine_puts_its_own_sources_ahead_of_mta_sts() -> None:
    raising = RaiseFor(frozenset({"evil.test"}))
    d = asyncio.run(engine_with(ENFORCE, raising).requirement_for(DOMAIN))
    assert d.mx_sources == (raising, StsMxPatterns(ENFORCE))
    evil = asyncio.run(d.for_mx("evil.test"))
    assert evil.requirement.level is TlsLevel.DANE and not evil.allowed


def test_without_an_mta_sts_policy_only_the_engines_sources_apply() -> None:
    raising = RaiseFor(frozenset())
    engine = PolicyEngine(
        ZoneResolver({}),
        OnePolicy(ENFORCE),
        MemoryStsCache(),
        operator_rules={},
        mx_sources=(raising,),
    )
    d = asyncio.run(engine.requirement_for(DOMAIN))
    assert d.mx_sources == (raising,)
    assert asyncio.run(d.for_mx("evil.test")).allowed
