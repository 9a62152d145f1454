"""DANE (RFC 7672) through a real DNSSEC chain: dnspython-signed zones, NSD, unbound.

The server's only resolver is Debian's unbound, validating with the test zone's trust
anchor (``tests/fixtures/dnssec_chain.py``); ``[dns] dnssec = true``, so the default level
is ``dane``. Each case delivers to a real SMTP sink whose self-signed, expired certificate
for another name can only pass through its ``3 1 1`` record:

- ``good.dane.example``: signed MX, A and matching TLSA -> delivered, DANE-verified;
- ``ta.dane.example``: a ``2 0 1`` record for the root of the trustme chain the sink sends
  -> delivered through DANE-TA; ``tanh.dane.example`` the same with a leaf naming only the
  next-hop domain (RFC 7672 section 3.2.3);
- ``bad.dane.example``: signed, TLSA does not match -> deferred ``tlsa-invalid``;
- ``bogus.dane.example``: the TLSA RRset was changed after signing (to the *matching*
  digest), unbound answers SERVFAIL -> deferred, never delivered, never downgraded;
- ``plain.example``: an unsigned zone (insecure) -> ``may``; its mismatching TLSA is ignored;
- CNAME expansion (RFC 7672 section 2.2.2): ``cn1`` (secure chain, TLSA at the expanded
  name first, a mismatching one at the original name ignored), ``cn2`` (secure chain, no
  TLSA at the expanded name: the original name's), ``cn3`` (a secure alias of a host in the
  unsigned zone: DANE at the original name only), ``cn4`` (an alias in the unsigned zone:
  no DANE), ``cn5`` (bogus TLSA at the expanded name: deferred, the original name's matching
  records are not a way around it).
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import dns.flags
import dns.rcode
import pytest

from tests.fixtures.dnssec_chain import DnssecChain, ZoneSpec
from tests.integration.delivery_rig import Rig
from tests.integration.test_delivery_dane import odd_certificate, ta_chain, tlsa_data
from tests.interop.conftest import require_binary

pytestmark = pytest.mark.interop

ZEROS = "00" * 32
# The start-up check's probes in the test zones: signed, and tampered after signing.
PROBES = {"dnssec_probe_secure": "dane.example SOA", "dnssec_probe_bogus": "broken.dane.example A"}


@pytest.fixture(scope="module")
def sink_cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return odd_certificate(tmp_path_factory.mktemp("sink"))


@pytest.fixture(scope="module")
def ta_cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[tuple[Path, Path], bytes]:
    """A trustme chain (leaf, intermediate, root) for mx.ta.dane.example, and the root."""
    return ta_chain(tmp_path_factory.mktemp("ta"), "mx.ta.dane.example")


@pytest.fixture(scope="module")
def nexthop_cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[tuple[Path, Path], bytes]:
    """A trustme chain whose leaf names only the next-hop domain tanh.dane.example."""
    return ta_chain(tmp_path_factory.mktemp("tanh"), "tanh.dane.example")


def dane_zones(
    sink_cert: tuple[Path, Path], ta_root: bytes, nexthop_root: bytes = b""
) -> list[ZoneSpec]:
    digest = tlsa_data(sink_cert[0], 1, 1).hex()
    root_digest = hashlib.sha256(ta_root).hexdigest()
    nexthop_digest = hashlib.sha256(nexthop_root).hexdigest()
    signed: list[str] = []
    for label, tlsa in (
        ("good", f"3 1 1 {digest}"),
        ("bad", f"3 1 1 {ZEROS}"),
        ("bogus", f"3 1 1 {ZEROS}"),
        ("ta", f"2 0 1 {root_digest}"),
        ("tanh", f"2 0 1 {nexthop_digest}"),
    ):
        signed += [
            f"{label} 300 IN MX 10 mx.{label}.dane.example.",
            f"mx.{label} 300 IN A 127.0.0.1",
            f"_25._tcp.mx.{label} 300 IN TLSA {tlsa}",
        ]
    signed += [
        "cn1 300 IN MX 10 mx.cn1.dane.example.",
        "mx.cn1 300 IN CNAME real.cn1.dane.example.",
        "real.cn1 300 IN A 127.0.0.1",
        f"_25._tcp.real.cn1 300 IN TLSA 3 1 1 {digest}",
        f"_25._tcp.mx.cn1 300 IN TLSA 3 1 1 {ZEROS}",
        "cn2 300 IN MX 10 mx.cn2.dane.example.",
        "mx.cn2 300 IN CNAME real.cn2.dane.example.",
        "real.cn2 300 IN A 127.0.0.1",
        f"_25._tcp.mx.cn2 300 IN TLSA 3 1 1 {digest}",
        "cn3 300 IN MX 10 mx.cn3.dane.example.",
        "mx.cn3 300 IN CNAME mx.plain.example.",
        f"_25._tcp.mx.cn3 300 IN TLSA 3 1 1 {digest}",
        "cn4 300 IN MX 10 alias.plain.example.",
        "cn5 300 IN MX 10 mx.cn5.dane.example.",
        "mx.cn5 300 IN CNAME real.cn5.dane.example.",
        "real.cn5 300 IN A 127.0.0.1",
        f"_25._tcp.real.cn5 300 IN TLSA 3 1 1 {ZEROS}",
        f"_25._tcp.mx.cn5 300 IN TLSA 3 1 1 {digest}",
    ]
    signed.append("broken 300 IN A 127.0.0.1")  # bogus after tampering: the start-up probe
    return [
        ZoneSpec(
            "dane.example",
            tuple(signed),
            tampered={
                ("_25._tcp.mx.bogus", "TLSA"): f"3 1 1 {digest}",
                ("_25._tcp.real.cn5", "TLSA"): f"3 1 1 {digest}",
                ("broken", "A"): "127.0.0.2",
            },
        ),
        ZoneSpec(
            "plain.example",
            (
                "@ 300 IN MX 10 mx.plain.example.",
                "mx 300 IN A 127.0.0.1",
                f"_25._tcp.mx 300 IN TLSA 3 1 1 {ZEROS}",
                "alias 300 IN CNAME mx.good.dane.example.",
            ),
            signed=False,
        ),
    ]


@pytest.fixture(scope="module")
def dnssec_chain(
    tmp_path_factory: pytest.TempPathFactory, sink_cert: tuple[Path, Path], ta_cert, nexthop_cert
) -> Iterator[DnssecChain]:
    nsd = require_binary("nsd")
    unbound = require_binary("unbound")
    zones = dane_zones(sink_cert, ta_cert[1], nexthop_cert[1])
    chain = DnssecChain.start(tmp_path_factory.mktemp("dnssec"), zones, nsd, unbound)
    yield chain
    chain.stop()


def chain_rig(start_server: Callable, chain: DnssecChain, sink_port: int, **dns: object) -> Rig:
    delivery = {
        "enabled": True,
        "smtp_port": sink_port,
        "poll_interval": 0.1,
        "minimal_backoff": 0.3,
        "maximal_backoff": 0.3,
        "connect_timeout": 5,
        "command_timeout": 5,
        "data_timeout": 5,
        "tls_handshake_timeout": 5,
    }
    tables = {
        "dns": {"nameservers": [chain.resolver], "timeout": 3, "dnssec": True, **PROBES, **dns},
        "delivery": delivery,
        "mta_sts": {"https_port": 9},
    }
    return Rig(start_server(server={"local_domains": ["sealpost.test"]}, tables=tables))


def test_the_chain_validates_signed_rejects_bogus_and_leaves_unsigned_insecure(dnssec_chain):
    """The fixture itself: AD for signed data, SERVFAIL for tampered, no AD for unsigned."""
    good = dnssec_chain.query("_25._tcp.mx.good.dane.example", "TLSA")
    assert good.rcode() == dns.rcode.NOERROR and good.flags & dns.flags.AD
    bogus = dnssec_chain.query("_25._tcp.mx.bogus.dane.example", "TLSA")
    assert bogus.rcode() == dns.rcode.SERVFAIL
    plain = dnssec_chain.query("mx.plain.example", "A")
    assert plain.rcode() == dns.rcode.NOERROR and not plain.flags & dns.flags.AD


def test_secure_tlsa_match_delivers_dane_verified(start_server, smtp_sink, dnssec_chain, sink_cert):
    """D through unbound: secure MX, A and TLSA; the 3 1 1 record matches -> delivered."""
    sink = smtp_sink(cert=sink_cert)
    rig = chain_rig(start_server, dnssec_chain, sink.port)
    rig.submit(["bob@good.dane.example"])
    [event] = rig.wait_events("delivery")
    tls = event.fields["tls"]
    assert tls["level_required"] == "dane" and tls["policy_source"] == "dane"
    assert tls["verified"] is True
    assert tls["dane"]["matched"] == "3 1 1" and tls["dane"]["secure"] is True
    [message] = sink.messages
    assert message.tls and message.sni == "mx.good.dane.example"


def test_secure_dane_ta_delivers_through_the_chain(start_server, smtp_sink, dnssec_chain, ta_cert):
    """D2 through unbound: a secure 2 0 1 record for the root the server sends; the chain
    leads to it and the leaf names the MX host -> delivered, DANE-verified."""
    sink = smtp_sink(cert=ta_cert[0])
    rig = chain_rig(start_server, dnssec_chain, sink.port)
    rig.submit(["bob@ta.dane.example"])
    [event] = rig.wait_events("delivery")
    tls = event.fields["tls"]
    assert tls["policy_source"] == "dane" and tls["verified"] is True
    assert tls["dane"]["matched"] == "2 0 1" and tls["dane"]["secure"] is True
    assert sink.messages[0].sni == "mx.ta.dane.example"


def test_dane_ta_leaf_naming_the_next_hop_domain_delivers(
    start_server, smtp_sink, dnssec_chain, nexthop_cert
):
    """D2, RFC 7672 section 3.2.3, through unbound: the leaf names only the recipient domain
    (the next-hop domain), not the MX host: a reference identifier all the same."""
    sink = smtp_sink(cert=nexthop_cert[0])
    rig = chain_rig(start_server, dnssec_chain, sink.port)
    rig.submit(["bob@tanh.dane.example"])
    [event] = rig.wait_events("delivery")
    tls = event.fields["tls"]
    assert tls["verified"] is True and tls["dane"]["matched"] == "2 0 1"
    assert sink.messages[0].sni == "mx.tanh.dane.example"


def test_secure_tlsa_mismatch_defers_tlsa_invalid(start_server, smtp_sink, dnssec_chain, sink_cert):
    """D through unbound: a secure TLSA RRset that does not match defers, tlsa-invalid."""
    sink = smtp_sink(cert=sink_cert)
    rig = chain_rig(start_server, dnssec_chain, sink.port)
    rig.submit(["bob@bad.dane.example"])
    [event] = rig.wait_events("delay")
    assert event.fields["tlsrpt_failures"] == ["tlsa-invalid"]
    assert "4.7.5" in event.fields["raw_reason"]
    assert event.fields["tls"]["dane"]["secure"] is True
    assert sink.messages == []


def test_bogus_tlsa_defers_and_never_downgrades(start_server, smtp_sink, dnssec_chain, sink_cert):
    """D through unbound: the TLSA RRset fails validation (its data even matches the
    certificate): SERVFAIL, the host is not used, nothing is delivered, not even over TLS."""
    sink = smtp_sink(cert=sink_cert)
    rig = chain_rig(start_server, dnssec_chain, sink.port)
    rig.submit(["bob@bogus.dane.example"])
    [event] = rig.wait_events("delay")
    assert "TLSA lookup for mx.bogus.dane.example failed" in event.fields["raw_reason"]
    assert event.fields["tlsrpt_failures"] == ["dnssec-invalid"]
    assert sink.messages == [] and sink.sessions == []


def test_insecure_zone_behaves_as_may(start_server, smtp_sink, dnssec_chain, sink_cert):
    """D through unbound: an unsigned zone is insecure: no DANE (its mismatching TLSA is
    ignored), the default ``dane`` acts as ``may``: delivered over unverified TLS."""
    sink = smtp_sink(cert=sink_cert)
    rig = chain_rig(start_server, dnssec_chain, sink.port)
    rig.submit(["bob@plain.example"])
    [event] = rig.wait_events("delivery")
    tls = event.fields["tls"]
    assert tls["level_required"] == "may" and tls["dane"] is None
    assert tls["verified"] is False
    [message] = sink.messages
    assert message.tls


@pytest.mark.parametrize(
    "domain, base",
    [
        ("cn1.dane.example", "real.cn1.dane.example"),
        ("cn2.dane.example", "mx.cn2.dane.example"),
        ("cn3.dane.example", "mx.cn3.dane.example"),
    ],
    ids=["expanded-first", "original-when-expanded-has-none", "secure-alias-insecure-target"],
)
def test_cname_mx_host_uses_the_tlsa_base_domain_of_rfc7672(
    start_server, smtp_sink, dnssec_chain, sink_cert, domain, base
):
    """RFC 7672 section 2.2.2 through unbound: an MX host that is a CNAME. A chain secure end
    to end looks up TLSA at the expanded name first (cn1: its match wins over the original
    name's mismatch), then at the original name (cn2); a secure alias of a host in an
    unsigned zone is DANE at the original name only (cn3). The TLSA base domain is the SNI
    (section 8.1) and the event names where the records were."""
    sink = smtp_sink(cert=sink_cert)
    rig = chain_rig(start_server, dnssec_chain, sink.port)
    rig.submit([f"bob@{domain}"])
    [event] = rig.wait_events("delivery")
    tls = event.fields["tls"]
    assert tls["policy_source"] == "dane" and tls["verified"] is True
    assert tls["dane"]["matched"] == "3 1 1" and tls["dane"]["tlsa_name"] == f"_25._tcp.{base}"
    assert sink.messages[0].sni == base


def test_cname_in_an_unsigned_zone_is_no_dane(start_server, smtp_sink, dnssec_chain, sink_cert):
    """RFC 7672 section 2.2.2: an MX host whose first CNAME link is insecure (an alias in the
    unsigned zone, even of a signed host with matching TLSA) has no DANE: ``may``."""
    sink = smtp_sink(cert=sink_cert)
    rig = chain_rig(start_server, dnssec_chain, sink.port)
    rig.submit(["bob@cn4.dane.example"])
    [event] = rig.wait_events("delivery")
    tls = event.fields["tls"]
    assert tls["level_required"] == "may" and tls["dane"] is None


def test_cname_bogus_tlsa_at_the_expanded_name_stops(
    start_server, smtp_sink, dnssec_chain, sink_cert
):
    """A TLSA lookup that fails at the expanded name stops there (the host is not used,
    ``dnssec-invalid``), as Postfix does: the original name's matching records are never
    asked, and nothing is sent."""
    sink = smtp_sink(cert=sink_cert)
    rig = chain_rig(start_server, dnssec_chain, sink.port)
    rig.submit(["bob@cn5.dane.example"])
    event = rig.wait_events("delay")[0]  # retries may add more
    assert event.fields["tlsrpt_failures"] == ["dnssec-invalid"]
    assert "_25._tcp.real.cn5.dane.example" in event.fields["raw_reason"]
    assert sink.sessions == []


def test_startup_check_passes_with_the_validating_resolver(start_server, dnssec_chain, caplog):
    """Issue 14 start-up check: unbound answers the signed probe with AD and the tampered
    one with SERVFAIL, so the server starts and says so."""
    with caplog.at_level(logging.INFO, logger="sealpost"):
        rig = chain_rig(start_server, dnssec_chain, 9)
    assert rig.server.app is not None
    assert any(
        "DNSSEC: " + dnssec_chain.resolver + " validates" in r.getMessage() for r in caplog.records
    )


@pytest.mark.parametrize(
    "probe, expected",
    [
        ({"dnssec_probe_secure": "plain.example SOA"}, "plain.example SOA without the AD bit"),
        ({"dnssec_probe_bogus": "mx.good.dane.example A"}, "bogus name mx.good.dane.example A"),
    ],
)
def test_startup_check_refuses_insecure_or_valid_probes(
    start_server, dnssec_chain, probe, expected
):
    """The same real resolver fails the check when the signed probe is in an unsigned zone
    (no AD) or the "bogus" probe validates: refused, naming the probe."""
    with pytest.raises(RuntimeError, match=re.escape(expected)):
        chain_rig(start_server, dnssec_chain, 9, **probe)
