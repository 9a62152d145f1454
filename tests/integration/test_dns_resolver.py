"""DnspythonResolver against the real test DNS server on 127.0.0.1 (UDP and TCP): every
record type, every fault, the AD bit, truncation to TCP; route() over real DNS."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Coroutine
from typing import Any, TypeVar

import dns.asyncquery
import dns.flags
import dns.message
import pytest

from sealpost.delivery.route import Route, RouteFailure, RouteSettings, Via, route
from sealpost.delivery.types import Outcome, Target
from sealpost.dns.dnspython_resolver import DnspythonResolver, parse_nameserver
from sealpost.dns.resolver import DnsError, DnsErrorKind, MxRecord, TlsaRecord
from tests.fixtures.dns_server import DnsServer, dns_server_fixture  # noqa: F401

T = TypeVar("T")

SHORT = {"timeout": 0.2, "lifetime": 0.6}  # bounded waits for the "never answers" fault


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def resolver_for(server: DnsServer, **kwargs: float) -> DnspythonResolver:
    return DnspythonResolver([server.nameserver], **kwargs)


def error_of(coro: Coroutine[Any, Any, object]) -> DnsError:
    with pytest.raises(DnsError) as info:
        run(coro)
    return info.value


# -- nameserver strings ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:5353", ("127.0.0.1", 5353)),
        ("127.0.0.1", ("127.0.0.1", 53)),
        ("[::1]:5353", ("::1", 5353)),
        ("[::1]", ("::1", 53)),
        ("::1", ("::1", 53)),
        (" 10.0.0.1:53 ", ("10.0.0.1", 53)),
    ],
)
def test_nameserver_strings(text: str, expected: tuple[str, int]) -> None:
    assert parse_nameserver(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "ns.example.test",
        "127.0.0.1:",
        "127.0.0.1:0",
        "127.0.0.1:70000",
        "[::1",
        "[::1]x",
        "127.0.0.1:²",
    ],
)
def test_bad_nameserver_strings(text: str) -> None:
    with pytest.raises(ValueError):
        parse_nameserver(text)


def test_no_nameservers_means_the_system_resolver() -> None:
    if not os.path.exists("/etc/resolv.conf"):
        pytest.skip("no /etc/resolv.conf on this machine")
    assert DnspythonResolver([]).nameservers  # configured, not queried (no internet in tests)


# -- record types ----------------------------------------------------------------------------


def test_mx_hosts_lower_case_without_trailing_dot(dns_server: DnsServer) -> None:
    dns_server.set("example.test", "MX", [(10, "MX1.Example.TEST."), (20, "mx2.example.test")])
    answer = run(resolver_for(dns_server).mx("EXAMPLE.test."))
    assert sorted(answer.records, key=lambda r: r.preference) == [
        MxRecord(10, "mx1.example.test"),
        MxRecord(20, "mx2.example.test"),
    ]
    assert answer.secure is False


def test_null_mx_is_an_empty_host(dns_server: DnsServer) -> None:
    dns_server.add("nomail.test", "MX", (0, "."))
    assert run(resolver_for(dns_server).mx("nomail.test")).records == (MxRecord(0, ""),)


def test_addresses_ipv4_first(dns_server: DnsServer) -> None:
    dns_server.set("mx.test", "AAAA", ["2001:db8::1"])
    dns_server.set("mx.test", "A", ["192.0.2.1", "192.0.2.2"])
    answer = run(resolver_for(dns_server).addresses("mx.test"))
    assert answer.records[:2] in (("192.0.2.1", "192.0.2.2"), ("192.0.2.2", "192.0.2.1"))
    assert answer.records[2:] == ("2001:db8::1",)
    assert {q.rtype for q in dns_server.queried("mx.test")} == {"A", "AAAA"}


@pytest.mark.parametrize("rtype", ["A", "AAAA"])
def test_addresses_of_one_family(dns_server: DnsServer, rtype: str) -> None:
    value = "192.0.2.7" if rtype == "A" else "2001:db8::7"
    dns_server.add("one.test", rtype, value)
    assert run(resolver_for(dns_server).addresses("one.test")).records == (value,)


def test_addresses_nodata_only_when_both_are_empty(dns_server: DnsServer) -> None:
    dns_server.add("txtonly.test", "TXT", "hello")
    assert error_of(resolver_for(dns_server).addresses("txtonly.test")).kind is DnsErrorKind.NODATA


def test_addresses_nxdomain(dns_server: DnsServer) -> None:
    assert error_of(resolver_for(dns_server).addresses("gone.test")).kind is DnsErrorKind.NXDOMAIN


@pytest.mark.parametrize("fault", ["servfail", "timeout"])
def test_addresses_keep_the_family_that_answered(dns_server: DnsServer, fault: str) -> None:
    dns_server.add("half.test", "A", "192.0.2.9")
    dns_server.add("half.test", "AAAA", "2001:db8::9")
    getattr(dns_server, fault).add("half.test/AAAA")
    assert run(resolver_for(dns_server, **SHORT).addresses("half.test")).records == ("192.0.2.9",)


def test_addresses_transient_failure_wins_over_nodata(dns_server: DnsServer) -> None:
    dns_server.add("flaky.test", "TXT", "x")
    dns_server.servfail.add("flaky.test/A")
    assert error_of(resolver_for(dns_server).addresses("flaky.test")).kind is DnsErrorKind.SERVFAIL


def test_txt_strings_are_joined_per_record(dns_server: DnsServer) -> None:
    long_value = "v=spf1 " + "include:spf.example.test " * 40 + "-all"  # > 255 octets
    dns_server.set("example.test", "TXT", [["v=STSv1; ", "id=20240101"], long_value])
    answer = run(resolver_for(dns_server).txt("example.test"))
    assert sorted(answer.records) == sorted(["v=STSv1; id=20240101", long_value])


def test_tlsa(dns_server: DnsServer) -> None:
    digest = bytes(range(32))
    dns_server.set("_25._tcp.mx.test", "TLSA", [(3, 1, 1, digest), (2, 0, 1, "ab" * 32)])
    answer = run(resolver_for(dns_server).tlsa("_25._tcp.mx.test"))
    assert sorted(answer.records, key=lambda r: r.usage) == [
        TlsaRecord(2, 0, 1, b"\xab" * 32),
        TlsaRecord(3, 1, 1, digest),
    ]


def test_cname_chains_are_followed(dns_server: DnsServer) -> None:
    dns_server.add("alias.test", "CNAME", "hop.test")
    dns_server.add("hop.test", "CNAME", "real.test")
    dns_server.add("real.test", "A", "192.0.2.3")
    dns_server.add("real.test", "MX", (5, "mx.real.test"))
    resolver = resolver_for(dns_server)
    assert run(resolver.addresses("alias.test")).records == ("192.0.2.3",)
    assert run(resolver.mx("alias.test")).records == (MxRecord(5, "mx.real.test"),)
    dns_server.add("dangling.test", "CNAME", "nowhere.test")
    assert error_of(resolver.addresses("dangling.test")).kind is DnsErrorKind.NXDOMAIN


def test_addresses_name_the_cname_expansion_and_alias_asks_one_link(
    dns_server: DnsServer,
) -> None:
    """DANE's CNAME inputs (RFC 7672 section 2.2.2): an address answer reached through a
    chain names its final owner (``canonical``; "" when the name is no alias), and
    ``alias`` returns the name's own CNAME target, with its own AD bit, unfollowed."""
    dns_server.add("alias.test", "CNAME", "hop.test")
    dns_server.add("hop.test", "CNAME", "real.test")
    dns_server.add("real.test", "A", "192.0.2.3")
    dns_server.authenticated_data.add("alias.test/CNAME")
    resolver = resolver_for(dns_server)
    assert run(resolver.addresses("alias.test")).canonical == "real.test"
    assert run(resolver.addresses("real.test")).canonical == ""
    link = run(resolver.alias("alias.test"))
    assert link.records == ("hop.test",) and link.secure is True
    assert run(resolver.alias("hop.test")).secure is False
    assert error_of(resolver.alias("real.test")).kind is DnsErrorKind.NODATA
    assert error_of(resolver.alias("absent.test")).kind is DnsErrorKind.NXDOMAIN


def test_nodata_and_nxdomain_per_type(dns_server: DnsServer) -> None:
    dns_server.add("a.only.test", "A", "192.0.2.1")
    resolver = resolver_for(dns_server)
    for question in (resolver.mx, resolver.txt, resolver.tlsa):
        assert error_of(question("a.only.test")).kind is DnsErrorKind.NODATA
        assert error_of(question("missing.test")).kind is DnsErrorKind.NXDOMAIN
    assert error_of(resolver.mx("only.test")).kind is DnsErrorKind.NODATA  # empty non-terminal


def test_invalid_names_do_not_exist(dns_server: DnsServer) -> None:
    resolver = resolver_for(dns_server)
    for name in ("a..test", "x" * 64 + ".test"):
        assert error_of(resolver.mx(name)).kind is DnsErrorKind.NXDOMAIN
    assert dns_server.queries == []


def test_changes_are_seen_at_once(dns_server: DnsServer) -> None:
    resolver = resolver_for(dns_server)
    dns_server.add("_mta-sts.example.test", "TXT", "v=STSv1; id=1")
    assert run(resolver.txt("_mta-sts.example.test")).records == ("v=STSv1; id=1",)
    dns_server.set("_mta-sts.example.test", "TXT", ["v=STSv1; id=2"])
    assert run(resolver.txt("_mta-sts.example.test")).records == ("v=STSv1; id=2",)
    dns_server.remove("_mta-sts.example.test", "TXT")
    assert error_of(resolver.txt("_mta-sts.example.test")).kind is DnsErrorKind.NXDOMAIN


# -- faults ----------------------------------------------------------------------------------


def test_servfail(dns_server: DnsServer) -> None:
    dns_server.add("broken.test", "MX", (10, "mx.broken.test"))
    dns_server.servfail.add("broken.test")
    error = error_of(resolver_for(dns_server).mx("broken.test"))
    assert error.kind is DnsErrorKind.SERVFAIL
    assert error.kind.transient


def test_timeout_is_bounded_by_the_lifetime(dns_server: DnsServer) -> None:
    dns_server.add("slow.test", "MX", (10, "mx.slow.test"))
    dns_server.timeout.add("slow.test")
    error = error_of(resolver_for(dns_server, **SHORT).mx("slow.test"))
    assert error.kind is DnsErrorKind.TIMEOUT
    assert len(dns_server.queried("slow.test")) >= 2  # retried within the lifetime


def test_nameserver_not_listening_fails_transiently() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    resolver = DnspythonResolver([f"127.0.0.1:{port}"], **SHORT)
    assert error_of(resolver.mx("example.test")).kind.transient


def test_second_nameserver_answers_when_the_first_fails(dns_server: DnsServer) -> None:
    dns_server.add("example.test", "MX", (10, "mx.example.test"))
    with DnsServer(servfail=["example.test"]) as failing:
        resolver = DnspythonResolver([failing.nameserver, dns_server.nameserver])
        assert run(resolver.mx("example.test")).records == (MxRecord(10, "mx.example.test"),)
        assert failing.queried("example.test")


def test_truncated_udp_answer_is_asked_again_over_tcp(dns_server: DnsServer) -> None:
    dns_server.add("big.test", "MX", (10, "mx.big.test"))
    dns_server.truncate.add("big.test")
    answer = run(resolver_for(dns_server).mx("big.test"))
    assert answer.records == (MxRecord(10, "mx.big.test"),)
    assert [q.transport for q in dns_server.queried("big.test", "MX")] == ["udp", "tcp"]


def test_answer_larger_than_the_edns_payload_goes_over_tcp(dns_server: DnsServer) -> None:
    values = [f"record-{i:03d}-" + "x" * 200 for i in range(10)]  # ~2.1 KB > 1232 octets
    dns_server.set("huge.test", "TXT", values)
    answer = run(resolver_for(dns_server).txt("huge.test"))
    assert sorted(answer.records) == values
    assert [q.transport for q in dns_server.queried("huge.test")] == ["udp", "tcp"]


# -- the AD bit ------------------------------------------------------------------------------


def test_authenticated_data_makes_answers_secure(dns_server: DnsServer) -> None:
    dns_server.add("signed.test", "MX", (10, "mx.signed.test"))
    dns_server.add("signed.test", "TXT", "v=spf1 -all")
    dns_server.add("_25._tcp.mx.signed.test", "TLSA", (3, 1, 1, bytes(32)))
    dns_server.add("mx.signed.test", "A", "192.0.2.5")
    dns_server.add("unsigned.test", "MX", (10, "mx.unsigned.test"))
    dns_server.authenticated_data.update(
        {"signed.test", "_25._tcp.mx.signed.test", "mx.signed.test"}
    )
    resolver = resolver_for(dns_server)
    assert run(resolver.mx("signed.test")).secure is True
    assert run(resolver.txt("signed.test")).secure is True
    assert run(resolver.tlsa("_25._tcp.mx.signed.test")).secure is True
    assert run(resolver.addresses("mx.signed.test")).secure is True
    assert run(resolver.mx("unsigned.test")).secure is False


def test_the_server_sets_ad_only_when_asked() -> None:
    """The fixture behaves like a validating resolver (RFC 6840 5.7), so the secure answers
    above prove the resolver asks with DO/AD."""
    with DnsServer({"signed.test": {"A": ["192.0.2.1"]}}, authenticated_data=["signed.test"]) as s:

        async def ask(**kwargs: Any) -> dns.message.Message:
            query = dns.message.make_query("signed.test", "A", **kwargs)
            return await dns.asyncquery.udp(query, s.host, port=s.port, timeout=2.0)

        plain = run(ask())
        assert not plain.flags & dns.flags.AD
        assert run(ask(want_dnssec=True)).flags & dns.flags.AD
        assert run(ask(flags=dns.flags.RD | dns.flags.AD)).flags & dns.flags.AD


# -- route() over real DNS -------------------------------------------------------------------


def test_route_over_real_dns(dns_server: DnsServer) -> None:
    dns_server.set("example.test", "MX", [(20, "mx2.example.test"), (10, "mx1.example.test")])
    dns_server.add("mx1.example.test", "A", "127.0.0.1")
    dns_server.add("mx2.example.test", "A", "127.0.0.2")
    dns_server.authenticated_data.add("example.test")
    result = run(route("example.test", resolver_for(dns_server), RouteSettings(smtp_port=2525)))
    assert result == Route(
        (
            Target("mx1.example.test", ("127.0.0.1",), 2525, 10),
            Target("mx2.example.test", ("127.0.0.2",), 2525, 20),
        ),
        Via.MX,
        secure=True,
    )


def test_route_timeout_is_bounded_and_transient(dns_server: DnsServer) -> None:
    dns_server.timeout.add("slow.test")
    result = run(route("slow.test", resolver_for(dns_server, **SHORT), RouteSettings()))
    assert isinstance(result, RouteFailure)
    assert result.outcome is Outcome.TRANSIENT
    assert (result.reply.code, result.reply.enhanced) == (451, "4.4.3")


def test_route_null_mx_over_real_dns(dns_server: DnsServer) -> None:
    dns_server.add("nomail.test", "MX", (0, ""))
    result = run(route("nomail.test", resolver_for(dns_server), RouteSettings()))
    assert isinstance(result, RouteFailure)
    assert str(result.reply) == "556 5.1.10 Recipient address has null MX"
