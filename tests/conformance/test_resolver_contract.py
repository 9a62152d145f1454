"""The ``Resolver`` contract (src/sealpost/dns/resolver.py), run against every implementation
given the same zone data: the shared fake (tests/fakes/resolver.py ``ZoneResolver``) and
``DnspythonResolver`` asking the real test DNS server on 127.0.0.1
(tests/fixtures/dns_server.py). When they disagree, the fake is wrong unless the real one
breaks the documented contract.

Contract points: NXDOMAIN (no such name, empty non-terminals exist) vs NODATA (no records of
the type) vs transient kinds (SERVFAIL, TIMEOUT); MX hosts lower case without the trailing
dot, a null MX (RFC 7505) as host ""; addresses IPv4 first, then IPv6, an error only when
neither family has records (a transient failure before NODATA); TXT character-strings
joined per record; TLSA fields; each record once; ``secure`` only for answers a validating
resolver marked with the AD bit (RFC 4035 section 3.2.3), never from a non-validating
server; names compared without case or trailing dot, U-labels asked as A-labels, text that
is no DNS name NXDOMAIN; no caching.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import pytest

from sealpost.dns.dnspython_resolver import DnspythonResolver
from sealpost.dns.resolver import DnsError, DnsErrorKind, MxRecord, Resolver, TlsaRecord
from tests.fakes.resolver import Records, ZoneResolver
from tests.fixtures.dns_server import DnsServer

T = TypeVar("T")

METHODS = ("mx", "addresses", "txt", "tlsa")
# For each method, one record of another type, so that the name exists without an answer.
OTHER_RECORD: dict[str, tuple[str, object]] = {
    "mx": ("TXT", "v=spf1 -all"),
    "addresses": ("TXT", "v=spf1 -all"),
    "txt": ("A", "192.0.2.1"),
    "tlsa": ("A", "192.0.2.1"),
}
# One record each method answers with, and the records expected.
SAMPLE: dict[str, tuple[str, object, tuple[object, ...]]] = {
    "mx": ("MX", (10, "mx.example.test"), (MxRecord(10, "mx.example.test"),)),
    "addresses": ("A", "192.0.2.1", ("192.0.2.1",)),
    "txt": ("TXT", "v=spf1 -all", ("v=spf1 -all",)),
    "tlsa": ("TLSA", (3, 1, 1, bytes(32)), (TlsaRecord(3, 1, 1, bytes(32)),)),
}


class ZoneEditor(Protocol):
    def add(self, name: str, rtype: str, value: object) -> None: ...
    def remove(self, name: str, rtype: str | None = None) -> None: ...
    def set(self, name: str, rtype: str, values: Sequence[object]) -> None: ...


@dataclass
class Served:
    resolver: Resolver
    zone: ZoneEditor


class Serve(Protocol):
    def __call__(
        self,
        records: Records | None = None,
        *,
        servfail: Iterable[str] = (),
        timeout: Iterable[str] = (),
        secure: Iterable[str] = (),
    ) -> Served: ...


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def error_of(coro: Coroutine[Any, Any, object]) -> DnsError:
    with pytest.raises(DnsError) as info:
        run(coro)
    return info.value


def ask(resolver: Resolver, method: str, name: str) -> Coroutine[Any, Any, Any]:
    question: Callable[[str], Coroutine[Any, Any, Any]] = getattr(resolver, method)
    return question(name)


@pytest.fixture(params=["zone_resolver", "dnspython"])
def serve(request: pytest.FixtureRequest) -> Iterator[Serve]:
    """``serve(records, servfail=, timeout=, secure=)``: one implementation over that zone."""
    servers: list[DnsServer] = []

    def fake(
        records: Records | None = None,
        *,
        servfail: Iterable[str] = (),
        timeout: Iterable[str] = (),
        secure: Iterable[str] = (),
    ) -> Served:
        resolver = ZoneResolver(records, servfail=servfail, timeout=timeout, secure=secure)
        return Served(resolver, resolver)

    def real(
        records: Records | None = None,
        *,
        servfail: Iterable[str] = (),
        timeout: Iterable[str] = (),
        secure: Iterable[str] = (),
    ) -> Served:
        timeout = list(timeout)
        server = DnsServer(
            records, servfail=servfail, timeout=timeout, authenticated_data=secure
        ).start()
        servers.append(server)
        # Short waits only where the server is told to stay silent: elsewhere a busy machine
        # must not turn a slow answer into a TIMEOUT.
        waits = {"timeout": 0.2, "lifetime": 0.6} if timeout else {}
        return Served(DnspythonResolver([server.nameserver], **waits), server)

    yield fake if request.param == "zone_resolver" else real
    for server in servers:
        server.stop()
        assert not server.errors, f"the test DNS server failed to answer: {server.errors}"


# -- NXDOMAIN, NODATA and transient failures -------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
def test_nxdomain_and_nodata(serve: Serve, method: str) -> None:
    rtype, value = OTHER_RECORD[method]
    resolver = serve({"name.test": {rtype: [value]}, "leaf.empty.test": {rtype: [value]}}).resolver
    for name, kind in [
        ("name.test", DnsErrorKind.NODATA),  # the name exists, without this type
        ("empty.test", DnsErrorKind.NODATA),  # an empty non-terminal exists (RFC 8020)
        ("missing.test", DnsErrorKind.NXDOMAIN),
        ("sub.name.test", DnsErrorKind.NXDOMAIN),
    ]:
        error = error_of(ask(resolver, method, name))
        assert (name, error.kind) == (name, kind)
        assert not error.kind.transient


@pytest.mark.parametrize("method", METHODS)
def test_text_that_is_no_dns_name_does_not_exist(serve: Serve, method: str) -> None:
    resolver = serve({"example.test": {"TXT": ["x"]}}).resolver
    for name in ("a..test", "x" * 64 + ".test", ".".join(["a" * 63] * 4) + ".test"):
        assert error_of(ask(resolver, method, name)).kind is DnsErrorKind.NXDOMAIN


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("fault", ["servfail", "timeout"])
def test_transient_failures(serve: Serve, method: str, fault: str) -> None:
    rtype, value, _ = SAMPLE[method]
    records: Records = {"flaky.test": {rtype: [value]}}
    resolver = serve(records, **{fault: ["Flaky.TEST."]}).resolver  # type: ignore[arg-type]
    error = error_of(ask(resolver, method, "flaky.test"))
    assert error.kind is DnsErrorKind(fault)
    assert error.kind.transient


@pytest.mark.parametrize("method", ["mx", "txt", "tlsa"])
def test_a_fault_on_one_type_leaves_the_others(serve: Serve, method: str) -> None:
    rtype, value, expected = SAMPLE[method]
    failing = "txt" if method != "txt" else "mx"
    other_type, other_value, _ = SAMPLE[failing]
    resolver = serve(
        {"half.test": {rtype: [value], other_type: [other_value]}},
        servfail=[f"half.test/{other_type}"],
    ).resolver
    assert run(ask(resolver, method, "half.test")).records == expected
    assert error_of(ask(resolver, failing, "half.test")).kind is DnsErrorKind.SERVFAIL


# -- MX ------------------------------------------------------------------------------------


def test_mx_hosts_lower_case_without_the_trailing_dot(serve: Serve) -> None:
    records: Records = {
        "example.test": {"MX": [(10, "MX1.Example.TEST."), (20, "mx2.example.test")]}
    }
    answer = run(serve(records).resolver.mx("example.test"))
    assert isinstance(answer.records, tuple)
    assert sorted(answer.records, key=lambda r: r.preference) == [
        MxRecord(10, "mx1.example.test"),
        MxRecord(20, "mx2.example.test"),
    ]


@pytest.mark.parametrize("host", ["", "."])
def test_null_mx_is_an_empty_host(serve: Serve, host: str) -> None:
    resolver = serve({"nomail.test": {"MX": [(0, host)]}}).resolver
    assert run(resolver.mx("nomail.test")).records == (MxRecord(0, ""),)


# -- addresses -------------------------------------------------------------------------------


def test_addresses_ipv4_first_then_ipv6_in_canonical_text(serve: Serve) -> None:
    resolver = serve(
        {"mx.test": {"AAAA": ["2001:DB8:0:0::1"], "A": ["192.0.2.1", "192.0.2.2"]}}
    ).resolver
    answer = run(resolver.addresses("mx.test"))
    assert isinstance(answer.records, tuple)
    assert sorted(answer.records[:2]) == ["192.0.2.1", "192.0.2.2"]
    assert answer.records[2:] == ("2001:db8::1",)


@pytest.mark.parametrize(("rtype", "value"), [("A", "192.0.2.7"), ("AAAA", "2001:db8::7")])
def test_addresses_of_one_family(serve: Serve, rtype: str, value: str) -> None:
    resolver = serve({"one.test": {rtype: [value]}}).resolver
    assert run(resolver.addresses("one.test")).records == (value,)


@pytest.mark.parametrize("fault", ["servfail", "timeout"])
@pytest.mark.parametrize(("failing", "kept"), [("AAAA", "192.0.2.9"), ("A", "2001:db8::9")])
def test_addresses_keep_the_family_that_answered(
    serve: Serve, fault: str, failing: str, kept: str
) -> None:
    records: Records = {"half.test": {"A": ["192.0.2.9"], "AAAA": ["2001:db8::9"]}}
    resolver = serve(records, **{fault: [f"half.test/{failing}"]}).resolver  # type: ignore[arg-type]
    assert run(resolver.addresses("half.test")).records == (kept,)


@pytest.mark.parametrize("fault", ["servfail", "timeout"])
def test_addresses_transient_failure_wins_over_nodata(serve: Serve, fault: str) -> None:
    records: Records = {"flaky.test": {"TXT": ["x"]}}
    resolver = serve(records, **{fault: ["flaky.test/A"]}).resolver  # type: ignore[arg-type]
    assert error_of(resolver.addresses("flaky.test")).kind is DnsErrorKind(fault)


# -- TXT and TLSA ----------------------------------------------------------------------------


def test_txt_character_strings_are_joined_per_record(serve: Serve) -> None:
    long_value = "v=spf1 " + "include:spf.example.test " * 40 + "-all"  # > 255 octets
    records: Records = {"example.test": {"TXT": [["v=STSv1; ", "id=20240101"], long_value]}}
    answer = run(serve(records).resolver.txt("example.test"))
    assert isinstance(answer.records, tuple)
    assert sorted(answer.records) == sorted(["v=STSv1; id=20240101", long_value])


def test_tlsa_records(serve: Serve) -> None:
    digest = bytes(range(32))
    records: Records = {"_25._tcp.mx.test": {"TLSA": [(3, 1, 1, digest), (2, 0, 1, "ab" * 32)]}}
    answer = run(serve(records).resolver.tlsa("_25._tcp.mx.test"))
    assert sorted(answer.records, key=lambda r: r.usage) == [
        TlsaRecord(2, 0, 1, b"\xab" * 32),
        TlsaRecord(3, 1, 1, digest),
    ]


def test_each_record_once(serve: Serve) -> None:
    """An RRset is a set (RFC 2181 section 5): a record written twice is answered once."""
    records: Records = {
        "d.test": {
            "A": ["192.0.2.1"] * 2,
            "TXT": ["x"] * 2,
            "MX": [(10, "a.test"), (10, "A.test.")],
        }
    }
    resolver = serve(records).resolver
    assert run(resolver.addresses("d.test")).records == ("192.0.2.1",)
    assert run(resolver.txt("d.test")).records == ("x",)
    assert run(resolver.mx("d.test")).records == (MxRecord(10, "a.test"),)


# -- names, secure, no caching ---------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
def test_names_are_compared_without_case_or_trailing_dot(serve: Serve, method: str) -> None:
    rtype, value, expected = SAMPLE[method]
    resolver = serve({"Example.TEST.": {rtype: [value]}}).resolver
    for name in ("example.test", "EXAMPLE.test.", "eXample.Test"):
        assert run(ask(resolver, method, name)).records == expected


@pytest.mark.parametrize("method", METHODS)
def test_secure_only_where_a_validating_resolver_said_so(serve: Serve, method: str) -> None:
    rtype, value, _ = SAMPLE[method]
    resolver = serve(
        {"signed.test": {rtype: [value]}, "unsigned.test": {rtype: [value]}},
        secure=["signed.test"],
    ).resolver
    assert run(ask(resolver, method, "signed.test")).secure is True
    assert run(ask(resolver, method, "unsigned.test")).secure is False


def test_a_non_validating_server_never_gives_secure_answers(serve: Serve) -> None:
    records: Records = {name: {t: [v]} for name, (t, v, _) in SAMPLE.items()}
    resolver = serve(records).resolver
    for method in METHODS:
        assert run(ask(resolver, method, method)).secure is False


def test_addresses_are_secure_only_when_every_family_answering_was(serve: Serve) -> None:
    dual = {"A": ["192.0.2.1"], "AAAA": ["2001:db8::1"]}
    records: Records = {"a.test": dual, "aaaa.test": dual, "both.test": dual, "v4.test": dual}
    secure = ["a.test/A", "aaaa.test/AAAA", "both.test", "v4.test/A"]
    resolver = serve(records, secure=secure, servfail=["v4.test/AAAA"]).resolver
    assert run(resolver.addresses("a.test")).secure is False
    assert run(resolver.addresses("aaaa.test")).secure is False
    assert run(resolver.addresses("both.test")).secure is True
    assert run(resolver.addresses("v4.test")).secure is True  # only IPv4 answered


def test_changes_are_seen_at_once(serve: Serve) -> None:
    served = serve()
    resolver, zone = served.resolver, served.zone
    zone.add("_mta-sts.example.test", "TXT", "v=STSv1; id=1")
    assert run(resolver.txt("_mta-sts.example.test")).records == ("v=STSv1; id=1",)
    zone.set("_mta-sts.example.test", "TXT", ["v=STSv1; id=2"])
    assert run(resolver.txt("_mta-sts.example.test")).records == ("v=STSv1; id=2",)
    zone.remove("_mta-sts.example.test", "TXT")
    assert error_of(resolver.txt("_mta-sts.example.test")).kind is DnsErrorKind.NXDOMAIN


@pytest.mark.parametrize("name", ["bücher.test", "BÜCHER.test.", "xn--bcher-kva.test"])
def test_u_labels_are_asked_as_a_labels(serve: Serve, name: str) -> None:
    """Mail domains may be U-labels (RFC 6531); the DNS holds their IDNA 2008 A-labels."""
    resolver = serve({"xn--bcher-kva.test": {"MX": [(10, "mx.xn--bcher-kva.test")]}}).resolver
    assert run(resolver.mx(name)).records == (MxRecord(10, "mx.xn--bcher-kva.test"),)
