"""Interop: ``sealpost tls-check`` against a real Postfix (Debian's) on loopback, found
through the loopback DNS server: banner, STARTTLS, TLS 1.3, the certificate verified
against the test CA, and the exit code of a domain without MTA-STS or DANE (1)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.interop.conftest import PeerPki, PostfixFactory
from tests.interop.postfix_peer import ReceiverRole

pytestmark = pytest.mark.interop


def test_tls_check_against_postfix(dns_server, peer_pki: PeerPki, postfix_peers: PostfixFactory):
    role = ReceiverRole(
        domains=("example.net",), cert_file=peer_pki.cert_file, key_file=peer_pki.key_file
    )
    receiver = postfix_peers("mx", role, myhostname="mx.example.test")
    dns_server.add("example.net", "MX", (10, "mx.example.test"))
    dns_server.add("mx.example.test", "A", "127.0.0.1")
    args = [
        sys.executable, "-m", "sealpost", "tls-check", "example.net", "--json",
        "--port", str(receiver.smtpd_port), "--nameserver", dns_server.nameserver,
        "--ca-file", str(peer_pki.ca_file), "--mta-sts-port", "9", "--timeout", "5",
        "--helo", "client.example.test",
    ]  # fmt: skip
    proc = subprocess.run(args, capture_output=True, text=True, timeout=60)
    report = json.loads(proc.stdout)
    [host] = report["hosts"]
    assert proc.returncode == 1, report["verdict"]
    assert host["banner"].startswith("mx.example.test ESMTP")
    assert host["starttls_offered"] is True
    assert host["tls"]["version"] == "TLSv1.3"
    assert host["versions"]["TLSv1.2"] == "accepted" and host["versions"]["TLSv1.3"] == "accepted"
    assert host["verification"]["verified"] is True and host["verification"]["name_match"] is True
    assert "mx.example.test" in host["certificate"]["sans"]
    assert "PIPELINING" in host["ehlo"]
    assert report["verdict"]["grade"] == "downgradeable"
