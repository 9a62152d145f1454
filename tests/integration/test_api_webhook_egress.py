"""Issue 10 item 4: webhooks are not an SSRF. Over real HTTPS against the real server, with
the loopback DNS server as its resolver: private targets and token URLs are refused before
any connection (default config), the allow-list lets a range in, a rebound DNS answer cannot
move a checked connection, a stored webhook whose name later resolves to a refused address
is never POSTed to, and no answer tells an open port from a closed one or relays an
internal service's reply. Every connection made here stays on 127.0.0.0/8."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from sealpost.net.client_tls import verifying
from sealpost.net.pinned_http import PinnedTransport
from tests.fixtures.webhook_receiver import (  # noqa: F401 (fixture)
    WebhookReceiver,
    webhook_receiver_fixture,
)
from tests.integration.test_api_webhooks import client, make_key, send_mail, start_worker
from tests.support import API_LOOPBACK_TARGETS, Pki, ServerThread


def tables(dns_server, receiver: WebhookReceiver, **api: object) -> dict[str, dict]:
    return {
        "dns": {"nameservers": [dns_server.nameserver], "timeout": 2},
        "delivery": {"enabled": False, "ca_file": str(receiver.ca_file)},
        "api": {"address": "127.0.0.1:0", "allow_unverified_domains": True, **api},
    }


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def second_loopback(tmp_path: Path) -> Iterator[WebhookReceiver]:
    """A receiver on 127.0.0.2 whose certificate also names rebind.test."""
    with WebhookReceiver(tmp_path / "second", host="127.0.0.2", names=("rebind.test",)) as r:
        yield r


def stop_worker_of(server: ServerThread) -> None:
    worker = getattr(server, "webhook_worker", None)
    if worker is not None:
        server.call(worker.stop)


def test_default_config_refuses_private_targets_before_any_connection(
    start_server, pki: Pki, dns_server, webhook_receiver: WebhookReceiver
):
    dns_server.add("internal.test", "A", "10.0.0.1")
    server = start_server(tables=tables(dns_server, webhook_receiver))
    port = webhook_receiver.port
    cases = {
        webhook_receiver.url(): "127.0.0.1 is a loopback address (RFC 1122)",
        f"https://[::1]:{port}/hook": "::1 is a loopback address (RFC 4291)",
        f"https://[::ffff:127.0.0.1]:{port}/hook": "the IPv4-mapped form of 127.0.0.1",
        "https://169.254.169.254/latest/meta-data/": "a link-local address (RFC 3927)",
        "https://internal.test/hook": "internal.test resolves to 10.0.0.1, a private address",
    }
    with client(server, pki, make_key(server)) as api:
        for target, why in cases.items():
            r = api.post("/webhooks", json={"name": "x", "target": target})
            assert r.status_code == 422, (target, r.text)
            (error,) = r.json()["errors"]
            assert error["code"] == "1300"
            assert error["description"].startswith("target: "), error
            assert why in error["description"] and "(rule: private-target)" in error["description"]
        assert api.get("/webhooks").json()["results"] == []
    assert webhook_receiver.requests == [], "nothing was sent to a refused address"
    assert dns_server.queried("internal.test", "A"), "the name was checked after resolution"


def test_the_allow_list_lets_a_range_in_and_nothing_else(
    start_server, pki: Pki, dns_server, webhook_receiver: WebhookReceiver, second_loopback
):
    server = start_server(
        tables=tables(dns_server, webhook_receiver, allowed_private_targets=["127.0.0.2/32"])
    )
    with client(server, pki, make_key(server)) as api:
        refused = api.post("/webhooks", json={"name": "x", "target": webhook_receiver.url()})
        assert refused.status_code == 422, refused.text
        body = {
            "name": "oauth",
            "target": second_loopback.url(),
            "auth_type": "oauth2",
            "auth_request_details": {
                "url": webhook_receiver.token_url,  # 127.0.0.1: not in the allowed range
                "body": {"client_id": "client-1", "client_secret": "s3cret"},
            },
        }
        r = api.post("/webhooks", json=body)
        assert r.status_code == 422, r.text
        description = r.json()["errors"][0]["description"]
        assert description.startswith("auth_request_details.url: 127.0.0.1 is a loopback")
        assert "s3cret" not in r.text
    assert webhook_receiver.requests == [] and second_loopback.requests == []

    allowed = start_server(tables=tables(dns_server, second_loopback, **API_LOOPBACK_TARGETS))
    with client(allowed, pki, make_key(allowed)) as api:
        r = api.post("/webhooks", json={"name": "y", "target": second_loopback.url()})
        assert r.status_code == 200, r.text
    assert [q.path for q in second_loopback.requests] == ["/hook"]


def test_dns_rebinding_cannot_move_a_checked_connection(
    start_server, pki: Pki, dns_server, second_loopback: WebhookReceiver
):
    """The first answer (127.0.0.2, allowed) is checked and connected to; every later
    answer says 127.0.0.1 (refused). Exactly one lookup serves the create + ping, so the ping
    reaches 127.0.0.2; validate and the worker look again and refuse, sending nothing."""
    dns_server.sequence("rebind.test", "A", [["127.0.0.2"], ["127.0.0.1"]])
    server = start_server(
        tables=tables(dns_server, second_loopback, allowed_private_targets=["127.0.0.2/32"])
    )
    target = second_loopback.url(name="rebind.test")
    try:
        with client(server, pki, make_key(server)) as api:
            r = api.post("/webhooks", json={"name": "rebind", "target": target})
            assert r.status_code == 200, r.text
            hook_id = r.json()["results"]["id"]
            assert len(dns_server.queried("rebind.test", "A")) == 1
            (ping,) = second_loopback.requests
            assert ping.json == [{"msys": {}}] and ping.header("host").startswith("rebind.test")

            r = api.post(f"/webhooks/{hook_id}/validate", json={})
            assert r.status_code == 422, r.text
            assert "rebind.test resolves to 127.0.0.1" in r.json()["errors"][0]["description"]

            start_worker(server)
            send_mail(server, "ann@example.test")

            def refused_batch(_r: WebhookReceiver) -> bool:
                rows = api.get(f"/webhooks/{hook_id}/batch-status").json()["results"]
                return any(row.get("failure_code") == "target_refused" for row in rows)

            second_loopback.wait_for(refused_batch)
            shown = api.get(f"/webhooks/{hook_id}").json()["results"]
            assert shown["last_failure"] and shown["last_successful"] is None
        assert len(second_loopback.requests) == 1, "only the checked ping was ever sent"
    finally:
        stop_worker_of(server)


def test_no_answer_tells_open_from_closed_ports_or_relays_internal_content(
    start_server, pki: Pki, dns_server, webhook_receiver: WebhookReceiver, smtp_sink, tmp_path
):
    server = start_server(tables=tables(dns_server, webhook_receiver, **API_LOOPBACK_TARGETS))
    ssh = smtp_sink(replies={"BANNER": b"SSH-2.0-OpenSSH_9.6 internal-build-42\r\n"})
    with client(server, pki, make_key(server)) as api:
        descriptions = set()
        with WebhookReceiver(tmp_path / "untrusted") as stranger:
            for target in (
                f"https://127.0.0.1:{closed_port()}/hook",  # nothing listens: refused
                f"https://127.0.0.1:{ssh.port}/hook",  # open, another service's banner
                stranger.url(),  # open, HTTPS with a certificate nobody trusts
            ):
                r = api.post("/webhooks", json={"name": "probe", "target": target})
                assert r.status_code == 400, r.text
                descriptions.add(r.json()["errors"][0]["description"])
        assert descriptions == {
            "the test POST to target failed: no HTTP response (connection refused or reset, "
            "timed out, or TLS failed)"
        }
        assert "internal-build-42" not in str(descriptions)

        webhook_receiver.response_body = b'{"internal": "secret-123"}'
        r = api.post("/webhooks", json={"name": "ok", "target": webhook_receiver.url()})
        hook_id = r.json()["results"]["id"]
        r = api.post(f"/webhooks/{hook_id}/validate", json={"message": {"msys": {}}})
        assert r.status_code == 200, r.text
        response = r.json()["results"]["response"]
        assert response == {"status": 200, "headers": {}, "body": ""}
        assert "secret-123" not in r.text
        assert webhook_receiver.hook_requests()[-1].json == {"msys": {}}


def test_the_worker_never_resolves_a_target_itself():
    """The webhook sender's HTTP transport refuses any host it was not handed a checked
    address for: a second, unchecked lookup is impossible by construction."""

    async def attempt() -> str:
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        async with httpx.AsyncClient(
            transport=PinnedTransport(verify=verifying(None), limits=limits)
        ) as http:
            try:
                await http.get("https://localhost:1/")
            except httpx.ConnectError as exc:
                return str(exc)
        return "connected"

    assert asyncio.run(attempt()) == "localhost: not cleared by the egress rule"
