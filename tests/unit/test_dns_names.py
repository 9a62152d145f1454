"""dns.names: the ``host[:port]`` syntax of static routes, the smarthost and tls-check
targets, and the error text each bad spec gets."""

from __future__ import annotations

import pytest

from sealpost.dns.names import HostSpec, address_literal, normalize_domain, parse_host_spec


@pytest.mark.parametrize(
    ("spec", "relay"),
    [
        ("relay.test", HostSpec("relay.test", None, False)),
        ("Relay.Test.:25", HostSpec("relay.test", 25, False)),
        ("[Relay.Test]:2525", HostSpec("relay.test", 2525, False)),
        ("192.0.2.1", HostSpec("192.0.2.1", None, True)),
        ("192.0.2.1:2526", HostSpec("192.0.2.1", 2526, True)),
        ("[192.0.2.1]:2526", HostSpec("192.0.2.1", 2526, True)),
        ("[IPv6:2001:db8::1]:25", HostSpec("2001:db8::1", 25, True)),
        ("2001:db8::1", HostSpec("2001:db8::1", None, True)),
        ("[::1]", HostSpec("::1", None, True)),
        ("smtp_relay.test", HostSpec("smtp_relay.test", None, False)),
    ],
)
def test_relay_syntax(spec: str, relay: HostSpec) -> None:
    assert parse_host_spec(spec) == relay


@pytest.mark.parametrize(
    "spec",
    [
        "",
        ":25",
        "relay.test:",
        "relay.test:0",
        "relay.test:65536",
        "relay.test:x",
        "[::1",
        "[::1]25",
        "[::1]:",
        "a..test",
        "bad host.test",
        "a:b:c",
        "relay.test:²",
        "rélay.test",
        "x" * 64 + ".test",
    ],
)
def test_bad_relay_syntax(spec: str) -> None:
    with pytest.raises(ValueError):
        parse_host_spec(spec)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("relay.test:", "relay 'relay.test:': empty port"),
        ("relay.test:0", "relay 'relay.test:0': port must be 1-65535"),
        ("[::1", "relay '[::1': expected [host] or [host]:port"),
        ("bad host.test", "relay 'bad host.test': 'bad host.test' is not a host name or IP"),
    ],
)
def test_errors_name_the_spec(spec: str, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_host_spec(spec)
    assert str(caught.value).startswith(message)


def test_names_and_literals() -> None:
    assert normalize_domain(" Example.TEST. ") == "example.test"
    assert address_literal("[2001:DB8::1]") == "2001:db8::1"
    assert address_literal("192.0.2.1") == "192.0.2.1"
    assert address_literal("mx.example.test") is None
