"""DANE (RFC 7672) in outbound delivery, through the whole server (checklist class D).

Every case delivers to a real SMTP sink through the real dnslib DNS server; names in its
``authenticated_data`` set come back with the AD bit, as from a validating resolver, and
``[dns] dnssec = true`` says that resolver is trusted.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.integration.delivery_rig import MX, start_rig, trust_bundle

TLSA_NAME = f"_25._tcp.{MX}"
ENFORCE = "version: STSv1\nmode: enforce\nmx: {mx}\nmax_age: 86400\n"


def odd_certificate(directory: Path) -> tuple[Path, Path]:
    """Self-signed, expired, and for another name: no WebPKI check could pass it."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "wrong.example.org")])
    past = dt.datetime.now(dt.UTC) - dt.timedelta(days=2)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(past - dt.timedelta(days=30))
        .not_valid_after(past)
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("wrong.example.org")]), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    chain, key_file = directory / "odd.pem", directory / "odd.key"
    chain.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return chain, key_file


def tlsa_data(chain: Path, selector: int, mtype: int) -> bytes:
    """The association data of the leaf in ``chain`` (RFC 6698 section 2.1)."""
    cert = x509.load_pem_x509_certificate(chain.read_bytes())
    if selector == 0:
        content = cert.public_bytes(serialization.Encoding.DER)
    else:
        content = cert.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    if mtype == 1:
        return hashlib.sha256(content).digest()
    if mtype == 2:
        return hashlib.sha512(content).digest()
    return content


def dane_rig(start_server, dns_server, sink, *, secure=("example.net", MX, TLSA_NAME), **kw):
    """A rig with trusted DNSSEC (``dnssec = true``) and AD on the ``secure`` names."""
    dns_server.authenticated_data.update(secure)
    dns = {"nameservers": [dns_server.nameserver], "timeout": 2, "dnssec": kw.pop("dnssec", True)}
    dns.update(probes(dns_server))
    return start_rig(start_server, dns_server, sink, ca_file=kw.pop("ca_file", None), dns=dns, **kw)


def probes(dns_server) -> dict[str, str]:
    """Start-up check probes the dnslib server passes: AD on one name, SERVFAIL on another."""
    dns_server.add("signed.probe.test", "A", "127.0.0.1")
    dns_server.authenticated_data.add("signed.probe.test")
    dns_server.servfail.add("bogus.probe.test")
    return {
        "dnssec_probe_secure": "signed.probe.test A",
        "dnssec_probe_bogus": "bogus.probe.test A",
    }


def tlsa_queries(dns_server) -> list:
    return [q for q in dns_server.queries if q.rtype == "TLSA"]


@pytest.mark.parametrize("selector, mtype", [(1, 1), (0, 1), (1, 2), (0, 0)])
def test_dane_ee_match_delivers_despite_name_expiry_and_issuer(
    start_server, dns_server, smtp_sink, tmp_path, selector, mtype
):
    """D: DANE-EE (3 x x) matches the key or the certificate, SHA-256/512 or in full; no
    name, expiry or issuer check. With ``dnssec = true`` the default level is ``dane``.
    SNI is the TLSA base name, the MX host."""
    cert = odd_certificate(tmp_path)
    sink = smtp_sink(cert=cert)
    dns_server.add(TLSA_NAME, "TLSA", (3, selector, mtype, tlsa_data(cert[0], selector, mtype)))
    rig = dane_rig(start_server, dns_server, sink)
    rig.submit(["bob@example.net"])
    [event] = rig.wait_events("delivery")
    tls = event.fields["tls"]
    assert tls["level_required"] == "dane" and tls["policy_source"] == "dane"
    assert tls["verified"] is True and tls["verify_error"] is None
    assert tls["dane"]["matched"] == f"3 {selector} {mtype}" and tls["dane"]["secure"] is True
    assert "tlsrpt_failures" not in event.fields
    [message] = sink.messages
    assert message.tls and message.sni == MX


def test_tlsa_mismatch_defers_even_when_webpki_would_pass(
    start_server, dns_server, smtp_sink, sink_certs, tmp_path
):
    """D: a TLSA mismatch defers with tlsa-invalid; no fallback to WebPKI or plaintext."""
    sink = smtp_sink(cert=sink_certs.good)
    dns_server.add(TLSA_NAME, "TLSA", (3, 1, 1, b"\x00" * 32))
    bundle = trust_bundle(tmp_path, sink_certs.ca_file)
    rig = dane_rig(start_server, dns_server, sink, ca_file=bundle)
    rig.submit(["bob@example.net"])
    [event] = rig.wait_events("delay")
    assert event.fields["tlsrpt_failures"] == ["tlsa-invalid"]
    assert "4.7.5" in event.fields["raw_reason"]
    tls = event.fields["tls"]
    assert tls["policy_source"] == "dane" and tls["verified"] is False
    assert tls["dane"]["matched"] is None and len(tls["dane"]["tlsa"]) == 1
    assert sink.messages == []
    assert all(s.tls_version for s in sink.sessions)  # never a plaintext session


def test_no_starttls_on_a_dane_mx_defers(start_server, dns_server, smtp_sink, tmp_path):
    """D: a DANE MX without STARTTLS defers with starttls-not-supported, never plaintext."""
    sink = smtp_sink()  # no certificate: STARTTLS not offered
    dns_server.add(TLSA_NAME, "TLSA", (3, 1, 1, b"\x01" * 32))
    rig = dane_rig(start_server, dns_server, sink)
    rig.submit(["bob@example.net"])
    [event] = rig.wait_events("delay")
    assert event.fields["tlsrpt_failures"] == ["starttls-not-supported"]
    assert "4.7.4" in event.fields["raw_reason"]
    assert event.fields["tls"]["policy_source"] == "dane"
    assert sink.messages == []


def test_tlsa_lookup_failure_for_a_secure_host_defers(
    start_server, dns_server, smtp_sink, sink_certs
):
    """D: SERVFAIL for the TLSA RRset of a secure host: the host is not used (dnssec-invalid)."""
    sink = smtp_sink(cert=sink_certs.good)
    dns_server.servfail.add(TLSA_NAME)
    rig = dane_rig(start_server, dns_server, sink)
    rig.submit(["bob@example.net"])
    [event] = rig.wait_events("delay")
    assert event.fields["tlsrpt_failures"] == ["dnssec-invalid"]
    assert "TLSA lookup" in event.fields["raw_reason"]
    assert sink.sessions == []


@pytest.mark.parametrize("insecure", ["example.net", MX])
def test_no_tlsa_lookup_without_a_secure_mx_and_addresses(
    start_server, dns_server, smtp_sink, sink_certs, insecure
):
    """D: TLSA is asked only when the MX RRset and the host's addresses are secure; else
    ``dane`` is ``may`` (the matching TLSA record here is never used)."""
    cert = sink_certs.self_signed
    sink = smtp_sink(cert=cert)
    dns_server.add(TLSA_NAME, "TLSA", (3, 1, 1, tlsa_data(cert[0], 1, 1)))
    secure = {"example.net", MX, TLSA_NAME} - {insecure}
    rig = dane_rig(start_server, dns_server, sink, secure=secure)
    rig.submit(["bob@example.net"])
    [event] = rig.wait_events("delivery")
    tls = event.fields["tls"]
    assert tls["level_required"] == "may" and tls["dane"] is None and tls["verified"] is False
    assert tlsa_queries(dns_server) == []


def test_ad_bit_is_not_trusted_without_dnssec(start_server, dns_server, smtp_sink, sink_certs):
    """D: with ``dnssec = false`` the AD bit makes nothing secure: level ``dane`` is ``may``."""
    cert = sink_certs.self_signed
    sink = smtp_sink(cert=cert)
    dns_server.add(TLSA_NAME, "TLSA", (3, 1, 1, tlsa_data(cert[0], 1, 1)))
    rig = dane_rig(start_server, dns_server, sink, dnssec=False, delivery={"default_tls": "dane"})
    rig.submit(["bob@example.net"])
    [event] = rig.wait_events("delivery")
    assert event.fields["tls"]["level_required"] == "may"
    assert tlsa_queries(dns_server) == []


def test_only_unusable_tlsa_records_make_tls_mandatory_unauthenticated(
    start_server, dns_server, smtp_sink, sink_certs
):
    """D: usages 0 and 1 (and DANE-TA with an unknown matching type) are unusable; only
    those -> ``encrypt``."""
    cert = sink_certs.untrusted
    sink = smtp_sink(cert=cert)
    for usage, mtype in ((0, 1), (1, 1), (2, 3)):
        dns_server.add(TLSA_NAME, "TLSA", (usage, 1, mtype, tlsa_data(cert[0], 1, 1)))
    rig = dane_rig(start_server, dns_server, sink)
    rig.submit(["bob@example.net"])
    [event] = rig.wait_events("delivery")
    tls = event.fields["tls"]
    assert tls["level_required"] == "encrypt" and tls["policy_source"] == "dane"
    assert tls["verified"] is False and len(tls["dane"]["tlsa"]) == 3
    assert sink.messages[0].tls


def test_only_unusable_tlsa_records_never_allow_plaintext(start_server, dns_server, smtp_sink):
    sink = smtp_sink()  # no STARTTLS
    dns_server.add(TLSA_NAME, "TLSA", (1, 1, 1, b"\x02" * 32))
    rig = dane_rig(start_server, dns_server, sink)
    rig.submit(["bob@example.net"])
    [event] = rig.wait_events("delay")
    assert event.fields["tlsrpt_failures"] == ["starttls-not-supported"]
    assert sink.messages == []


def test_dane_only_without_tlsa_defers(start_server, dns_server, smtp_sink, sink_certs):
    """``dane-only`` (an operator rule): no secure TLSA records -> dane-required, no session."""
    sink = smtp_sink(cert=sink_certs.good)
    rig = dane_rig(start_server, dns_server, sink, tls_policy={"example.net": "dane-only"})
    rig.submit(["bob@example.net"])
    [event] = rig.wait_events("delay")
    assert event.fields["tlsrpt_failures"] == ["dane-required"]
    assert sink.sessions == []


def test_dane_wins_over_mta_sts(start_server, dns_server, https_server, smtp_sink, tmp_path):
    """D / C6 (RFC 8461 section 2): an MTA-STS enforce policy that does not list the MX (and
    whose WebPKI check would fail) does not override a DANE-authenticated host."""
    cert = odd_certificate(tmp_path)
    sink = smtp_sink(cert=cert)
    dns_server.add(TLSA_NAME, "TLSA", (3, 1, 1, tlsa_data(cert[0], 1, 1)))
    dns_server.add("_mta-sts.example.net", "TXT", "v=STSv1; id=20261203;")
    dns_server.add("mta-sts.example.net", "A", "127.0.0.1")
    https_server.policy("example.net", ENFORCE.format(mx="*.elsewhere.example"))
    bundle = trust_bundle(tmp_path, https_server.ca_file)
    rig = dane_rig(start_server, dns_server, sink, ca_file=bundle, https_port=https_server.port)
    rig.submit(["bob@example.net"])
    [event] = rig.wait_events("delivery")
    tls = event.fields["tls"]
    assert tls["policy_source"] == "dane" and tls["verified"] is True


def test_dane_failure_is_not_masked_by_mta_sts(
    start_server, dns_server, https_server, smtp_sink, sink_certs, tmp_path
):
    """C6: a failing DANE check with a valid MTA-STS policy (WebPKI would pass) defers."""
    sink = smtp_sink(cert=sink_certs.good)
    dns_server.add(TLSA_NAME, "TLSA", (3, 1, 1, b"\x03" * 32))
    dns_server.add("_mta-sts.example.net", "TXT", "v=STSv1; id=20261203;")
    dns_server.add("mta-sts.example.net", "A", "127.0.0.1")
    https_server.policy("example.net", ENFORCE.format(mx=MX))
    bundle = trust_bundle(tmp_path, sink_certs.ca_file, https_server.ca_file)
    rig = dane_rig(start_server, dns_server, sink, ca_file=bundle, https_port=https_server.port)
    rig.submit(["bob@example.net"])
    [event] = rig.wait_events("delay")
    assert event.fields["tlsrpt_failures"] == ["tlsa-invalid"]
    assert sink.messages == []


def ta_chain(directory: Path, *names: str) -> tuple[tuple[Path, Path], bytes]:
    """A sink certificate for ``names`` from a trustme intermediate, the chain file holding
    leaf, intermediate and root (the server includes its TA, RFC 7672 section 3.1.2), and
    the root's DER."""
    root = trustme.CA()
    leaf = root.create_child_ca().issue_cert(*names)
    chain, key = directory / "ta-chain.pem", directory / "ta-leaf.key"
    chain.write_bytes(b"".join(p.bytes() for p in leaf.cert_chain_pems) + root.cert_pem.bytes())
    leaf.private_key_pem.write_to_path(str(key))
    root_der = x509.load_pem_x509_certificate(root.cert_pem.bytes()).public_bytes(
        serialization.Encoding.DER
    )
    return (chain, key), root_der


def test_dane_ta_chain_to_the_ta_naming_the_mx_delivers(
    start_server, dns_server, smtp_sink, tmp_path
):
    """D2: DANE-TA (2 0 1 for the root the server sends): the chain leads to the TA and the
    leaf names the MX host; no WebPKI trust in that CA is needed."""
    cert, root_der = ta_chain(tmp_path, MX)
    sink = smtp_sink(cert=cert)
    dns_server.add(TLSA_NAME, "TLSA", (2, 0, 1, hashlib.sha256(root_der).digest()))
    rig = dane_rig(start_server, dns_server, sink)
    rig.submit(["bob@example.net"])
    [event] = rig.wait_events("delivery")
    tls = event.fields["tls"]
    assert tls["policy_source"] == "dane" and tls["verified"] is True
    assert tls["dane"]["matched"] == "2 0 1"
    assert sink.messages[0].sni == MX


def test_dane_ta_with_a_leaf_for_another_name_defers(start_server, dns_server, smtp_sink, tmp_path):
    """D2: DANE-TA checks the name: a chain to the TA whose leaf names another host defers
    with tlsa-invalid."""
    cert, root_der = ta_chain(tmp_path, "other.example.test")
    sink = smtp_sink(cert=cert)
    dns_server.add(TLSA_NAME, "TLSA", (2, 0, 1, hashlib.sha256(root_der).digest()))
    rig = dane_rig(start_server, dns_server, sink)
    rig.submit(["bob@example.net"])
    [event] = rig.wait_events("delay")
    assert event.fields["tlsrpt_failures"] == ["tlsa-invalid"]
    assert event.fields["tls"]["dane"]["matched"] is None
    assert sink.messages == []


@pytest.mark.parametrize("name", ["example.net", "*.example.test"], ids=["next-hop", "wildcard"])
def test_dane_ta_leaf_naming_the_next_hop_domain_or_a_wildcard_delivers(
    start_server, dns_server, smtp_sink, tmp_path, name
):
    """D2, RFC 7672 section 3.2.3: the reference identifiers are the TLSA base domain (the
    MX host) and the next-hop domain (the recipient domain): a leaf naming only
    example.net passes; so does ``*.example.test`` for mx.example.test (a wildcard is the
    whole left-most label, RFC 6125 section 6.4.3)."""
    cert, root_der = ta_chain(tmp_path, name)
    sink = smtp_sink(cert=cert)
    dns_server.add(TLSA_NAME, "TLSA", (2, 0, 1, hashlib.sha256(root_der).digest()))
    rig = dane_rig(start_server, dns_server, sink)
    rig.submit(["bob@example.net"])
    [event] = rig.wait_events("delivery")
    tls = event.fields["tls"]
    assert tls["verified"] is True and tls["dane"]["matched"] == "2 0 1"
    assert sink.messages[0].sni == MX  # SNI stays the TLSA base domain


@pytest.mark.parametrize("name", ["*.mx.example.test", "*.test", "net"])
def test_dane_ta_leaf_with_a_wildcard_elsewhere_defers(
    start_server, dns_server, smtp_sink, tmp_path, name
):
    """D2: a wildcard stands for exactly one left-most label: neither ``*.mx.example.test``
    nor ``*.test`` names mx.example.test (or example.net), nor does a parent of the
    next-hop domain."""
    cert, root_der = ta_chain(tmp_path, name)
    sink = smtp_sink(cert=cert)
    dns_server.add(TLSA_NAME, "TLSA", (2, 0, 1, hashlib.sha256(root_der).digest()))
    rig = dane_rig(start_server, dns_server, sink)
    rig.submit(["bob@example.net"])
    event = rig.wait_events("delay")[0]  # retries may add more
    assert event.fields["tlsrpt_failures"] == ["tlsa-invalid"]
    assert sink.messages == []


RELAY = "relay.example.test"


def relay_rig(start_server, dns_server, sink, relay: str, level: str | None = None, **kw):
    """Mail for example.net goes by a static route to ``relay`` (``host:port``)."""
    dns_server.add(RELAY, "A", "127.0.0.1")
    rules = {"example.net": level} if level else None
    secure = kw.pop("secure", ("example.net", MX, RELAY, f"_{sink.port}._tcp.{RELAY}"))
    routes = {"delivery.routes": {"example.net": relay}}
    return dane_rig(start_server, dns_server, sink, secure=secure, tls_policy=rules, **routes)


def test_static_route_uses_dane_at_the_relay_port(start_server, dns_server, smtp_sink, tmp_path):
    """Postfix's ``[host]:port`` next hop: a static route to a host whose addresses are
    secure uses the TLSA records at ``_<port>._tcp.<host>`` (the relay's own port), the
    relay host is the TLSA base domain and SNI."""
    cert = odd_certificate(tmp_path)
    sink = smtp_sink(cert=cert)
    owner = f"_{sink.port}._tcp.{RELAY}"
    dns_server.add(owner, "TLSA", (3, 1, 1, tlsa_data(cert[0], 1, 1)))
    rig = relay_rig(start_server, dns_server, sink, f"{RELAY}:{sink.port}")
    rig.submit(["bob@example.net"])
    [event] = rig.wait_events("delivery")
    tls = event.fields["tls"]
    assert tls["policy_source"] == "dane" and tls["verified"] is True
    assert tls["dane"]["matched"] == "3 1 1" and tls["dane"]["tlsa_name"] == owner
    assert sink.messages[0].sni == RELAY
    assert [q.name for q in tlsa_queries(dns_server)] == [owner]


def test_static_route_dane_only_mismatch_defers(start_server, dns_server, smtp_sink, tmp_path):
    """A relay's secure TLSA records are enforced like an MX host's: a mismatch defers
    tlsa-invalid, nothing is sent."""
    sink = smtp_sink(cert=odd_certificate(tmp_path))
    dns_server.add(f"_{sink.port}._tcp.{RELAY}", "TLSA", (3, 1, 1, b"\x00" * 32))
    rig = relay_rig(start_server, dns_server, sink, f"{RELAY}:{sink.port}", "dane-only")
    rig.submit(["bob@example.net"])
    event = rig.wait_events("delay")[0]  # retries may add more
    assert event.fields["tlsrpt_failures"] == ["tlsa-invalid"]
    assert sink.messages == []


@pytest.mark.parametrize("level", ["dane", "dane-only"])
@pytest.mark.parametrize("insecure_addresses", [False, True], ids=["ip-literal", "insecure-host"])
def test_static_route_without_secure_tlsa_is_may_or_dane_only_defers(
    start_server, dns_server, smtp_sink, sink_certs, insecure_addresses, level
):
    """A relay by IP address has no TLSA base domain, one with insecure addresses no DANE:
    ``dane`` delivers as ``may``; ``dane-only`` defers dane-required, never sends."""
    sink = smtp_sink(cert=sink_certs.good)
    relay = f"{RELAY}:{sink.port}" if insecure_addresses else f"127.0.0.1:{sink.port}"
    dns_server.add(f"_{sink.port}._tcp.{RELAY}", "TLSA", (3, 1, 1, b"\x00" * 32))
    secure = ("example.net", MX, f"_{sink.port}._tcp.{RELAY}")  # not the relay's address
    rig = relay_rig(start_server, dns_server, sink, relay, level, secure=secure)
    rig.submit(["bob@example.net"])
    if level == "dane":
        [event] = rig.wait_events("delivery")
        assert event.fields["tls"]["level_required"] == "may"
        assert len(sink.messages) == 1
    else:
        delay = rig.wait_events("delay")[0]  # retries may add more
        assert delay.fields["tlsrpt_failures"] == ["dane-required"]
        assert sink.messages == []
    assert tlsa_queries(dns_server) == []
