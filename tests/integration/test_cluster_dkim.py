"""Sending domains' DKIM keys on a cluster (issue 13): the store holds them, sealed under the
cluster's key-encryption key, so every node signs with them.

Two (or three) real ``Sealpost`` nodes, each in its own thread with its own directory, node
id, listeners and HTTPS API, on one PostgreSQL database; the DKIM records in a real DNS
server on loopback; the loopback SMTP sink as the destination. Proved here: a domain created
(with a generated key) and verified through node a's API signs mail that node b accepts
through its own API and delivers, and the signature verifies with dkimpy against the record
the DNS server serves, although a wrote no file b could read; a new key under a new
selector given through a (a rotation) signs b's next message, and the old key is gone from
the store; a node with another key-encryption key logs an error naming ``[dkim]
key_encryption_key_file`` and does not sign, and once the store holds keys a node with
another file, or none, refuses to start; no log record of either node, at DEBUG, holds the
private key or the key-encryption key. Every wait is bounded.
"""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import dkim as dkimpy
import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from sealpost.api_keys import create_key
from sealpost.config.loader import load_config
from sealpost.dkim.sealing import create_secret
from tests.fixtures.dns_server import DnsServer
from tests.fixtures.smtp_sink import SmtpSink
from tests.integration.test_api_sending_domains import _dnsfunc as dnsfunc
from tests.support import Pki, ServerThread, make_pki, write_config

BOUND = 20.0  # seconds: generous; a notification takes well under one
DOMAINS = "/api/v1/sending-domains"


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return make_pki(tmp_path / "pki")


@pytest.fixture
def shared_secret(tmp_path: Path) -> Path:
    """The cluster's key-encryption key, one file every node's config names."""
    path = tmp_path / "cluster" / "dkim-secret.key"
    assert create_secret(path)
    return path


@pytest.fixture
def node(
    tmp_path: Path, pki: Pki, pg_url: str, dns_server: DnsServer, shared_secret: Path
) -> Iterator[Callable[..., ServerThread]]:
    """``node(name, sink=None, secret=shared)``: a started node on the test's database; with
    a ``sink``, it delivers mail for example.test there."""
    started: list[ServerThread] = []

    def configure(name: str, sink: SmtpSink | None = None, secret: Path | None = None) -> Path:
        directory = tmp_path / name
        directory.mkdir()
        delivery: dict[str, object] = {"enabled": False}
        tables: dict[str, dict[str, object]] = {}
        if sink is not None:
            delivery = {"enabled": True, "default_tls": "may", "poll_interval": 1.0}
            tables["delivery.routes"] = {"example.test": f"127.0.0.1:{sink.port}"}
        return write_config(
            directory,
            pki,
            listeners=[{"name": "mx", "tls": "none"}],
            store_url=pg_url,
            tables={
                "cluster": {"node_id": name},
                "dns": {"nameservers": [dns_server.nameserver], "timeout": 2.0},
                "dkim": {"key_encryption_key_file": str(secret or shared_secret)},
                "delivery": delivery,
                **tables,
            },
        )

    def start(name: str, **options: object) -> ServerThread:
        server = ServerThread(load_config(configure(name, **options))).start()  # type: ignore[arg-type]
        started.append(server)
        return server

    start.configure = configure  # type: ignore[attr-defined]
    yield start
    for server in started:
        server.stop()


def api_client(server: ServerThread, pki: Pki) -> httpx.Client:
    key, _ = server.call(lambda: create_key(server.app.store, "test", time.time()))
    return httpx.Client(
        base_url=f"https://127.0.0.1:{server.ports['api']}",
        verify=pki.client_context(),
        headers={"Authorization": key},
        timeout=30,
    )


def until(condition: Callable[[], bool], what: str) -> None:
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > BOUND:
            raise AssertionError(f"not within {BOUND} s: {what}")
        time.sleep(0.05)


def signs_for(server: ServerThread, domain: str) -> bool:
    assert server.app is not None
    head = f"From: a@{domain}\r\nTo: b@example.test\r\nSubject: s\r\n\r\nbody\r\n".encode()
    return f"d={domain};".encode() in server.app.signing_keys.sign(head)


def signs_with(server: ServerThread, domain: str, selector: str) -> bool:
    assert server.app is not None
    head = f"From: a@{domain}\r\nTo: b@example.test\r\nSubject: s\r\n\r\nbody\r\n".encode()
    return f"s={selector};".encode() in server.app.signing_keys.sign(head)


def create_and_verify(
    api: httpx.Client, dns_server: DnsServer, domain: str, dkim: dict | None = None
) -> dict[str, str]:
    body: dict[str, object] = {"domain": domain, "dkim_key_length": 1024}
    if dkim is not None:
        body["dkim"] = dkim
    created = api.post(DOMAINS, json=body)
    assert created.status_code == 200, created.text
    record = created.json()["results"]["dkim"]
    name = f"{record['selector']}._domainkey.{domain}"
    dns_server.add(name, "TXT", f"v=DKIM1; k=rsa; p={record['public']}")
    verified = api.post(f"{DOMAINS}/{domain}/verify", json={"dkim_verify": True})
    assert verified.json()["results"]["dkim_status"] == "valid", verified.text
    return record


def transmit(api: httpx.Client, sender: str, subject: str) -> None:
    request = {
        "recipients": [{"address": "bob@example.test"}],
        "content": {"from": sender, "subject": subject, "text": "Hello from the cluster."},
    }
    r = api.post("/api/v1/transmissions", json=request)
    assert r.status_code == 200 and r.json()["results"]["total_accepted_recipients"] == 1, r.text


def test_a_domain_made_through_node_a_signs_mail_node_b_delivers(
    node, pki: Pki, dns_server: DnsServer, smtp_sink: Callable[..., SmtpSink], tmp_path: Path
) -> None:
    sink = smtp_sink()
    a, b = node("a"), node("b", sink=sink)
    with api_client(a, pki) as on_a:
        record = create_and_verify(on_a, dns_server, "shop.test")
    assert not (tmp_path / "a" / "var" / "dkim").exists(), "in the store, not a file of a"
    until(lambda: signs_for(b, "shop.test"), "b signs for the domain a made")
    with api_client(b, pki) as on_b:
        transmit(on_b, "Ann <ann@shop.test>", "signed by b")
    until(lambda: len(sink.messages) == 1, "b delivers the message to the sink")
    delivered = sink.messages[0].body
    assert delivered.startswith(b"DKIM-Signature:") or b"\r\nDKIM-Signature:" in delivered
    assert f"s={record['selector']}".encode() in delivered and b"d=shop.test" in delivered
    assert dkimpy.verify(delivered, dnsfunc=dnsfunc(dns_server)), "the signature verifies"

    # Rotation: a new key under a new selector, published, then given through a's API.
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    public = base64.b64encode(der).decode()
    dns_server.add("rot2._domainkey.shop.test", "TXT", f"v=DKIM1; k=rsa; p={public}")
    with api_client(a, pki) as on_a:
        new = {"private": pem.decode(), "selector": "rot2"}
        assert on_a.put(f"{DOMAINS}/shop.test", json={"dkim": new}).status_code == 200
    until(lambda: signs_with(b, "shop.test", "rot2"), "b signs with the rotated key")
    with api_client(b, pki) as on_b:
        transmit(on_b, "Ann <ann@shop.test>", "signed after the rotation")
    until(lambda: len(sink.messages) == 2, "b delivers the second message")
    rotated = sink.messages[1].body
    assert b"s=rot2" in rotated and f"s={record['selector']}".encode() not in rotated
    assert dkimpy.verify(rotated, dnsfunc=dnsfunc(dns_server)), "the new signature verifies"
    assert b.call(lambda: b.app.store.dkim_key("shop.test", record["selector"])) is None


def test_a_node_with_another_key_encryption_key_fails_clearly(
    node, pki: Pki, dns_server: DnsServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    other = tmp_path / "other-secret.key"
    assert create_secret(other)
    a = node("a")
    c = node("c", secret=other)  # the store holds no key yet: nothing tells it is wrong
    with caplog.at_level(logging.ERROR, logger="sealpost.domains"):
        with api_client(a, pki) as on_a:
            create_and_verify(on_a, dns_server, "shop.test")
        until(lambda: any("shop.test" in r.getMessage() for r in caplog.records), "c reloads")
    assert not signs_for(c, "shop.test")
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert any(
        "shop.test: DKIM key not loaded" in m
        and "[dkim] key_encryption_key_file" in m
        and str(other) in m
        and "every node of a cluster needs the same file" in m
        for m in errors
    ), errors
    # Now that the store holds keys, a node with another file, or none, does not start.
    with pytest.raises(RuntimeError) as info:
        node("d", secret=other)
    assert "[dkim] key_encryption_key_file" in str(info.value) and str(other) in str(info.value)
    assert a.app is not None and a.app.secret is not None
    assert a.app.secret.key_id in str(info.value), "names the key the store's keys need"
    missing = tmp_path / "nowhere" / "dkim-secret.key"
    with pytest.raises(RuntimeError) as info:
        node("e", secret=missing)
    assert "[dkim] key_encryption_key_file" in str(info.value) and str(missing) in str(info.value)
    assert "copy that file" in str(info.value) and not missing.exists()


def test_no_log_record_holds_the_private_key_or_the_key_encryption_key(
    node,
    pki: Pki,
    dns_server: DnsServer,
    smtp_sink: Callable[..., SmtpSink],
    shared_secret: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    sink = smtp_sink()
    caplog.set_level(logging.DEBUG)
    a, b = node("a"), node("b", sink=sink)
    with api_client(a, pki) as on_a:
        create_and_verify(on_a, dns_server, "logs.test", {"private": pem.decode()})
        bad = on_a.post(
            DOMAINS, json={"domain": "bad.test", "dkim": {"private": pem.decode()[:-80]}}
        )
        assert bad.status_code == 422
    until(lambda: signs_for(b, "logs.test"), "b signs for the domain a made")
    with api_client(b, pki) as on_b:
        transmit(on_b, "ann@logs.test", "logged")
    until(lambda: len(sink.messages) == 1, "b delivers the message")
    text = "\n".join(f"{r.getMessage()} {r.exc_text or ''} {r.args!r}" for r in caplog.records)
    assert len(caplog.records) > 10, "the nodes logged (DEBUG) while they worked"
    assert "PRIVATE KEY" not in text
    body = b"".join(pem.strip().splitlines()[1:-1]).decode()
    for i in range(len(body) // 2, len(body) - 40, 40):  # past the public n and e
        assert body[i : i + 40] not in text
    secret = shared_secret.read_text().strip()
    assert secret not in text and base64.b64decode(secret).hex() not in text
