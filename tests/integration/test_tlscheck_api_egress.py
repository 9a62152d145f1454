"""Issue 10 item 3: ``GET /api/v1/tls-check`` is not a port scanner or a banner grabber.

Over real HTTPS against the real server, with the loopback DNS server as its resolver:
private targets, MX hosts and MTA-STS policy hosts are refused before any connection (422
naming ``target`` and the rule), only ports 25/465/587 are answered outside the allowed
ranges, each key gets a few checks a minute (429 with Retry-After), and a closed port, a
silent one, an SSH banner and a non-220 greeting all read the same. Every connection made
here stays on 127.0.0.0/8 and every refused address is refused before connecting."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Iterator

import httpx
import pytest

from sealpost.api_keys import create_key
from sealpost.dns.dnspython_resolver import DnspythonResolver
from sealpost.tlscheck import CheckOptions, run_check
from tests.support import API_LOOPBACK_TARGETS, Pki, ServerThread

SSH_BANNER = b"SSH-2.0-OpenSSH_9.6 internal-build-42\r\n"


def tables(dns_server, **api: object) -> dict[str, dict]:
    return {
        "dns": {"nameservers": [dns_server.nameserver], "timeout": 2},
        "api": {"address": "127.0.0.1:0", "allow_unverified_domains": True, **api},
    }


def api_client(server: ServerThread, pki: Pki, label: str = "t") -> httpx.Client:
    key, _ = server.call(lambda: create_key(server.app.store, label, 0.0))
    return httpx.Client(
        base_url=f"https://127.0.0.1:{server.ports['api']}/api/v1",
        verify=pki.client_context(),
        headers={"Authorization": key},
        timeout=30,
    )


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A TCP socket that is listening but never accepts: a connection would be pending."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        sock.setblocking(False)
        yield sock


def connected(sock: socket.socket) -> bool:
    try:
        conn, _ = sock.accept()
    except BlockingIOError:
        return False
    conn.close()
    return True


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_default_refuses_private_targets_mx_hosts_and_policy_hosts_before_connecting(
    start_server, pki: Pki, dns_server, smtp_sink, listener: socket.socket
):
    sink = smtp_sink()
    port = listener.getsockname()[1]
    dns_server.add("internal.test", "MX", (10, "mx.internal.test"))
    dns_server.add("mx.internal.test", "A", "10.0.0.1")
    dns_server.add("_mta-sts.internal.test", "TXT", "v=STSv1; id=1")
    dns_server.add("mta-sts.internal.test", "A", "127.0.0.1")  # policy host: the listener
    config = tables(dns_server, tls_check_per_minute=20)
    config["mta_sts"] = {"https_port": port}
    server = start_server(tables=config)
    cases = {
        f"127.0.0.1:{sink.port}": "127.0.0.1 is a loopback address (RFC 1122)",
        f"[::1]:{sink.port}": "::1 is a loopback address (RFC 4291)",
        f"[::ffff:127.0.0.1]:{sink.port}": "the IPv4-mapped form of 127.0.0.1",
        "169.254.169.254:25": "169.254.169.254 is a link-local address (RFC 3927)",
        "internal.test": "mx.internal.test resolves to 10.0.0.1, a private address (RFC 1918)",
    }
    with api_client(server, pki) as api:
        for target, why in cases.items():
            r = api.get("/tls-check", params={"target": target, "timeout": 2})
            assert r.status_code == 422, (target, r.text)
            (error,) = r.json()["errors"]
            assert error["code"] == "1300" and error["description"].startswith("target: ")
            assert why in error["description"], error
            assert "(rule: private-target)" in error["description"]
    assert sink.sessions == [], "no refused target was connected to"
    assert dns_server.queried("mta-sts.internal.test", "A"), "the policy host was looked up"
    assert not connected(listener), "and refused: no connection to the MTA-STS policy host"


def test_only_smtp_ports_unless_the_address_is_allowed(start_server, pki: Pki, dns_server):
    dns_server.add("public.test", "A", "8.8.8.8")  # refused on its port: never contacted
    server = start_server(tables=tables(dns_server))
    with api_client(server, pki) as api:
        for target in ("public.test:22", "8.8.8.8:2525", "public.test:8443"):
            r = api.get("/tls-check", params={"target": target})
            assert r.status_code == 422, r.text
            description = r.json()["errors"][0]["description"]
            assert "is not a mail port (25, 465, 587)" in description, description
            assert "(rule: target-port)" in description


def test_a_few_checks_a_minute_per_key(start_server, pki: Pki, dns_server):
    server = start_server(tables=tables(dns_server, tls_check_per_minute=2))
    target = {"target": "127.0.0.1:25"}  # refused without a connection: cheap to repeat
    with api_client(server, pki, "first") as first, api_client(server, pki, "second") as second:
        assert [first.get("/tls-check", params=target).status_code for _ in range(2)] == [422, 422]
        limited = first.get("/tls-check", params=target)
        assert limited.status_code == 429, limited.text
        wait = int(limited.headers["retry-after"])
        assert 1 <= wait <= 60
        (error,) = limited.json()["errors"]
        assert error["message"] == "Too many requests"
        assert error["description"] == (
            f"tls-check: at most 2 per minute per API key; retry in {wait} s"
        )
        assert second.get("/tls-check", params=target).status_code == 422, "per key"


def _host_without_port(report: dict, port: int) -> str:
    (host,) = report["hosts"]
    return json.dumps({**host, "port": None}).replace(str(port), "PORT")


def test_closed_silent_and_foreign_ports_read_the_same_and_no_banner_leaks(
    start_server, pki: Pki, dns_server, smtp_sink
):
    server = start_server(
        tables=tables(dns_server, tls_check_per_minute=20, **API_LOOPBACK_TARGETS)
    )
    peers = {
        "closed": closed_port(),
        "silent": smtp_sink(stall={"BANNER": float("inf")}).port,
        "ssh": smtp_sink(replies={"BANNER": SSH_BANNER}).port,
        "refusing": smtp_sink(replies={"BANNER": b"554 5.7.1 internal-build-42 go away\r\n"}).port,
    }
    shown: dict[str, str] = {}
    with api_client(server, pki) as api:
        for name, port in peers.items():
            r = api.get("/tls-check", params={"target": f"127.0.0.1:{port}", "timeout": 0.5})
            assert r.status_code == 200, (name, r.text)
            assert "internal-build-42" not in r.text and "SSH" not in r.text, name
            shown[name] = _host_without_port(r.json()["results"], port)
        smtp = smtp_sink().port  # a real SMTP greeting is reported in full
        report = api.get("/tls-check", params={"target": f"127.0.0.1:{smtp}", "timeout": 2})
    assert len(set(shown.values())) == 1, shown
    host = json.loads(shown["ssh"])
    assert host["error"] == (
        "no SMTP service answered (connection refused, timed out, or no 220 greeting)"
    )
    assert host["failed_step"] == "connect" and host["banner"] is None
    assert host["timed_out"] is False and host["timings_ms"] == {}
    assert report.status_code == 200
    assert report.json()["results"]["hosts"][0]["banner"] == "sink.example.test ESMTP sink"

    async def cli_view() -> str:  # the operator's command line is not restricted
        options = CheckOptions(timeout=1)
        checked = await run_check(f"127.0.0.1:{peers['ssh']}", DnspythonResolver([]), options)
        return json.dumps(checked.to_dict())

    assert "internal-build-42" in asyncio.run(cli_view())
