"""route(): a golden table over zone data served by the shared in-memory resolver (no
sockets), the MX order and shuffle, bounds and settings validation."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Mapping, Sequence

import pytest

from sealpost.delivery.route import (
    MX_LOOKUP_LIMIT,
    Route,
    RouteFailure,
    RouteSettings,
    Via,
    route,
)
from sealpost.delivery.types import Outcome, Target
from sealpost.dns.resolver import Answer, MxRecord
from tests.fakes.resolver import Asked, Records, ZoneResolver

Faults = Mapping[str, Sequence[str]]  # ZoneResolver's servfail= / timeout= sets
SPF = "v=spf1 -all"  # a record that makes a name exist without MX or addresses (NODATA)


def run_route(
    domain: str,
    resolver: ZoneResolver,
    settings: RouteSettings | None = None,
    rng: random.Random | None = None,
) -> Route | RouteFailure:
    return asyncio.run(route(domain, resolver, settings or RouteSettings(), rng))


def addresses_in(records: Records, host: str) -> tuple[str, ...]:
    types = records.get(host, {})
    return tuple(str(a) for a in (*types.get("A", ()), *types.get("AAAA", ())))


def failure(code: int, enhanced: str, outcome: Outcome) -> tuple[int, str, Outcome]:
    return (code, enhanced, outcome)


PERM_NOT_FOUND = failure(550, "5.1.2", Outcome.PERMANENT)
DNS_FAILED = failure(451, "4.4.3", Outcome.TRANSIENT)
NULL_MX = failure(556, "5.1.10", Outcome.PERMANENT)

MX2: Records = {"example.test": {"MX": [(20, "mx2.example.test"), (10, "mx1.example.test")]}}
ADDR2: Records = {
    "mx1.example.test": {"A": ["192.0.2.1"]},
    "mx2.example.test": {"A": ["192.0.2.2"], "AAAA": ["2001:db8::2"]},
}
MX2_ADDR2: Records = {**MX2, **ADDR2}
MX2_ONLY_MX2_RESOLVES: Records = {**MX2, "mx2.example.test": {"A": ["192.0.2.2"]}}

# (case, zone, faults, expected targets as (host, port, preference) or failure)
GOLDEN: list[tuple[str, Records, Faults, object]] = [
    (
        "preference order",
        MX2_ADDR2,
        {},
        [("mx1.example.test", 25, 10), ("mx2.example.test", 25, 20)],
    ),
    ("implicit MX", {"example.test": {"A": ["192.0.2.9"]}}, {}, [("example.test", 25, 0)]),
    ("null MX", {"example.test": {"MX": [(0, "")], "A": ["192.0.2.9"]}}, {}, NULL_MX),
    ("null MX with a dot", {"example.test": {"MX": [(0, ".")]}}, {}, NULL_MX),
    ("NXDOMAIN", {}, {}, PERM_NOT_FOUND),
    ("MX SERVFAIL", MX2_ADDR2, {"servfail": ["example.test/MX"]}, DNS_FAILED),
    ("MX timeout", MX2_ADDR2, {"timeout": ["example.test/MX"]}, DNS_FAILED),
    ("implicit MX without addresses", {"example.test": {"TXT": [SPF]}}, {}, DNS_FAILED),
    (
        "implicit MX SERVFAIL",
        {"example.test": {"TXT": [SPF]}},
        {"servfail": ["example.test/A", "example.test/AAAA"]},
        DNS_FAILED,
    ),
    (
        "implicit MX timeout",
        {"example.test": {"TXT": [SPF]}},
        {"timeout": ["example.test/A", "example.test/AAAA"]},
        DNS_FAILED,
    ),
    (
        "MX host without addresses skipped",
        {**MX2_ONLY_MX2_RESOLVES, "mx1.example.test": {"TXT": [SPF]}},
        {},
        [("mx2.example.test", 25, 20)],
    ),
    ("MX host not found skipped", MX2_ONLY_MX2_RESOLVES, {}, [("mx2.example.test", 25, 20)]),
    (
        "MX host failing skipped",
        MX2_ONLY_MX2_RESOLVES,
        {"timeout": ["mx1.example.test"]},
        [("mx2.example.test", 25, 20)],
    ),
    (
        "IP literal MX host skipped",
        {
            "example.test": {
                "MX": [(5, "192.0.2.1"), (6, "[192.0.2.1]"), (10, "mx1.example.test")]
            },
            **ADDR2,
        },
        {},
        [("mx1.example.test", 25, 10)],
    ),
    (
        "null MX among others skipped",
        {"example.test": {"MX": [(0, ""), (10, "mx1.example.test")]}, **ADDR2},
        {},
        [("mx1.example.test", 25, 10)],
    ),
    ("every MX host not found", MX2, {}, PERM_NOT_FOUND),
    ("only IP literal MX hosts", {"example.test": {"MX": [(10, "192.0.2.1")]}}, {}, PERM_NOT_FOUND),
    (
        "MX hosts failing",
        MX2,
        {"servfail": ["mx1.example.test"], "timeout": ["mx2.example.test"]},
        DNS_FAILED,
    ),
    (
        "MX hosts without addresses",
        {**MX2, "mx1.example.test": {"TXT": [SPF]}},  # mx1: NODATA, mx2: NXDOMAIN
        {},
        DNS_FAILED,
    ),
    (
        "duplicate MX host kept once at its best preference",
        {"example.test": {"MX": [(30, "mx1.example.test"), (10, "mx1.example.test")]}, **ADDR2},
        {},
        [("mx1.example.test", 25, 10)],
    ),
    (
        "MX host names normalized",
        {"example.test": {"MX": [(10, "MX1.Example.Test.")]}, **ADDR2},
        {},
        [("mx1.example.test", 25, 10)],
    ),
]


@pytest.mark.parametrize(("case", "zone", "faults", "expected"), GOLDEN, ids=[g[0] for g in GOLDEN])
def test_golden(case: str, zone: Records, faults: Faults, expected: object) -> None:
    resolver = ZoneResolver(zone, **faults)  # type: ignore[arg-type]
    result = run_route("Example.TEST.", resolver)
    if isinstance(expected, tuple):
        assert isinstance(result, RouteFailure), case
        assert (result.reply.code, result.reply.enhanced, result.outcome) == expected
        assert result.local is False
    else:
        assert isinstance(result, Route), case
        assert [(t.host, t.port, t.preference) for t in result.targets] == expected
        for target in result.targets:
            assert target.addresses == addresses_in(zone, target.host)
        assert result.via is (Via.IMPLICIT_MX if case == "implicit MX" else Via.MX)


def test_exact_replies() -> None:
    nomail = run_route("example.test", ZoneResolver({"example.test": {"MX": [(0, ".")]}}))
    assert isinstance(nomail, RouteFailure)
    assert str(nomail.reply) == "556 5.1.10 Recipient address has null MX"
    missing = run_route("example.test", ZoneResolver())
    assert isinstance(missing, RouteFailure)
    assert str(missing.reply) == "550 5.1.2 Domain not found"
    failed = run_route("example.test", ZoneResolver(servfail=["example.test"]))
    assert isinstance(failed, RouteFailure)
    assert str(failed.reply).startswith("451 4.4.3 DNS lookup failed")


def test_null_mx_never_looks_up_addresses() -> None:
    resolver = ZoneResolver({"example.test": {"MX": [(0, "")], "A": ["192.0.2.9"]}})
    run_route("example.test", resolver)
    assert resolver.asked == [Asked("mx", "example.test")]


def test_implicit_mx_uses_the_smtp_port() -> None:
    resolver = ZoneResolver({"example.test": {"A": ["192.0.2.9"], "AAAA": ["2001:db8::9"]}})
    result = run_route("example.test", resolver, RouteSettings(smtp_port=2525))
    assert result == Route(
        (Target("example.test", ("192.0.2.9", "2001:db8::9"), 2525, 0),), Via.IMPLICIT_MX
    )


def test_mx_targets_use_the_smtp_port_and_mx_secure_flag() -> None:
    resolver = ZoneResolver(MX2_ADDR2, secure=["example.test"])
    result = run_route("example.test", resolver, RouteSettings(smtp_port=2526))
    assert isinstance(result, Route)
    assert result.secure is True
    assert {t.port for t in result.targets} == {2526}
    insecure = run_route("example.test", ZoneResolver(MX2_ADDR2))
    assert isinstance(insecure, Route) and insecure.secure is False


class CarelessMx(ZoneResolver):
    """Breaks one promise of the Resolver contract on purpose: MX hosts come back as written
    (case, trailing dot, "." for a null MX). route() normalises them again all the same."""

    def __init__(self, mx: Sequence[tuple[int, str]]) -> None:
        super().__init__(ADDR2)
        self.raw_mx = tuple(MxRecord(preference, host) for preference, host in mx)

    async def mx(self, domain: str) -> Answer[MxRecord]:
        return Answer(self.raw_mx)


def test_mx_hosts_are_normalized_even_from_a_careless_resolver() -> None:
    nomail = run_route("example.test", CarelessMx([(0, ".")]))
    assert isinstance(nomail, RouteFailure)
    assert str(nomail.reply) == "556 5.1.10 Recipient address has null MX"
    result = run_route("example.test", CarelessMx([(10, "MX1.Example.Test.")]))
    assert isinstance(result, Route)
    assert [(t.host, t.addresses) for t in result.targets] == [("mx1.example.test", ("192.0.2.1",))]


# -- order among equal preferences ----------------------------------------------------------

EQUAL_MX = [(10, "c.test"), (10, "a.test"), (5, "first.test"), (10, "b.test"), (20, "z")]
EQUAL_ADDR: Records = {
    h: {"A": ["192.0.2.1"]} for h in ("a.test", "b.test", "c.test", "first.test", "z")
}
EQUALS: Records = {"example.test": {"MX": EQUAL_MX}, **EQUAL_ADDR}


def hosts(result: Route | RouteFailure) -> list[str]:
    assert isinstance(result, Route)
    return [t.host for t in result.targets]


def test_shuffle_among_equals_with_a_seeded_rng() -> None:
    expected_middle = ["a.test", "b.test", "c.test"]
    random.Random(7).shuffle(expected_middle)
    result = run_route("example.test", ZoneResolver(EQUALS), rng=random.Random(7))
    assert hosts(result) == ["first.test", *expected_middle, "z"]


def test_same_seed_same_order_whatever_the_answer_order() -> None:
    reversed_zone = {"example.test": {"MX": list(reversed(EQUAL_MX))}, **EQUAL_ADDR}
    one = run_route("example.test", ZoneResolver(EQUALS), rng=random.Random(3))
    two = run_route("example.test", ZoneResolver(reversed_zone), rng=random.Random(3))
    assert hosts(one) == hosts(two)


def test_every_order_among_equals_happens_and_preferences_hold() -> None:
    seen = set()
    for seed in range(60):
        order = hosts(run_route("example.test", ZoneResolver(EQUALS), rng=random.Random(seed)))
        assert order[0] == "first.test" and order[-1] == "z"
        seen.add(tuple(order[1:4]))
    assert len(seen) == 6


# -- bounds ------------------------------------------------------------------------------------


def many_mx(count: int, resolving: Sequence[int] = ()) -> Records:
    """``count`` MX hosts mx00, mx01, ... of example.test; those in ``resolving`` have an A."""
    records: dict[str, Mapping[str, Sequence[object]]] = {
        "example.test": {"MX": [(i, f"mx{i:02d}.example.test") for i in range(count)]}
    }
    records.update({f"mx{i:02d}.example.test": {"A": ["192.0.2.1"]} for i in resolving})
    return records


def test_number_of_hosts_is_capped() -> None:
    resolver = ZoneResolver(many_mx(8, resolving=range(8)))
    result = run_route("example.test", resolver, RouteSettings(max_mx_hosts=3))
    assert hosts(result) == ["mx00.example.test", "mx01.example.test", "mx02.example.test"]
    assert len(resolver.asked_for("addresses")) == 3
    assert resolver.max_in_flight <= 3


def test_cap_counts_hosts_with_addresses_only() -> None:
    resolver = ZoneResolver(many_mx(6, resolving=(1, 3, 4, 5)))
    result = run_route("example.test", resolver, RouteSettings(max_mx_hosts=2))
    assert hosts(result) == ["mx01.example.test", "mx03.example.test"]
    assert "mx05.example.test" not in resolver.asked_for("addresses")
    assert resolver.max_in_flight <= 2


def test_lookups_are_concurrent_within_the_bound() -> None:
    resolver = ZoneResolver(many_mx(5, resolving=range(5)))
    run_route("example.test", resolver, RouteSettings(max_mx_hosts=5))
    assert resolver.max_in_flight == 5


def test_a_hostile_zone_cannot_cause_unbounded_lookups() -> None:
    resolver = ZoneResolver(many_mx(100))
    result = run_route("example.test", resolver)
    assert isinstance(result, RouteFailure) and result.outcome is Outcome.PERMANENT
    assert len(resolver.asked_for("addresses")) == MX_LOOKUP_LIMIT


# -- static routes, smarthost, local domains -------------------------------------------------

RELAY_ADDR: Records = {"relay.test": {"A": ["192.0.2.50"]}, "smart.test": {"A": ["192.0.2.60"]}}


@pytest.mark.parametrize(
    ("spec", "target"),
    [
        ("relay.test:2526", Target("relay.test", ("192.0.2.50",), 2526)),
        ("relay.test", Target("relay.test", ("192.0.2.50",), 25)),
        ("[relay.test]:2526", Target("relay.test", ("192.0.2.50",), 2526)),
        ("127.0.0.1:2526", Target("127.0.0.1", ("127.0.0.1",), 2526)),
        ("[127.0.0.1]:2526", Target("127.0.0.1", ("127.0.0.1",), 2526)),
        ("[127.0.0.1]", Target("127.0.0.1", ("127.0.0.1",), 25)),
        ("[::1]:2526", Target("::1", ("::1",), 2526)),
    ],
)
def test_static_route(spec: str, target: Target) -> None:
    resolver = ZoneResolver({**MX2, **RELAY_ADDR})
    settings = RouteSettings(static_routes={"Example.Test": spec})
    assert run_route("example.test.", resolver, settings) == Route((target,), Via.STATIC)
    assert not resolver.asked_for("mx")
    if target.host == "127.0.0.1" or target.host == "::1":
        assert resolver.asked == []


def test_static_route_host_that_does_not_resolve_defers() -> None:
    settings = RouteSettings(static_routes={"example.test": "gone.test:2526"})
    result = run_route("example.test", ZoneResolver(MX2_ADDR2), settings)
    assert isinstance(result, RouteFailure)
    assert (result.reply.code, result.reply.enhanced, result.outcome) == DNS_FAILED


def test_static_route_is_exact_match_only() -> None:
    settings = RouteSettings(static_routes={"example.test": "relay.test"})
    sub: Records = {"sub.example.test": {"MX": [(10, "mx1.example.test")]}, **ADDR2}
    result = run_route("sub.example.test", ZoneResolver(sub), settings)
    assert isinstance(result, Route) and result.via is Via.MX


def test_local_domain_stays_queued_without_any_lookup() -> None:
    resolver = ZoneResolver(MX2_ADDR2)
    settings = RouteSettings(local_domains=frozenset({"Example.Test"}), smarthost="smart.test")
    result = run_route("example.test", resolver, settings)
    assert isinstance(result, RouteFailure)
    assert result.local is True and result.outcome is Outcome.TRANSIENT
    assert (result.reply.code, result.reply.enhanced) == (451, "4.3.0")
    assert resolver.asked == []


def test_local_domain_follows_its_static_route() -> None:
    settings = RouteSettings(
        local_domains=frozenset({"example.test"}), static_routes={"example.test": "127.0.0.1:2526"}
    )
    result = run_route("example.test", ZoneResolver(), settings)
    assert result == Route((Target("127.0.0.1", ("127.0.0.1",), 2526),), Via.STATIC)


def test_smarthost_takes_all_mail_without_a_static_route() -> None:
    resolver = ZoneResolver({**MX2_ADDR2, **RELAY_ADDR}, secure=["smart.test"])
    settings = RouteSettings(
        smarthost="smart.test:587", static_routes={"other.test": "relay.test:2526"}
    )
    result = run_route("example.test", resolver, settings)
    target = Target("smart.test", ("192.0.2.60",), 587, secure=True)
    assert result == Route((target,), Via.SMARTHOST, True)
    assert Asked("mx", "example.test") not in resolver.asked
    other = run_route("other.test", resolver, settings)
    assert isinstance(other, Route) and other.via is Via.STATIC


def test_smarthost_that_fails_to_resolve_defers() -> None:
    settings = RouteSettings(smarthost="smart.test")
    result = run_route("example.test", ZoneResolver(timeout=["smart.test"]), settings)
    assert isinstance(result, RouteFailure)
    assert (result.reply.code, result.reply.enhanced, result.outcome) == DNS_FAILED


# -- settings (the relay syntax itself: test_dns_names.py) ---------------------------------


def test_settings_are_validated_and_normalized() -> None:
    with pytest.raises(ValueError, match=r"example\.test"):
        RouteSettings(static_routes={"example.test": "relay.test:99999"})
    with pytest.raises(ValueError):
        RouteSettings(smarthost="relay.test:")
    with pytest.raises(ValueError):
        RouteSettings(max_mx_hosts=0)
    with pytest.raises(ValueError):
        RouteSettings(smtp_port=0)
    settings = RouteSettings(
        static_routes={"Example.Test.": "relay.test"}, local_domains=frozenset({"Local.Test."})
    )
    assert dict(settings.static_routes) == {"example.test": "relay.test"}
    assert settings.local_domains == frozenset({"local.test"})
