"""The policy engine end to end over real loopback sockets: TXT records from a real DNS
server, policies from a real HTTPS server, the dnspython Resolver, the real fetcher and the
memory cache (checklist C1-C5; C6 waits for DANE)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest

from sealpost.dns.dnspython_resolver import DnspythonResolver
from sealpost.model.tlsrpt import TlsFailure
from sealpost.policy.engine import PolicyDecision, PolicyEngine
from sealpost.policy.levels import PolicySource, TlsLevel
from sealpost.policy.mta_sts import StsMode
from sealpost.policy.sts_cache import MemoryStsCache
from sealpost.policy.sts_fetch import StsFetcher
from tests.fixtures.dns_server import DnsServer, dns_server_fixture  # noqa: F401
from tests.fixtures.https_server import CertKind, HttpsServer, https_server_fixture  # noqa: F401

DOMAIN = "example.test"
ENFORCE = (
    "version: STSv1\nmode: enforce\nmx: mx1.example.test\nmx: *.backup.example.test\n"
    "max_age: 86400\n"
)
TESTING = ENFORCE.replace("enforce", "testing")
MX_HOSTS = ["mx1.example.test", "mx2.example.test", "a.backup.example.test"]


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class World:
    dns: DnsServer
    https: HttpsServer
    cache: MemoryStsCache
    clock: Clock
    engine: PolicyEngine

    def publish(
        self, domain: str, policy_id: str | None, policy: str | None = None, **site: object
    ) -> None:
        """TXT ``v=STSv1; id=<policy_id>`` (None: removed) and, if given, the policy."""
        self.dns.set(f"mta-sts.{domain}", "A", ["127.0.0.1"])
        if policy_id is None:
            self.dns.remove(f"_mta-sts.{domain}", "TXT")
        else:
            self.dns.set(f"_mta-sts.{domain}", "TXT", [f"v=STSv1; id={policy_id};"])
        if policy is not None:
            self.https.policy(domain, policy, **site)

    def decide(self, domain: str = DOMAIN, **kwargs: object) -> PolicyDecision:
        return asyncio.run(self.engine.requirement_for(domain, **kwargs))  # type: ignore[arg-type]

    def fetches(self, domain: str = DOMAIN) -> int:
        return len(self.https.requests_for(f"mta-sts.{domain}"))


@pytest.fixture
def world(dns_server: DnsServer, https_server: HttpsServer) -> World:
    resolver = DnspythonResolver([dns_server.nameserver], timeout=2, lifetime=4)
    fetcher = StsFetcher(
        resolver, https_port=https_server.port, ca_file=https_server.ca_file, timeout=3
    )
    cache, clock = MemoryStsCache(), Clock()
    engine = PolicyEngine(
        resolver,
        fetcher,
        cache,
        operator_rules={"legacy.test": TlsLevel.NONE},
        clock=clock,
        failure_holdoff=0,
    )
    return World(dns_server, https_server, cache, clock, engine)


def test_c1_valid_enforce_policy_requires_verified_tls(world: World) -> None:
    world.publish(DOMAIN, "20240101T000000", ENFORCE)
    decision = world.decide()
    requirement = decision.requirement
    assert (requirement.level, requirement.source, requirement.mode) == (
        TlsLevel.VERIFY,
        PolicySource.MTA_STS,
        "enforce",
    )
    assert requirement.verification_enforced and not requirement.plaintext_allowed
    assert decision.failures == () and decision.sts_policy_id == "20240101T000000"
    assert world.https.requests[0].sni == "mta-sts.example.test"


def test_c1_operator_none_cannot_lower_enforce(world: World) -> None:
    world.publish("legacy.test", "1", ENFORCE.replace("example.test", "legacy.test"))
    requirement = world.decide("legacy.test").requirement
    assert (requirement.level, requirement.source) == (TlsLevel.VERIFY, PolicySource.MTA_STS)


def allowed(decision: PolicyDecision, host: str) -> bool:
    """May mail go to MX ``host`` at all (the per-MX step)?"""
    return asyncio.run(decision.for_mx(host)).allowed


def reported(decision: PolicyDecision, host: str) -> bool:
    """Is a delivery to MX ``host`` reported as a failure (outside a testing policy)?"""
    return bool(asyncio.run(decision.for_mx(host)).failures)


def test_c2_mx_hosts_outside_the_policy_are_skipped(world: World) -> None:
    world.publish(DOMAIN, "1", ENFORCE)
    decision = world.decide()
    assert [h for h in MX_HOSTS if allowed(decision, h)] == [
        "mx1.example.test",
        "a.backup.example.test",
    ]
    assert not allowed(decision, "b.a.backup.example.test")  # one label only
    assert not allowed(decision, "backup.example.test")


FAULTS: list[tuple[str, dict, TlsFailure]] = [
    (
        "redirect",
        {"status": 302, "headers": [("Location", "https://mta-sts.other.test/")]},
        TlsFailure.STS_POLICY_FETCH_ERROR,
    ),
    ("text/html", {"content_type": "text/html"}, TlsFailure.STS_POLICY_FETCH_ERROR),
    ("huge", {"body": ENFORCE + "x: " + "y" * 70_000 + "\n"}, TlsFailure.STS_POLICY_FETCH_ERROR),
    ("404", {"status": 404}, TlsFailure.STS_POLICY_FETCH_ERROR),
    ("wrong-name certificate", {"cert": CertKind.WRONG_NAME}, TlsFailure.STS_WEBPKI_INVALID),
    ("untrusted certificate", {"cert": CertKind.UNTRUSTED}, TlsFailure.STS_WEBPKI_INVALID),
    ("expired certificate", {"cert": CertKind.EXPIRED}, TlsFailure.STS_WEBPKI_INVALID),
    ("garbage", {"raw": b"\x16\x03garbage"}, TlsFailure.STS_POLICY_FETCH_ERROR),
    ("garbage policy", {"body": "garbage"}, TlsFailure.STS_POLICY_INVALID),
    (
        "no mx",
        {"body": "version: STSv1\nmode: enforce\nmax_age: 86400"},
        TlsFailure.STS_POLICY_INVALID,
    ),
    ("max_age xxx", {"body": ENFORCE.replace("86400", "xxx")}, TlsFailure.STS_POLICY_INVALID),
    (
        "max_age too big",
        {"body": ENFORCE.replace("86400", "31557601")},
        TlsFailure.STS_POLICY_INVALID,
    ),
    ("unknown mode", {"body": ENFORCE.replace("enforce", "doubt")}, TlsFailure.STS_POLICY_INVALID),
    ("no mode", {"body": ENFORCE.replace("mode: enforce\n", "")}, TlsFailure.STS_POLICY_INVALID),
]


@pytest.mark.parametrize(("name", "site", "failure"), FAULTS, ids=[f[0] for f in FAULTS])
def test_c3_fetch_faults_mean_no_policy_and_a_report(
    world: World, name: str, site: dict, failure: TlsFailure
) -> None:
    settings = dict(site)
    world.publish(DOMAIN, "1", settings.pop("body", ENFORCE), **settings)
    decision = world.decide()
    assert decision.requirement.level is TlsLevel.MAY and decision.requirement.mode is None
    assert decision.failures == (failure,)
    assert decision.sts_policy is None and all(allowed(decision, h) for h in MX_HOSTS)
    assert world.fetches() <= 1  # a redirect is never followed
    assert world.https.requests_for("mta-sts.other.test") == []


@pytest.mark.parametrize(
    ("records", "failures"),
    [
        (["id=20180907T090909; v=STSv1;"], ()),  # Snawoot bad-record1: not an STS record
        (["azazaza;asdasdasdasd"], ()),  # bad-record2
        (["v=STSv12;id=20180907T090909;"], ()),  # bad-record3
        (["v=STSv1; id=1", "v=STSv1; id=2"], (TlsFailure.STS_POLICY_INVALID,)),
        (["v=STSv1; id=not-alnum"], (TlsFailure.STS_POLICY_INVALID,)),
    ],
)
def test_c3_bad_txt_records_mean_no_policy(
    world: World, records: list[str], failures: tuple[TlsFailure, ...]
) -> None:
    world.publish(DOMAIN, None, ENFORCE)
    world.dns.set(f"_mta-sts.{DOMAIN}", "TXT", records)
    decision = world.decide()
    assert decision.requirement.mode is None and decision.failures == failures
    assert world.fetches() == 0


def test_c4_cached_policy_survives_stripped_txt_and_blocked_https(world: World) -> None:
    world.publish(DOMAIN, "1", ENFORCE)
    assert world.decide().requirement.level is TlsLevel.VERIFY
    # The attacker strips the TXT record and blocks the policy host.
    world.publish(DOMAIN, None)
    world.https.site("mta-sts.example.test", stall=True)
    world.clock.now += 86_399
    decision = world.decide()
    assert decision.requirement.level is TlsLevel.VERIFY and decision.failures == ()
    assert world.fetches() == 1
    # ... or forges a new id while HTTPS is blocked: the cached policy still holds.
    world.dns.set(f"_mta-sts.{DOMAIN}", "TXT", ["v=STSv1; id=forged"])
    world.https.policy(DOMAIN, ENFORCE, status=404)
    decision = world.decide()
    assert decision.requirement.level is TlsLevel.VERIFY
    assert decision.failures == (TlsFailure.STS_POLICY_FETCH_ERROR,)
    # Once max_age has passed, nothing is left to enforce.
    world.publish(DOMAIN, None)
    world.clock.now += 1
    decision = world.decide()
    assert decision.requirement.level is TlsLevel.MAY and decision.requirement.mode is None


def test_c4_changed_id_triggers_a_refetch(world: World) -> None:
    world.publish(DOMAIN, "1", ENFORCE)
    world.decide()
    world.decide()
    assert world.fetches() == 1  # same id: served from the cache
    world.publish(DOMAIN, "2", TESTING)
    decision = world.decide()
    assert world.fetches() == 2
    assert decision.requirement.mode == "testing" and decision.sts_policy_id == "2"
    cached = asyncio.run(world.cache.get(DOMAIN))
    assert cached is not None and cached.policy_id == "2"
    assert cached.policy.mode is StsMode.TESTING


def test_c5_testing_delivers_and_records(world: World) -> None:
    world.publish(DOMAIN, "1", TESTING)
    decision = world.decide()
    requirement = decision.requirement
    assert requirement.report_only and requirement.mode == "testing"
    assert requirement.plaintext_allowed and not requirement.verification_enforced
    assert all(allowed(decision, h) for h in MX_HOSTS)
    assert [h for h in MX_HOSTS if reported(decision, h)] == ["mx2.example.test"]


def test_requiretls_with_enforce(world: World) -> None:
    world.publish(DOMAIN, "1", ENFORCE)
    requirement = world.decide(requiretls=True).requirement
    assert (requirement.level, requirement.source) == (TlsLevel.VERIFY, PolicySource.REQUIRETLS)
    assert requirement.mode == "enforce"


def test_dns_failure_without_cache_means_no_policy(world: World) -> None:
    world.publish(DOMAIN, "1", ENFORCE)
    world.dns.servfail.add(f"_mta-sts.{DOMAIN}")
    decision = world.decide()
    assert decision.requirement.mode is None and world.fetches() == 0


def test_many_domains_concurrently(world: World) -> None:
    domains = [f"d{i}.test" for i in range(8)]
    for d in domains:
        world.publish(d, "1", ENFORCE.replace("example.test", d))

    async def all_at_once() -> list[PolicyDecision]:
        calls = [world.engine.requirement_for(d) for d in domains for _ in range(3)]
        return await asyncio.gather(*calls)

    decisions = asyncio.run(all_at_once())
    assert all(d.requirement.level is TlsLevel.VERIFY for d in decisions)
    assert [world.fetches(d) for d in domains] == [1] * len(domains)
