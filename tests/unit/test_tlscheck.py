"""tls-check pure parts: targets, certificate facts, policy records, verdicts and exit
codes. No sockets. (Name and TLSA matching: ``test_dane.py``.)"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from hypothesis import given
from hypothesis import strategies as st

from sealpost.dns.resolver import DnsErrorKind
from sealpost.policy.mta_sts import StsMode, StsPolicy, StsRecord
from sealpost.tlscheck import CheckReport, Grade, HostReport, parse_target
from sealpost.tlscheck.certificate import certificate_facts
from sealpost.tlscheck.domain_policy import StsFindings, tls_rpt
from sealpost.tlscheck.report import DaneStatus, Verification
from sealpost.tlscheck.smtp_probe import (
    Negotiated,
    ProbeResult,
    ProbeStep,
    VersionResult,
    key_exchange,
)
from sealpost.tlscheck.verdict import domain_verdict, host_verdict
from tests.fakes.resolver import ZoneResolver

MX = "mx.example.test"


def _der(cert_pem: bytes) -> bytes:
    return x509.load_pem_x509_certificate(cert_pem).public_bytes(serialization.Encoding.DER)


@pytest.fixture(scope="module")
def leaf_der() -> bytes:
    return _der(trustme.CA().issue_cert(MX).cert_chain_pems[0].bytes())


def _rsa_der(days: int) -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, MX)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - dt.timedelta(days=400))
        .not_valid_after(now + dt.timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.DER)


# -- targets ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "name", "kind", "port", "literal"),
    [
        ("Example.COM.", "example.com", "domain", None, False),
        ("mx.example.com:2525", "mx.example.com", "host", 2525, False),
        ("192.0.2.1", "192.0.2.1", "host", None, True),
        ("[::1]:25", "::1", "host", 25, True),
        ("[mx.example.com]", "mx.example.com", "host", None, False),
    ],
)
def test_parse_target(text, name, kind, port, literal):
    target = parse_target(text)
    assert (target.name, target.kind, target.port, target.literal) == (name, kind, port, literal)


@pytest.mark.parametrize("text", ["", "  ", "mx.example.com:", "host:99999", "[::1"])
def test_parse_target_refuses(text):
    with pytest.raises(ValueError):
        parse_target(text)


@given(st.text(max_size=80))
def test_parse_target_only_raises_value_error(text):
    with contextlib.suppress(ValueError):
        parse_target(text)


# -- certificates -------------------------------------------------------------------------


def test_certificate_facts_of_ec_leaf(leaf_der):
    facts = certificate_facts(leaf_der)
    assert facts.sans == (MX,) and facts.key_type == "EC" and facts.key_size == 256
    assert facts.sha256 == hashlib.sha256(leaf_der).hexdigest()
    assert not facts.expired and not facts.self_issued
    assert facts.to_dict()["chain_available"] is False  # no chain given: not read
    assert certificate_facts(leaf_der, chain_length=2).to_dict()["chain_length"] == 2


def test_certificate_facts_of_expired_rsa_self_signed():
    facts = certificate_facts(_rsa_der(days=-12))
    assert facts.key_type == "RSA" and facts.key_size == 2048
    assert facts.expired and facts.days_left in (-12, -13) and facts.self_issued
    assert facts.sans == ()


def test_key_exchange_names():
    assert key_exchange("TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256") == "ECDHE"
    assert key_exchange("TLSv1.2", "AES128-GCM-SHA256").startswith("RSA")
    assert "TLS 1.3" in key_exchange("TLSv1.3", "TLS_AES_128_GCM_SHA256")


# -- TLS-RPT ------------------------------------------------------------------------------


TLS_RPT_NAME = "_smtp._tls.x.test"


def _tls_rpt_zone(records: list[str] | DnsErrorKind) -> ZoneResolver:
    """The TLS-RPT TXT records of x.test, none (NXDOMAIN) or failing (SERVFAIL)."""
    if records is DnsErrorKind.NXDOMAIN:
        return ZoneResolver()
    if records is DnsErrorKind.SERVFAIL:
        return ZoneResolver(servfail=[TLS_RPT_NAME])
    return ZoneResolver({TLS_RPT_NAME: {"TXT": records}})  # type: ignore[dict-item]


@pytest.mark.parametrize(
    ("records", "rua", "error"),
    [
        (
            ["v=TLSRPTv1; rua=mailto:a@x.test,https://r.x.test/"],
            ("mailto:a@x.test", "https://r.x.test/"),
            None,
        ),
        (["v=spf1 -all"], (), None),
        (DnsErrorKind.NXDOMAIN, (), None),
        (DnsErrorKind.SERVFAIL, (), "DNS"),
        (["v=TLSRPTv1; rua=mailto:a@x.test", "v=TLSRPTv1; rua=mailto:b@x.test"], (), "records"),
        (["v=TLSRPTv1;"], (), "no rua"),
    ],
)
def test_tls_rpt(records, rua, error):
    found = asyncio.run(tls_rpt("x.test", _tls_rpt_zone(records)))
    assert found.rua == rua
    assert (found.error is None) if error is None else (error in (found.error or ""))


# -- verdicts -----------------------------------------------------------------------------


def _tls_host(*, verified: bool = True, der: bytes | None = None, **kw: object) -> HostReport:
    probe = ProbeResult("127.0.0.1", 25, banner="mx ESMTP", starttls_offered=True)
    probe.negotiated = Negotiated("TLSv1.3", "TLS_AES_256_GCM_SHA384", 256, "ECDHE")
    probe.der = der
    host = HostReport(MX, 25, preference=10, addresses=("127.0.0.1",), probe=probe, **kw)  # type: ignore[arg-type]
    host.verification = (
        Verification(True) if verified else Verification(False, "expired", "certificate-expired")
    )
    host.name_match = True
    return host


def _sts(mode: StsMode, mx: str = MX) -> StsFindings:
    return StsFindings(("v=STSv1; id=1",), StsRecord("1"), StsPolicy(mode, 86400, (mx,)))


def test_verified_under_enforce_is_secure():
    host = _tls_host(sts_match=True)
    verdict = host_verdict(host, _sts(StsMode.ENFORCE), domain=True)
    assert verdict.grade is Grade.SECURE and verdict.grade.exit_code == 0
    assert verdict.summary == (
        f"TLSv1.3, certificate valid for {MX}, MTA-STS enforce: mail cannot be downgraded"
    )


def test_expired_under_enforce_fails_with_days():
    host = _tls_host(verified=False, der=_rsa_der(days=-12), sts_match=True)
    host.certificate = certificate_facts(host.probe.der)  # type: ignore[union-attr,arg-type]
    verdict = host_verdict(host, _sts(StsMode.ENFORCE), domain=True)
    assert verdict.grade is Grade.FAILS and verdict.grade.exit_code == 2
    assert (
        "certificate expired 1" in verdict.summary
        and "MTA-STS enforce defers mail" in verdict.summary
    )
    assert any("install a certificate" in fix for fix in verdict.fixes)


def test_no_policy_is_downgradeable_and_suggests_mta_sts():
    verdict = host_verdict(_tls_host(), StsFindings(), domain=True)
    assert verdict.grade is Grade.DOWNGRADEABLE and verdict.grade.exit_code == 1
    assert any("MTA-STS" in fix for fix in verdict.fixes)


def test_dane_no_match_fails_and_match_is_secure():
    host = _tls_host(dane=DaneStatus.NO_MATCH)
    assert host_verdict(host, StsFindings(), domain=True).grade is Grade.FAILS
    host = _tls_host(verified=False, dane=DaneStatus.MATCH)
    assert host_verdict(host, StsFindings(), domain=True).grade is Grade.SECURE


def test_old_versions_are_warned_about():
    host = _tls_host(sts_match=True)
    host.versions = {"TLSv1": VersionResult.ACCEPTED, "TLSv1.3": VersionResult.ACCEPTED}
    verdict = host_verdict(host, _sts(StsMode.ENFORCE), domain=True)
    assert verdict.grade is Grade.SECURE
    assert any("TLSv1" in r for r in verdict.reasons)


def test_unreachable_host_and_domain_verdicts():
    probe = ProbeResult("127.0.0.1", 25, failed_at=ProbeStep.CONNECT, error="refused")
    down = HostReport(MX, 25, addresses=("127.0.0.1",), probe=probe)
    down.verdict = host_verdict(down, StsFindings(), domain=True)
    assert down.verdict.grade is Grade.FAILS
    report = CheckReport("example.test", "domain", 25, False, 5.0, "now", hosts=[down])
    assert domain_verdict(report).grade is Grade.FAILS
    up = _tls_host()
    up.verdict = host_verdict(up, StsFindings(), domain=True)
    report.hosts.append(up)
    assert domain_verdict(report).grade is Grade.DOWNGRADEABLE  # the host that answered decides
    report.mx_error = "MX lookup for example.test: servfail"
    verdict = domain_verdict(report)
    assert verdict.grade is Grade.ERROR and verdict.grade.exit_code == 3


def test_report_json_shape():
    host = _tls_host()
    host.verdict = host_verdict(host, None, domain=False)
    report = CheckReport(MX, "host", 25, False, 5.0, "2026-01-01T00:00:00Z", hosts=[host])
    report.verdict = domain_verdict(report)
    data = report.to_dict()
    assert data["schema"] == "sealpost.tls-check/1" and data["exit_code"] == 0
    assert data["hosts"][0]["verification"]["verified"] is True
    assert set(data) >= {"target", "kind", "mx", "mta_sts", "tls_rpt", "hosts", "verdict"}
