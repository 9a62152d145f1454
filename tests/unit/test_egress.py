"""The egress rule (DESIGN.md section 9, issue 10 items 3 and 4) on its own: which addresses
are refused and why, the allow-list, one DNS lookup through the real loopback DNS server, the
SMTP-port rule, the server's own addresses, and the config keys. Nothing here connects
anywhere: every answer is decided before a connection would be made."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from pathlib import Path

import pytest

from sealpost.config.loader import ConfigError, load_config
from sealpost.dns.dnspython_resolver import DnspythonResolver
from sealpost.model.egress import SMTP_PORTS, Cleared, Refused, Rule, Unresolved
from sealpost.net.egress import EgressGuard, special_purpose
from sealpost.net.local_addresses import LocalAddresses
from tests.fixtures.dns_server import DnsServer

REFUSED = [
    ("127.0.0.1", "a loopback address (RFC 1122)"),
    ("127.255.0.9", "a loopback address (RFC 1122)"),
    ("0.0.0.0", "an unspecified or 'this network' address (RFC 1122)"),
    ("10.0.0.1", "a private address (RFC 1918)"),
    ("172.31.255.1", "a private address (RFC 1918)"),
    ("192.168.1.1", "a private address (RFC 1918)"),
    ("100.64.0.1", "a shared carrier-grade NAT address (RFC 6598)"),
    ("169.254.169.254", "a link-local address (RFC 3927)"),
    ("224.0.0.1", "a multicast address (RFC 5771)"),
    ("255.255.255.255", "the limited broadcast address (RFC 919)"),
    ("240.0.0.1", "a reserved address (RFC 1112)"),
    ("192.0.2.7", "a documentation address (RFC 5737)"),
    ("198.18.0.1", "a benchmarking address (RFC 2544)"),
    ("::1", "a loopback address (RFC 4291)"),
    ("::", "the unspecified address (RFC 4291)"),
    ("fe80::1", "a link-local address (RFC 4291)"),
    ("fc00::1", "a unique-local address (RFC 4193)"),
    ("fd12:3456::1", "a unique-local address (RFC 4193)"),
    ("ff02::1", "a multicast address (RFC 4291)"),
    ("2001:db8::1", "a documentation address (RFC 3849)"),
    ("fec0::1", "a deprecated site-local address (RFC 3879)"),
    (
        "::ffff:127.0.0.1",
        "the IPv4-mapped form of 127.0.0.1 (RFC 4291), a loopback address (RFC 1122)",
    ),
    (
        "::ffff:169.254.169.254",
        "the IPv4-mapped form of 169.254.169.254 (RFC 4291), a link-local address (RFC 3927)",
    ),
    (
        "::ffff:10.1.2.3",
        "the IPv4-mapped form of 10.1.2.3 (RFC 4291), a private address (RFC 1918)",
    ),
    (
        "::127.0.0.1",
        "the IPv4-compatible form of 127.0.0.1 (RFC 4291), a loopback address (RFC 1122)",
    ),
    ("::8.8.8.8", "a deprecated IPv4-compatible address (RFC 4291)"),
    ("64:ff9b::a00:1", "the NAT64 form of 10.0.0.1 (RFC 6052), a private address (RFC 1918)"),
    ("2002:7f00:1::1", "the 6to4 form of 127.0.0.1 (RFC 3056), a loopback address (RFC 1122)"),
]
PUBLIC = ["8.8.8.8", "1.1.1.1", "2001:4860:4860::8888", "::ffff:8.8.8.8", "64:ff9b::808:808"]


@pytest.mark.parametrize(("text", "why"), REFUSED)
def test_special_purpose_addresses_are_named(text: str, why: str):
    assert special_purpose(ipaddress.ip_address(text)) == why


@pytest.mark.parametrize("text", PUBLIC)
def test_public_addresses_pass(text: str):
    assert special_purpose(ipaddress.ip_address(text)) is None


def clear(guard: EgressGuard, host: str, **kwargs: object):
    return asyncio.run(guard.clear(host, **kwargs))  # type: ignore[arg-type]


def resolver(dns: DnsServer) -> DnspythonResolver:
    return DnspythonResolver([dns.nameserver], timeout=2, lifetime=4)


def test_default_refuses_each_issue_10_example(dns_server: DnsServer):
    """127.0.0.1, 10.x through DNS, 169.254.169.254, ::1 and ::ffff:127.0.0.1, each a value
    naming the address, its kind and the rule."""
    dns_server.add("internal.test", "A", "10.0.0.1")
    guard = EgressGuard(resolver(dns_server))
    got = {
        h: clear(guard, h) for h in ("127.0.0.1", "169.254.169.254", "[::1]", "::ffff:127.0.0.1")
    }
    got["internal.test"] = clear(guard, "internal.test")
    assert all(isinstance(r, Refused) and r.rule is Rule.PRIVATE_TARGET for r in got.values())
    assert got["127.0.0.1"].message == (
        "127.0.0.1 is a loopback address (RFC 1122) (rule: private-target)"
    )
    assert got["internal.test"].message == (
        "internal.test resolves to 10.0.0.1, a private address (RFC 1918) (rule: private-target)"
    )
    assert "link-local" in got["169.254.169.254"].message
    assert got["[::1]"].address == "::1"
    assert "IPv4-mapped form of 127.0.0.1" in got["::ffff:127.0.0.1"].message


def test_the_allow_list_admits_its_ranges_only(dns_server: DnsServer):
    dns_server.add("hook.test", "A", "127.0.0.2")
    guard = EgressGuard(resolver(dns_server), ["127.0.0.0/8", "fd00::/8"])
    assert clear(guard, "hook.test") == Cleared("hook.test", ("127.0.0.2",), private=True)
    assert clear(guard, "::ffff:127.0.0.1") == Cleared(
        "::ffff:127.0.0.1", ("127.0.0.1",), private=True
    ), "an IPv4-mapped address is connected to as IPv4"
    assert clear(guard, "fd00::5") == Cleared("fd00::5", ("fd00::5",), private=True)
    assert isinstance(clear(guard, "::1"), Refused)
    assert isinstance(clear(guard, "10.0.0.1"), Refused)
    assert clear(guard, "8.8.8.8") == Cleared("8.8.8.8", ("8.8.8.8",), private=False)
    narrow = EgressGuard(resolver(dns_server), ["127.0.0.2/32"])
    assert isinstance(clear(narrow, "127.0.0.1"), Refused)
    assert isinstance(clear(narrow, "hook.test"), Cleared)


def test_one_refused_address_refuses_the_name(dns_server: DnsServer):
    """An attacker cannot hide 127.0.0.1 behind a public address in the same answer."""
    dns_server.add("mixed.test", "A", "8.8.8.8")
    dns_server.add("mixed.test", "AAAA", "::1")
    result = clear(EgressGuard(resolver(dns_server)), "mixed.test")
    assert isinstance(result, Refused) and result.address == "::1"


def test_a_name_is_resolved_exactly_once_and_the_answer_is_what_is_returned(
    dns_server: DnsServer,
):
    dns_server.sequence("rebind.test", "A", [["127.0.0.2"], ["127.0.0.1"]])
    guard = EgressGuard(resolver(dns_server), ["127.0.0.2/32"])
    assert clear(guard, "rebind.test") == Cleared("rebind.test", ("127.0.0.2",), private=True)
    assert len(dns_server.queried("rebind.test", "A")) == 1
    again = clear(guard, "rebind.test")  # the next lookup gets the rebound answer: refused
    assert isinstance(again, Refused) and again.address == "127.0.0.1"
    assert len(dns_server.queried("rebind.test", "A")) == 2


def test_unresolvable_names_are_a_value(dns_server: DnsServer):
    result = clear(EgressGuard(resolver(dns_server)), "nowhere.test")
    assert result == Unresolved("nowhere.test", "nxdomain")


def test_the_port_rule_allows_smtp_ports_or_allowed_ranges(dns_server: DnsServer):
    dns_server.add("public.test", "A", "8.8.8.8")
    guard = EgressGuard(resolver(dns_server), ["127.0.0.0/8"])
    ssh = clear(guard, "public.test", port=22, ports=SMTP_PORTS)
    assert isinstance(ssh, Refused) and ssh.rule is Rule.TARGET_PORT
    assert ssh.message == (
        "public.test: port 22 is not a mail port (25, 465, 587) and the target is not in "
        "[api] allowed_private_targets (rule: target-port)"
    )
    for port in (25, 465, 587):
        assert isinstance(clear(guard, "public.test", port=port, ports=SMTP_PORTS), Cleared)
    assert isinstance(clear(guard, "127.0.0.1", port=22, ports=SMTP_PORTS), Cleared)
    assert isinstance(clear(guard, "public.test", port=22), Cleared), "no ports: no port rule"


def test_this_hosts_own_addresses_are_known():
    local = LocalAddresses()
    assert ipaddress.ip_address("127.0.0.1") in local
    assert ipaddress.ip_address("127.0.0.53") in local  # all of 127/8 is local on Linux
    assert ipaddress.ip_address("192.0.2.1") not in local
    assert ipaddress.ip_address("8.8.8.8") not in local
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:  # a UDP connect sends nothing: it only picks the outgoing interface address
            probe.connect(("192.0.2.1", 9))
        except OSError:
            pytest.skip("no IPv4 route on this machine")
        interface = ipaddress.ip_address(probe.getsockname()[0])
    assert interface in local


def test_an_own_public_address_is_refused_unless_allowed(dns_server: DnsServer):
    """A server with a public address must not reach its own services through it. The real
    test machine has no public interface address, so "own" is given for this one check."""
    own = ipaddress.ip_address("8.8.4.4")
    guard = EgressGuard(resolver(dns_server), own=lambda a: a == own)
    result = clear(guard, "8.8.4.4")
    assert isinstance(result, Refused)
    assert result.message == "8.8.4.4 is an address of this server (rule: private-target)"
    allowed = EgressGuard(resolver(dns_server), ["8.8.4.4/32"], own=lambda a: a == own)
    assert isinstance(clear(allowed, "8.8.4.4"), Cleared)


def _config(tmp_path: Path, api: str) -> Path:
    path = tmp_path / "sealpost.toml"
    path.write_text(f'[server]\nhostname = "mx.example.test"\n\n[api]\n{api}\n')
    return path


def test_config_defaults_and_validation(tmp_path: Path):
    config = load_config(_config(tmp_path, ""))
    assert config.api.allowed_private_targets == []
    assert config.api.tls_check_per_minute == 6
    config = load_config(_config(tmp_path, 'allowed_private_targets = ["127.0.0.0/8", "::1"]'))
    assert config.api.allowed_private_targets == ["127.0.0.0/8", "::1/128"]
    for bad, why in (("127.0.0.1/8", "has host bits set"), ("localhost", "does not appear")):
        with pytest.raises(ConfigError) as caught:
            load_config(_config(tmp_path, f'allowed_private_targets = ["{bad}"]'))
        text = str(caught.value)
        assert "api.allowed_private_targets" in text and "CIDR" in text and why in text
    with pytest.raises(ConfigError):
        load_config(_config(tmp_path, "tls_check_per_minute = 0"))


@pytest.mark.parametrize("host", ["2130706433", "0x7f000001", "127.1", "017700000001"])
def test_numeric_shorthands_are_names_never_addresses(dns_server: DnsServer, host: str):
    """inet_aton would read these as 127.0.0.1; here they are DNS names (which do not exist),
    and nothing ever connects to what a system resolver would make of them."""
    assert clear(EgressGuard(resolver(dns_server)), host) == Unresolved(host, "nxdomain")
