"""Settings changed through one node hold on the others without a restart (issue 13).

Two real ``Sealpost`` nodes (each in its own thread and event loop, with its own directory,
node id, listeners and HTTPS API) on one PostgreSQL database, the DKIM records in a real DNS
server on loopback. Proved here: a sending domain created and verified through node a's API
is signed for by node b, and no longer once deleted through a; a change that sent no
notification (a row deleted by hand) reaches b through the fingerprint check; an API key
revoked on one node is refused by the other's API and SMTP AUTH at once (no node keeps keys);
a webhook changed through a wakes b's worker. Every wait is bounded by ``BOUND``, far above
the documented ``CHECK_INTERVAL``; the times seen are printed, never asserted.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from sealpost.api_keys import create_key, revoke_key
from sealpost.change_follower import CHECK_INTERVAL
from sealpost.config.loader import load_config
from tests.fixtures.dns_server import DnsServer
from tests.fixtures.webhook_receiver import (  # noqa: F401 (fixture)
    WebhookReceiver,
    webhook_receiver_fixture,
)
from tests.integration.test_process import IMPLICIT, tls_conversation
from tests.support import (
    API_LOOPBACK_TARGETS,
    Conversation,
    Pki,
    ServerThread,
    make_pki,
    write_config,
)

BOUND = 3 * CHECK_INTERVAL + 5  # seconds: generous; a notification takes well under one
DOMAINS = "/api/v1/sending-domains"


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return make_pki(tmp_path / "pki")


@pytest.fixture
def node(
    tmp_path: Path, pki: Pki, pg_url: str, dns_server: DnsServer
) -> Iterator[Callable[[str], ServerThread]]:
    """``node(name, **tables)``: a started node on the test's database, stopped at the end."""
    started: list[ServerThread] = []

    def start(name: str, **tables: dict[str, object]) -> ServerThread:
        directory = tmp_path / name
        directory.mkdir()
        path = write_config(
            directory,
            pki,
            listeners=[IMPLICIT],
            store_url=pg_url,
            tables={
                "cluster": {"node_id": name},
                "dns": {"nameservers": [dns_server.nameserver], "timeout": 2.0},
                "api": API_LOOPBACK_TARGETS,  # the webhook below aims at loopback
                # one key-encryption key for the cluster (the first node to start makes it)
                "dkim": {"key_encryption_key_file": str(tmp_path / "dkim-secret.key")},
                **tables,
            },
        )
        server = ServerThread(load_config(path)).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def client(server: ServerThread, pki: Pki, key: str) -> httpx.Client:
    return httpx.Client(
        base_url=f"https://127.0.0.1:{server.ports['api']}",
        verify=pki.client_context(),
        headers={"Authorization": key},
        timeout=30,
    )


def new_key(server: ServerThread) -> tuple[str, str]:
    """A key made through ``server``'s store: (key, key id)."""
    key, record = server.call(lambda: create_key(server.app.store, "test", time.time()))
    return key, record.id


def until(condition: Callable[[], bool], what: str) -> float:
    """Seconds until ``condition()`` holds; fails after ``BOUND``."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > BOUND:
            raise AssertionError(f"not within {BOUND} s: {what}")
        time.sleep(0.05)
    return time.monotonic() - start


def signs_for(server: ServerThread, domain: str) -> bool:
    assert server.app is not None
    head = f"From: a@{domain}\r\nTo: b@example.test\r\nSubject: s\r\n\r\nbody\r\n".encode()
    signed = server.app.signing_keys.sign(head)
    return server.app.signing_keys.is_verified(domain) and f"d={domain};".encode() in signed


def create_and_verify(api: httpx.Client, dns_server: DnsServer, domain: str, on: ServerThread):
    """Create ``domain`` through ``api`` (a generated key), publish its key record, check
    that ``on`` does not sign for it yet, then verify it through ``api``."""
    created = api.post(DOMAINS, json={"domain": domain})
    assert created.status_code == 200, created.text
    dkim = created.json()["results"]["dkim"]
    name = f"{dkim['selector']}._domainkey.{domain}"
    dns_server.add(name, "TXT", f"v=DKIM1; k=rsa; p={dkim['public']}")
    assert not signs_for(on, domain)
    verified = api.post(f"{DOMAINS}/{domain}/verify", json={"dkim_verify": True})
    assert verified.status_code == 200, verified.text
    assert verified.json()["results"]["dkim_status"] == "valid"


def test_a_domain_verified_through_one_node_is_signed_for_by_the_other(
    node, pki: Pki, dns_server: DnsServer
) -> None:
    a, b = node("a"), node("b")
    key, _ = new_key(a)
    with client(a, pki, key) as api:
        create_and_verify(api, dns_server, "shop.test", on=b)
        took = until(lambda: signs_for(b, "shop.test"), "b signs for the verified domain")
        print(f"verified on a, signed on b after {took:.2f} s")
        assert api.delete(f"{DOMAINS}/shop.test").status_code == 204
    took = until(lambda: not signs_for(b, "shop.test"), "b stops signing for the deleted domain")
    print(f"deleted on a, unsigned on b after {took:.2f} s")


def test_a_change_no_node_announced_is_found_by_the_fingerprint_check(
    node, pki: Pki, dns_server: DnsServer, pg_url: str
) -> None:
    """A lost notification: the row goes without NOTIFY; b notices on its next check."""
    a, b = node("a"), node("b")
    key, _ = new_key(a)
    with client(a, pki, key) as api:
        create_and_verify(api, dns_server, "quiet.test", on=b)
    until(lambda: signs_for(b, "quiet.test"), "b signs for the verified domain")

    async def delete_by_hand() -> None:
        conn = await asyncpg.connect(pg_url)
        try:
            await conn.execute("DELETE FROM documents WHERE kind = 'sending_domain'")
        finally:
            await conn.close()

    asyncio.run(delete_by_hand())
    took = until(lambda: not signs_for(b, "quiet.test"), "b notices the unannounced delete")
    print(f"unannounced delete noticed by b after {took:.2f} s")


def authenticated(server: ServerThread, pki: Pki, key: str) -> tuple[int, Conversation]:
    """A session on ``server``'s port 465 after ``AUTH PLAIN``: its reply code and the session."""
    conv = tls_conversation(server.ports["submissions"], pki)
    assert conv.cmd("EHLO client.test")[0] == 250
    token = base64.b64encode(f"\0SMTP_Injection\0{key}".encode()).decode()
    return conv.cmd(f"AUTH PLAIN {token}")[0], conv


def auth_reply(server: ServerThread, pki: Pki, key: str) -> int:
    code, conv = authenticated(server, pki, key)
    conv.close()
    return code


def send_on(conv: Conversation) -> tuple[int, str]:
    """One message on an authenticated session; the reply after the final dot."""
    assert conv.cmd("MAIL FROM:<a@sender.test>")[0] == 250
    assert conv.cmd("RCPT TO:<far@remote.test>")[0] == 250
    assert conv.cmd("DATA")[0] == 354
    conv.send(b"From: a@sender.test\r\nSubject: s\r\n\r\nbody\r\n.\r\n")
    return conv.reply()


def queued(server: ServerThread) -> int:
    return len(server.call(lambda: server.app.store.list(limit=100)))


def test_a_key_revoked_on_one_node_is_refused_by_the_other_at_once(node, pki: Pki) -> None:
    a, b = node("a"), node("b")
    key, key_id = new_key(a)
    code, session = authenticated(b, pki, key)  # opened before the revocation
    assert code == 235
    assert send_on(session)[0] == 250
    with client(b, pki, key) as api_b:
        assert api_b.get(DOMAINS).status_code == 200
        assert a.call(lambda: revoke_key(a.app.store, key_id, time.time()))
        # No node keeps keys in memory: the very next request on b is refused.
        refused = api_b.get(DOMAINS)
        assert refused.status_code == 401, refused.text
    assert auth_reply(b, pki, key) == 535
    code, text = send_on(session)  # the session authenticated before: nothing more queued
    assert (code, text[:10]) == (554, "554 5.7.8 "), text
    session.close()
    assert queued(b) == 1


def test_a_webhook_changed_through_one_node_wakes_the_other_nodes_worker(
    node, pki: Pki, webhook_receiver: WebhookReceiver
) -> None:
    trust = {"delivery": {"enabled": False, "ca_file": str(webhook_receiver.ca_file)}}
    a, b = node("a", **trust), node("b", **trust)
    assert b.app is not None
    before = b.app.follower.refreshed["webhook"]
    key, _ = new_key(a)
    with client(a, pki, key) as api:
        made = api.post(
            "/api/v1/webhooks",
            json={"name": "w", "target": webhook_receiver.url(), "events": ["delivery"]},
        )
        assert made.status_code == 200, made.text
    took = until(lambda: b.app.follower.refreshed["webhook"] > before, "b's worker is woken")
    print(f"webhook created on a, b's worker woken after {took:.2f} s")
