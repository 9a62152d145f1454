"""Interop: Sealpost delivering to a real Postfix MX (Debian's), found through real DNS.

The message is injected over SMTP submission (AUTH with an API key), routed by an MX record
served by the loopback DNS server, and delivered over STARTTLS to Postfix. The delivery
event records TLS 1.3 and ``verified`` true when the test CA is trusted, false (and still
delivered: level ``may``, RFC 7435) when it is not. With an operator ``verify`` rule and an
untrusted certificate the message is deferred, never sent in the clear.
"""

from __future__ import annotations

import smtplib
import time

import pytest

from sealpost.api_keys import create_key
from tests.interop.conftest import PeerPki, PostfixFactory
from tests.interop.postfix_peer import ReceiverRole
from tests.support import Pki, ServerThread

pytestmark = pytest.mark.interop
WAIT = 20.0
MESSAGE = (
    b"From: alice@sealpost.test\r\nTo: bob@example.net\r\nSubject: outbound\r\n"
    b"Message-ID: <outbound@sealpost.test>\r\n\r\nDelivered by Sealpost.\r\n"
)


def _events(server: ServerThread, kinds: tuple[str, ...]) -> list:
    return server.call(lambda: server.app.store.list_events(types=list(kinds), limit=100))


def _wait_event(server: ServerThread, kinds: tuple[str, ...]) -> list:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        found = _events(server, kinds)
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"no {kinds} event within {WAIT} s; events: {_events(server, ())}")


def _start(
    start_server,
    dns_server,
    receiver_port: int,
    peer_pki: PeerPki | None,
    tls_policy: dict | None = None,
) -> ServerThread:
    dns_server.add("example.net", "MX", (10, "mx.example.test"))
    dns_server.add("mx.example.test", "A", "127.0.0.1")
    delivery = {
        "enabled": True,
        "smtp_port": receiver_port,
        "minimal_backoff": 60,
        "maximal_backoff": 60,
    }
    if peer_pki is not None:
        delivery["ca_file"] = str(peer_pki.ca_file)
    tables = {
        "dns": {"nameservers": [dns_server.nameserver], "timeout": 2},
        "delivery": delivery,
        "mta_sts": {"https_port": 9},
    }
    if tls_policy:
        tables["delivery.tls_policy"] = tls_policy
    return start_server(server={"local_domains": ["sealpost.test"]}, tables=tables)


def _submit(server: ServerThread, pki: Pki) -> None:
    key, _ = server.call(lambda: create_key(server.app.store, "t", 0.0))
    with smtplib.SMTP_SSL(
        "127.0.0.1", server.ports["submissions"], timeout=10, context=pki.client_context()
    ) as client:
        client.ehlo("client.test")
        client.login("SMTP_Injection", key)
        assert client.sendmail("alice@sealpost.test", ["bob@example.net"], MESSAGE) == {}


def _receiver(postfix_peers: PostfixFactory, peer_pki: PeerPki):
    role = ReceiverRole(
        domains=("example.net",), cert_file=peer_pki.cert_file, key_file=peer_pki.key_file
    )
    return postfix_peers("mx", role, myhostname="mx.example.test")


@pytest.mark.parametrize("trusted", [True, False])
def test_delivery_to_postfix_records_tls13_and_verification(
    start_server, dns_server, pki: Pki, peer_pki: PeerPki, postfix_peers, trusted: bool
):
    receiver = _receiver(postfix_peers, peer_pki)
    server = _start(start_server, dns_server, receiver.smtpd_port, peer_pki if trusted else None)
    _submit(server, pki)
    [raw] = receiver.wait_maildir(1, timeout=WAIT)
    assert b"Delivered by Sealpost." in raw
    assert b"with ESMTPS" in raw and b"TLSv1.3" in raw  # Postfix's Received: header
    [event] = _wait_event(server, ("delivery",))
    tls = event.fields["tls"]
    assert event.fields["outbound_tls"] == "1"
    assert tls["version"] == "TLSv1.3" and tls["offered"] is True
    assert tls["verified"] is trusted
    assert tls["level_required"] == "may" and tls["policy_source"] == "default"
    assert tls["peer_name"] == "mx.example.test"
    if not trusted:
        assert tls["verify_error"]
    assert event.rcpt_to == "bob@example.net" and event.fields["ip_address"] == "127.0.0.1"


def test_verify_policy_with_untrusted_certificate_defers_never_plaintext(
    start_server, dns_server, pki: Pki, peer_pki: PeerPki, postfix_peers
):
    receiver = _receiver(postfix_peers, peer_pki)
    server = _start(
        start_server, dns_server, receiver.smtpd_port, None, tls_policy={"example.net": "verify"}
    )
    _submit(server, pki)
    [event] = _wait_event(server, ("delay",))
    assert event.fields["tls"]["level_required"] == "verify"
    assert event.fields["tls"]["policy_source"] == "operator"
    assert event.fields["error_code"].startswith("4")
    assert receiver.maildir_messages() == []
