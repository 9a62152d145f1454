"""dns.mx: how a domain's MX answer is read (RFC 5321 section 5.1, RFC 7505), a golden
table over the shared in-memory resolver, and the preference order with and without a
random source. Delivery (test_route.py) and tls-check both read MX answers through it."""

from __future__ import annotations

import asyncio
import random

import pytest

from sealpost.dns.mx import MxHosts, by_preference, lookup_mx
from sealpost.dns.resolver import Answer, DnsError, DnsErrorKind, MxRecord
from tests.fakes.resolver import Records, ZoneResolver

D = "example.test"

GOLDEN: list[tuple[str, Records, MxHosts]] = [
    (
        "two MX, listed out of order",
        {D: {"MX": [(20, "mx2.example.test"), (10, "MX1.Example.Test.")]}},
        MxHosts((MxRecord(10, "mx1.example.test"), MxRecord(20, "mx2.example.test"))),
    ),
    ("no MX records: implicit MX", {D: {"A": ["192.0.2.1"]}}, MxHosts(implicit=True)),
    ("null MX", {D: {"MX": [(0, ".")]}}, MxHosts((MxRecord(0, ""),))),
    (
        "a null MX among others is not a null MX",
        {D: {"MX": [(0, "."), (10, "mx.example.test")]}},
        MxHosts((MxRecord(0, ""), MxRecord(10, "mx.example.test"))),
    ),
]


@pytest.mark.parametrize(("case", "zone", "expected"), GOLDEN, ids=[g[0] for g in GOLDEN])
def test_golden(case: str, zone: Records, expected: MxHosts) -> None:
    found = asyncio.run(lookup_mx(D, ZoneResolver(zone)))
    assert found == expected
    assert found.null is (case == "null MX")


def test_secure_flag_is_the_answers() -> None:
    zone: Records = {D: {"MX": [(10, "mx.example.test")]}}
    assert asyncio.run(lookup_mx(D, ZoneResolver(zone, secure=[D]))).secure
    assert not asyncio.run(lookup_mx(D, ZoneResolver(zone))).secure


@pytest.mark.parametrize(
    ("resolver", "kind"),
    [
        (ZoneResolver({}), DnsErrorKind.NXDOMAIN),
        (ZoneResolver({D: {"MX": [(10, "mx.example.test")]}}, servfail=[D]), DnsErrorKind.SERVFAIL),
        (ZoneResolver({D: {"MX": [(10, "mx.example.test")]}}, timeout=[D]), DnsErrorKind.TIMEOUT),
    ],
)
def test_other_failures_are_raised(resolver: ZoneResolver, kind: DnsErrorKind) -> None:
    with pytest.raises(DnsError) as caught:
        asyncio.run(lookup_mx(D, resolver))
    assert caught.value.kind is kind


def test_an_empty_answer_is_an_implicit_mx() -> None:
    class Empty:
        async def mx(self, domain: str) -> Answer[MxRecord]:
            return Answer((), secure=True)

    assert asyncio.run(lookup_mx(D, Empty())) == MxHosts(implicit=True)  # type: ignore[arg-type]


RECORDS = (
    MxRecord(10, "b.test"),
    MxRecord(10, "a.test"),
    MxRecord(5, "c.test"),
    MxRecord(20, "a.test"),  # listed twice: kept once, at its best preference
)


def test_by_preference_without_randomness_is_name_order() -> None:
    assert by_preference(RECORDS, None) == [
        MxRecord(5, "c.test"),
        MxRecord(10, "a.test"),
        MxRecord(10, "b.test"),
    ]


def test_by_preference_shuffles_only_within_a_preference() -> None:
    seen = set()
    for seed in range(40):
        order = by_preference(RECORDS, random.Random(seed))
        assert order[0] == MxRecord(5, "c.test")
        seen.add(tuple(r.host for r in order[1:]))
    assert seen == {("a.test", "b.test"), ("b.test", "a.test")}
