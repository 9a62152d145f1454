"""``sealpost tls-check`` as a subprocess against real loopback fixtures: a DNS server, SMTP
sinks with good / expired / wrong-name / self-signed certificates, TLS 1.0 only, no
STARTTLS, a stalling handshake, MTA-STS enforce and testing over HTTPS, TLSA present (with
and without the AD bit) and absent. Asserts the JSON fields and the exit codes."""

from __future__ import annotations

import hashlib
import json
import ssl
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.integration.test_delivery_dane import ta_chain

DOMAIN = "example.test"
MX = "mx.example.test"


class Rig:
    def __init__(self, dns, https, certs, tmp: Path) -> None:
        self.dns, self.https, self.certs = dns, https, certs
        self.ca_file = tmp / "trusted.pem"
        self.ca_file.write_bytes(certs.ca_file.read_bytes() + https.ca_file.read_bytes())
        dns.add(DOMAIN, "MX", (10, MX))
        dns.add(MX, "A", "127.0.0.1")
        dns.add(f"mta-sts.{DOMAIN}", "A", "127.0.0.1")

    def sts(self, mode: str, mx: str = MX) -> None:
        self.dns.add(f"_mta-sts.{DOMAIN}", "TXT", "v=STSv1; id=20260101")
        text = f"version: STSv1\nmode: {mode}\nmx: {mx}\nmax_age: 86400\n"
        self.https.policy(DOMAIN, text)

    def run(self, port: int | None, *extra: str, target: str = DOMAIN, timeout: str = "2"):
        args = [
            sys.executable, "-m", "sealpost", "tls-check", target, "--json",
            *(["--port", str(port)] if port else []), "--nameserver", self.dns.nameserver,
            "--ca-file", str(self.ca_file), "--mta-sts-port", str(self.https.port),
            "--timeout", timeout, "--helo", "client.example.test", *extra,
        ]  # fmt: skip
        proc = subprocess.run(args, capture_output=True, text=True, timeout=60)
        assert proc.stdout, proc.stderr
        return proc.returncode, json.loads(proc.stdout)


@pytest.fixture
def rig(dns_server, https_server, sink_certs, tmp_path) -> Rig:
    return Rig(dns_server, https_server, sink_certs, tmp_path)


def _host(report: dict) -> dict:
    [host] = report["hosts"]
    return host


def test_good_certificate_without_policy_is_downgradeable(rig, smtp_sink):
    sink = smtp_sink(cert=rig.certs.good)
    rig.dns.add(f"_smtp._tls.{DOMAIN}", "TXT", "v=TLSRPTv1; rua=mailto:tls@example.test")
    code, report = rig.run(sink.port)
    host = _host(report)
    assert code == 1 and report["exit_code"] == 1
    assert report["schema"] == "sealpost.tls-check/1" and report["kind"] == "domain"
    assert report["mx"]["records"] == [{"preference": 10, "host": MX}]
    assert report["mx"]["secure"] is False
    assert host["banner"] and host["starttls_offered"] is True
    assert host["tls"]["version"] == "TLSv1.3" and host["tls"]["cipher"]
    assert host["versions"]["TLSv1.3"] == "accepted" and host["versions"]["TLSv1.2"] == "accepted"
    assert host["versions"]["TLSv1"] != "accepted"
    cert = host["certificate"]
    assert MX in cert["sans"] and cert["days_left"] > 0 and cert["chain_available"] is True
    assert len(cert["sha256"]) == 64 and len(cert["spki_sha256"]) == 64
    assert host["verification"] == {
        "verified": True, "error": None, "failure": None, "name_match": True,
    }  # fmt: skip
    assert host["dane"]["status"] == "none"
    assert {"connect", "banner", "ehlo", "starttls", "handshake", "verify"} <= set(
        host["timings_ms"]
    )
    assert report["tls_rpt"] == {
        "record": "v=TLSRPTv1; rua=mailto:tls@example.test",
        "rua": ["mailto:tls@example.test"],
        "error": None,
    }
    assert report["mta_sts"]["mode"] is None
    assert report["verdict"]["grade"] == "downgradeable"
    assert "no MTA-STS or DANE policy" in report["verdict"]["summary"]


def test_mta_sts_enforce_with_valid_certificate_is_secure(rig, smtp_sink):
    sink = smtp_sink(cert=rig.certs.good)
    rig.sts("enforce")
    code, report = rig.run(sink.port)
    assert code == 0, report["verdict"]
    assert report["mta_sts"]["mode"] == "enforce" and report["mta_sts"]["id"] == "20260101"
    assert report["mta_sts"]["policy"] == {"mode": "enforce", "max_age": 86400, "mx": [MX]}
    assert _host(report)["mta_sts_mx_match"] is True
    assert "MTA-STS enforce: mail cannot be downgraded" in report["verdict"]["summary"]


def test_expired_certificate_under_enforce_fails(rig, smtp_sink):
    sink = smtp_sink(cert=rig.certs.expired)
    rig.sts("enforce")
    code, report = rig.run(sink.port)
    host = _host(report)
    assert code == 2
    assert host["verification"]["verified"] is False
    assert host["verification"]["failure"] == "certificate-expired"
    assert host["certificate"]["expired"] is True and host["certificate"]["days_left"] < 0
    assert "expired" in report["verdict"]["summary"]
    assert "MTA-STS enforce defers mail" in report["verdict"]["summary"]


def test_expired_certificate_under_testing_is_downgradeable(rig, smtp_sink):
    sink = smtp_sink(cert=rig.certs.expired)
    rig.sts("testing")
    code, report = rig.run(sink.port)
    assert code == 1
    summary = report["verdict"]["summary"]
    assert "certificate expired" in summary and "MTA-STS enforce would defer mail" in summary


def test_mx_not_in_enforce_policy_fails(rig, smtp_sink):
    sink = smtp_sink(cert=rig.certs.good)
    rig.sts("enforce", mx="*.elsewhere.test")
    code, report = rig.run(sink.port)
    assert code == 2 and _host(report)["mta_sts_mx_match"] is False
    assert "not listed in the MTA-STS policy" in report["verdict"]["summary"]


def test_wrong_name_certificate(rig, smtp_sink):
    sink = smtp_sink(cert=rig.certs.wrong_name)
    code, report = rig.run(sink.port)
    host = _host(report)
    assert code == 1
    assert host["verification"]["failure"] == "certificate-host-mismatch"
    assert host["verification"]["name_match"] is False
    assert f"not valid for {MX}" in report["verdict"]["summary"]


def test_self_signed_certificate_under_enforce(rig, smtp_sink):
    sink = smtp_sink(cert=rig.certs.self_signed)
    rig.sts("enforce")
    code, report = rig.run(sink.port)
    host = _host(report)
    assert code == 2
    assert host["verification"]["failure"] == "certificate-not-trusted"
    assert host["certificate"]["self_issued"] is True
    assert "self-signed" in report["verdict"]["summary"]


def test_untrusted_issuer(rig, smtp_sink):
    sink = smtp_sink(cert=rig.certs.untrusted)
    code, report = rig.run(sink.port)
    assert code == 1
    assert _host(report)["verification"]["failure"] == "certificate-not-trusted"
    assert "not issued by a trusted CA" in report["verdict"]["summary"]


def test_tls_1_0_only_server(rig, smtp_sink):
    sink = smtp_sink(cert=rig.certs.good, tls_versions=(ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1))
    code, report = rig.run(sink.port)
    host = _host(report)
    assert code == 1
    assert host["tls"] is None and host["failed_step"] == "handshake"
    assert host["versions"]["TLSv1"] == "accepted"
    assert host["versions"]["TLSv1.2"] == "refused" and host["versions"]["TLSv1.3"] == "refused"
    assert "senders fall back to plaintext" in report["verdict"]["summary"]
    assert any("deprecated TLSv1" in r for r in report["verdict"]["reasons"])


def test_no_starttls(rig, smtp_sink):
    sink = smtp_sink()
    code, report = rig.run(sink.port)
    host = _host(report)
    assert code == 1
    assert host["starttls_offered"] is False and host["tls"] is None
    assert set(host["versions"].values()) == {"not-tested"}
    assert "STARTTLS not offered" in report["verdict"]["summary"]


def test_no_starttls_under_enforce_fails(rig, smtp_sink):
    sink = smtp_sink()
    rig.sts("enforce")
    code, report = rig.run(sink.port)
    assert code == 2 and "MTA-STS enforce would defer mail" in report["verdict"]["summary"]


def _spki_sha256(chain: Path) -> bytes:
    cert = x509.load_pem_x509_certificate(chain.read_bytes())
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(spki).digest()


def test_dane_secure_matching_tlsa_is_secure(rig, smtp_sink):
    sink = smtp_sink(cert=rig.certs.self_signed)  # DANE-EE needs no CA
    name = f"_25._tcp.{MX}"
    rig.dns.add(name, "TLSA", (3, 1, 1, _spki_sha256(rig.certs.self_signed[0])))
    rig.dns.authenticated_data.update((name, DOMAIN, MX))  # delivery needs MX and A secure too
    code, report = rig.run(sink.port)
    dane = _host(report)["dane"]
    assert code == 0, report["verdict"]
    assert dane["tlsa_name"] == name and dane["secure"] is True and dane["status"] == "match"
    assert dane["records"][0]["match"] == "match"
    assert "DANE TLSA matches" in report["verdict"]["summary"]


def test_dane_secure_tlsa_not_matching_fails(rig, smtp_sink):
    sink = smtp_sink(cert=rig.certs.good)
    name = f"_25._tcp.{MX}"
    rig.dns.add(name, "TLSA", (3, 1, 1, b"\x00" * 32))
    rig.dns.authenticated_data.update((name, DOMAIN, MX))  # delivery needs MX and A secure too
    code, report = rig.run(sink.port)
    assert code == 2 and _host(report)["dane"]["status"] == "no-match"


def test_dane_ta_chain_to_the_ta_is_a_match(rig, smtp_sink, tmp_path):
    """DANE-TA (2 0 1): tls-check reads the chain the server sent, as delivery does."""
    cert, root_der = ta_chain(tmp_path, MX)
    sink = smtp_sink(cert=cert)
    name = f"_25._tcp.{MX}"
    rig.dns.add(name, "TLSA", (2, 0, 1, hashlib.sha256(root_der).digest()))
    rig.dns.add(name, "TLSA", (2, 0, 1, b"\x00" * 32))
    rig.dns.authenticated_data.update((name, DOMAIN, MX))  # delivery needs MX and A secure too
    code, report = rig.run(sink.port)
    dane = _host(report)["dane"]
    assert code == 0, report["verdict"]
    assert dane["status"] == "match"
    assert [r["match"] for r in dane["records"]] == ["match", "no-match"]
    assert _host(report)["certificate"]["chain_length"] == 3


def test_dane_insecure_tlsa_is_ignored(rig, smtp_sink):
    sink = smtp_sink(cert=rig.certs.good)
    rig.dns.add(f"_25._tcp.{MX}", "TLSA", (3, 1, 1, _spki_sha256(rig.certs.good[0])))
    code, report = rig.run(sink.port)
    dane = _host(report)["dane"]
    assert code == 1 and dane["secure"] is False and dane["status"] == "insecure"


def test_dane_secure_tlsa_behind_an_insecure_mx_is_not_applied(rig, smtp_sink):
    """The verdict delivery acts on: a secure TLSA RRset (here even mismatching) for an MX
    host named by an insecure MX RRset is not used by delivery (RFC 7672 section 2.2.1),
    so tls-check shows it as insecure, says why, and does not fail the host for it."""
    sink = smtp_sink(cert=rig.certs.good)
    name = f"_25._tcp.{MX}"
    rig.dns.add(name, "TLSA", (3, 1, 1, b"\x00" * 32))
    rig.dns.authenticated_data.update((name, MX))  # not DOMAIN: its MX RRset is insecure
    code, report = rig.run(sink.port)
    dane = _host(report)["dane"]
    assert dane["status"] == "insecure" and dane["skipped"] == "not DNSSEC-secure"
    assert dane["secure"] is True and code == 1  # downgradeable, not fails


def test_host_port_target_with_sni(rig, smtp_sink):
    sink = smtp_sink(cert=rig.certs.good)
    code, report = rig.run(None, "--sni", MX, target=f"127.0.0.1:{sink.port}")
    host = _host(report)
    assert report["kind"] == "host" and host["port"] == sink.port
    assert code == 0 and host["verification"]["verified"] is True


def test_three_stalling_mx_hosts_finish_within_bound(rig, smtp_sink):
    sink = smtp_sink(cert=rig.certs.good, handshake="stall")
    rig.dns.remove(DOMAIN, "MX")
    for i in (1, 2, 3):
        rig.dns.add(DOMAIN, "MX", (i * 10, f"mx{i}.{DOMAIN}"))
        rig.dns.add(f"mx{i}.{DOMAIN}", "A", "127.0.0.1")
    started = time.monotonic()
    code, report = rig.run(sink.port, timeout="5")
    assert time.monotonic() - started < 20  # loosely: the check's own budget is 14 s
    assert report["duration_ms"] < 15000
    assert len(report["hosts"]) == 3
    assert all(h["timed_out"] and h["tls"] is None for h in report["hosts"])
    assert code == 1


def test_usage_and_lookup_errors_exit_3(rig):
    code, report = rig.run(25, target="nowhere.test")  # NXDOMAIN
    assert code == 3 and report["verdict"]["grade"] == "error"
    proc = subprocess.run(
        [sys.executable, "-m", "sealpost", "tls-check", DOMAIN, "--bogus-flag"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 3
    proc = subprocess.run(
        [sys.executable, "-m", "sealpost", "tls-check", DOMAIN, "--nameserver", "not-an-ip"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 3 and "not an IP address" in proc.stderr
