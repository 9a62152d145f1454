"""``GET /api/v1/tls-check`` over HTTPS: authentication, the same JSON as the CLI, the
server's own resolver, ca_file and smtp_port, and a refused target."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx

from sealpost.api_keys import create_key
from tests.support import API_LOOPBACK_TARGETS, Pki


def test_tls_check_endpoint(start_server, pki: Pki, dns_server, smtp_sink, sink_certs):
    sink = smtp_sink(cert=sink_certs.good)
    dns_server.add("example.net", "MX", (10, "mx.example.test"))
    dns_server.add("mx.example.test", "A", "127.0.0.1")
    server = start_server(
        tables={
            "dns": {"nameservers": [dns_server.nameserver], "timeout": 2},
            "delivery": {
                "enabled": False,
                "smtp_port": sink.port,
                "ca_file": str(sink_certs.ca_file),
            },
            "mta_sts": {"https_port": 9},
            "api": API_LOOPBACK_TARGETS,
        }
    )
    key, _ = server.call(lambda: create_key(server.app.store, "t", 0.0))
    base = f"https://127.0.0.1:{server.ports['api']}/api/v1"
    with httpx.Client(base_url=base, verify=pki.client_context(), timeout=30) as api:
        assert api.get("/tls-check", params={"target": "example.net"}).status_code == 401
        headers = {"Authorization": key}
        response = api.get(
            "/tls-check", params={"target": "example.net", "timeout": 2}, headers=headers
        )
        assert response.status_code == 200, response.text
        report = response.json()["results"]
        assert report["schema"] == "sealpost.tls-check/1" and report["target"] == "example.net"
        [host] = report["hosts"]
        assert host["host"] == "mx.example.test" and host["port"] == sink.port
        assert host["tls"]["version"] == "TLSv1.3"
        assert host["verification"]["verified"] is True
        assert report["exit_code"] == 1 and report["verdict"]["grade"] == "downgradeable"
        bad = api.get("/tls-check", params={"target": "host:0"}, headers=headers)
        assert bad.status_code == 422 and bad.json()["errors"][0]["code"] == "1300"


def test_implicit_tls_host_target_against_sealpost_submissions(server, pki: Pki):
    """``--implicit`` against Sealpost's own port-465-style listener (RFC 8314)."""
    target = f"127.0.0.1:{server.ports['submissions']}"
    args = [
        sys.executable, "-m", "sealpost", "tls-check", target, "--json", "--implicit",
        "--sni", "mx.example.test", "--ca-file", str(pki.ca_file), "--timeout", "2",
        "--helo", "client.example.test",
    ]  # fmt: skip
    proc = subprocess.run(args, capture_output=True, text=True, timeout=60)
    report = json.loads(proc.stdout)
    [host] = report["hosts"]
    assert report["implicit_tls"] is True and host["starttls_offered"] is None
    assert host["banner"] and host["tls"]["version"] == "TLSv1.3"
    assert host["verification"]["verified"] is True
    assert proc.returncode == 0, report["verdict"]
