"""``/api/v1/sending-domains`` over real HTTPS against the real server, with the DKIM records in
a real DNS server on loopback (reference section 6; issue 4 item 8).

Create (generated and brought keys), list/get/put/delete, verify against published, missing,
garbled and wrong records; private keys are sealed in the store (never a file, never in the
clear in the database) and never appear in a response;
after verification, mail From: the domain is signed with its key and the signature verifies
with dkimpy against the record the DNS server serves.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from pathlib import Path

import dkim as dkimpy
import dns.resolver
import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from sealpost.api_keys import create_key
from sealpost.domains.signers import SigningKeys
from sealpost.model.envelope import Envelope, InboundMessage, SessionInfo
from sealpost.submission.door import Submission
from tests.fixtures.dns_server import DnsServer
from tests.support import Pki, ServerThread

BASE = "/api/v1/sending-domains"


@pytest.fixture
def dserver(start_server: Callable[..., ServerThread], dns_server: DnsServer) -> ServerThread:
    return start_server(tables={"dns": {"nameservers": [dns_server.nameserver], "timeout": 2.0}})


class Api:
    """An HTTPS client that remembers every response body, to check none leaks a key."""

    def __init__(self, server: ServerThread, pki: Pki) -> None:
        key, _ = server.call(lambda: create_key(server.app.store, "test", 0.0))
        self.client = httpx.Client(
            base_url=f"https://127.0.0.1:{server.ports['api']}",
            verify=pki.client_context(),
            headers={"Authorization": key},
            timeout=30,
        )
        self.bodies: list[str] = []

    def __call__(self, method: str, path: str, **kwargs: object) -> httpx.Response:
        response = self.client.request(method, path, **kwargs)  # type: ignore[arg-type]
        self.bodies.append(response.text)
        return response

    def assert_no_key_material(self, *secrets: bytes) -> None:
        everything = "\n".join(self.bodies)
        assert "PRIVATE KEY" not in everything and "key_file" not in everything
        assert "/dkim/" not in everything
        for secret in secrets:  # the second half: private exponent and primes, past n and e
            body = b"".join(secret.strip().splitlines()[1:-1]).decode()
            for i in range(len(body) // 2, len(body) - 40, 40):
                assert body[i : i + 40] not in everything


@pytest.fixture
def api(dserver: ServerThread, pki: Pki) -> Iterator[Api]:
    client = Api(dserver, pki)
    yield client
    client.client.close()


def data_dir(server: ServerThread) -> Path:
    return Path(server.config.server.data_dir)


def stored_pem(server: ServerThread, domain: str, selector: str) -> bytes | None:
    """The private key the server keeps for ``selector._domainkey.domain``, opened with its
    key-encryption key (None when it keeps none); the stored blob holds no PEM."""
    assert server.app is not None and server.app.secret is not None
    sealed = server.call(lambda: server.app.store.dkim_key(domain, selector))
    if sealed is None:
        return None
    assert b"PRIVATE KEY" not in sealed
    return server.app.secret.unseal(domain, selector, sealed)


def signing_keys(server: ServerThread) -> SigningKeys:
    """The server's SigningKeys (the same object Submission signs with)."""
    assert server.app is not None
    return server.app.signing_keys


def publish(dns_server: DnsServer, domain: str, dkim: dict[str, str], value: str | None = None):
    name = f"{dkim['selector']}._domainkey.{domain}"
    dns_server.remove(name)
    dns_server.add(name, "TXT", value or f"v=DKIM1; k=rsa; p={dkim['public']}")


def test_create_generates_a_key_and_returns_the_record_to_publish(dserver: ServerThread, api: Api):
    r = api("POST", BASE, json={"domain": "Example.COM", "tracking_domain": "t.example.com"})
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert results["message"] == "Successfully Created domain."
    assert results["domain"] == "example.com"
    dkim = results["dkim"]
    assert dkim["signing_domain"] == "example.com" and dkim["headers"] == "from:to:subject:date"
    assert dkim["selector"].startswith("scph") and len(dkim["selector"]) == 8
    assert not (data_dir(dserver) / "dkim").exists(), "no key file"
    pem = stored_pem(dserver, "example.com", dkim["selector"])
    assert pem is not None
    private = serialization.load_pem_private_key(pem, password=None)
    assert isinstance(private, rsa.RSAPrivateKey) and private.key_size == 2048
    der = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert dkim["public"] == base64.b64encode(der).decode()
    again = api("POST", f"{BASE}/", json={"domain": "example.com."})
    assert again.status_code == 409 and again.json()["errors"][0]["code"] == "1602"
    api.assert_no_key_material(pem)


def test_create_with_a_brought_key_and_bad_input(dserver: ServerThread, api: Api):
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    bare = "".join(pem.decode().splitlines()[1:-1])
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    public = base64.b64encode(der).decode()
    body = {"domain": "byo.test", "dkim": {"private": bare, "public": public, "selector": "byo"}}
    r = api("POST", BASE, json={**body, "unknown_field": 1})
    assert r.status_code == 200, r.text
    assert r.json()["results"]["dkim"] == {
        "signing_domain": "byo.test",
        "public": public,
        "selector": "byo",
        "headers": "from:to:subject:date",
    }
    kept = stored_pem(dserver, "byo.test", "byo")
    assert kept is not None
    stored = serialization.load_pem_private_key(kept, password=None)
    assert stored.public_key().public_numbers() == key.public_key().public_numbers()  # type: ignore[union-attr]
    cases = [
        ({}, 422, "1400", "domain"),
        ({"domain": "not a domain"}, 422, "1300", "domain"),
        ({"domain": "../../etc"}, 422, "1300", "domain"),
        ({"domain": "a.test", "dkim_key_length": 512}, 422, "1300", "dkim_key_length"),
        ({"domain": "a.test", "dkim": {"private": "garbage"}}, 422, "1300", "dkim.private"),
        (
            {"domain": "a.test", "dkim": {"private": bare, "public": public[:-8] + "AAAAAAA="}},
            422,
            "1300",
            "dkim.public",
        ),
        ({"domain": "a.test", "dkim": {"selector": "bad/sel"}}, 422, "1300", "dkim.selector"),
    ]
    for request, status, code, field in cases:
        r = api("POST", BASE, json=request)
        assert r.status_code == status, (request, r.text)
        error = r.json()["errors"][0]
        assert error["code"] == code and field in error["description"], (request, r.text)
    assert set(dserver.call(dserver.app.store.dkim_keys)) == {("byo.test", "byo")}
    api.assert_no_key_material(pem, kept)


def test_list_get_put_delete(dserver: ServerThread, api: Api):
    for name in ("one.test", "two.test"):
        assert api("POST", BASE, json={"domain": name, "dkim_key_length": 1024}).status_code == 200
    listed = api("GET", BASE).json()["results"]
    assert [d["domain"] for d in listed] == ["one.test", "two.test"]
    first = listed[0]
    assert first["status"]["dkim_status"] == "unverified"
    assert first["status"]["ownership_verified"] is False
    assert set(first["dkim"]) == {"signing_domain", "public", "selector", "headers"}
    assert api("GET", BASE, params={"dkim_status": "valid"}).json() == {"results": []}
    assert api("GET", BASE, params={"ownership_verified": "false"}).json()["results"] == listed
    assert api("GET", BASE, params={"dkim_status": "bogus"}).status_code == 422
    one = api("GET", f"{BASE}/One.Test").json()["results"]
    assert "domain" not in one and one["dkim"] == first["dkim"]
    missing = api("GET", f"{BASE}/nowhere.test")
    assert missing.status_code == 404 and missing.json()["errors"][0]["code"] == "1600"
    put = api("PUT", f"{BASE}/one.test", json={"tracking_domain": "t.one.test"})
    assert put.status_code == 200
    assert put.json() == {
        "results": {"message": "Successfully Updated Domain.", "domain": "one.test"}
    }
    assert api("GET", f"{BASE}/one.test").json()["results"]["tracking_domain"] == "t.one.test"
    assert api("PUT", f"{BASE}/nowhere.test", json={}).status_code == 404
    assert stored_pem(dserver, "one.test", first["dkim"]["selector"]) is not None
    gone = api("DELETE", f"{BASE}/one.test")
    assert gone.status_code == 204 and gone.content == b""
    assert stored_pem(dserver, "one.test", first["dkim"]["selector"]) is None
    assert api("GET", f"{BASE}/one.test").status_code == 404
    assert api("DELETE", f"{BASE}/one.test").status_code == 404
    assert [d["domain"] for d in api("GET", BASE).json()["results"]] == ["two.test"]
    api.assert_no_key_material()


def _dnsfunc(dns_server: DnsServer) -> Callable[..., bytes]:
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [dns_server.host]
    resolver.port = dns_server.port

    def dnsfunc(name: bytes, timeout: int = 5) -> bytes:
        answer = resolver.resolve(name.decode().rstrip("."), "TXT", lifetime=timeout)
        return b"".join(answer[0].strings)

    return dnsfunc


def _message(sender: str) -> InboundMessage:
    data = (
        f"From: Ann <{sender}>\r\nTo: bob@example.net\r\nSubject: hello\r\n"
        "Date: Thu, 01 Jan 2026 00:00:00 +0000\r\nMessage-ID: <m1@example.com>\r\n"
        "\r\nHi Bob.\r\n"
    ).encode()
    session = SessionInfo(listener="api", client_ip="127.0.0.1", client_port=0, auth_user="k")
    return InboundMessage(
        Envelope(mail_from=sender, recipients=("bob@example.net",)), session, data
    )


def _submit_and_read(server: ServerThread, keys: SigningKeys, sender: str) -> bytes:
    submission = Submission(server.app.store, signer=keys)  # type: ignore[arg-type, union-attr]

    async def go() -> bytes:
        accepted = await submission.submit(_message(sender))
        stored = await server.app.store.get(accepted.message_id)  # type: ignore[union-attr]
        return stored.message.data

    return server.call(go)


def test_verify_success_then_mail_is_signed_with_the_domain_key(
    dserver: ServerThread, api: Api, dns_server: DnsServer
):
    keys = signing_keys(dserver)
    created = api("POST", BASE, json={"domain": "example.com"}).json()["results"]
    unsigned = _submit_and_read(dserver, keys, "ann@example.com")
    assert b"DKIM-Signature" not in unsigned, "an unverified domain is not signed for"
    publish(dns_server, "example.com", created["dkim"])  # 2048 bits: several TXT strings
    r = api("POST", f"{BASE}/example.com/verify", json={"dkim_verify": True})
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert results["dkim_status"] == "valid" and results["ownership_verified"] is True
    assert results["dns"]["dkim_error"] is None
    assert created["dkim"]["public"] in results["dns"]["dkim_record"]
    listed = api("GET", BASE, params={"ownership_verified": "true"}).json()["results"]
    assert [d["domain"] for d in listed] == ["example.com"]
    assert keys.signer() is not None and keys.is_verified("example.com")
    signed = _submit_and_read(dserver, keys, "ann@example.com")
    signature = signed[signed.index(b"DKIM-Signature:") :]
    assert b"d=example.com" in signature
    assert f"s={created['dkim']['selector']}".encode() in signature
    assert dkimpy.DKIM(signature).verify(dnsfunc=_dnsfunc(dns_server))
    other = _submit_and_read(dserver, keys, "ann@elsewhere.test")
    assert b"DKIM-Signature" not in other
    assert api("DELETE", f"{BASE}/example.com").status_code == 204
    assert keys.signer() is None, "deleting the domain stops its signing"
    api.assert_no_key_material()


@pytest.mark.parametrize(
    ("record", "why"),
    [
        (None, "no DKIM TXT record"),
        ("v=DKIM1; k=rsa", "missing a p= tag"),
        ("v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA", "not this domain"),
        ("v=DKIM1; k=ed25519; p={public}", "k= must be rsa"),
        ("v=DKIM1; k=rsa; {public}", "not a DKIM tag list"),
        ("v=DKIM1 p={public}", "v= must be DKIM1"),
    ],
)
def test_verify_failure_marks_dkim_invalid(
    api: Api, dns_server: DnsServer, record: str | None, why: str
):
    created = api("POST", BASE, json={"domain": "bad.test", "dkim_key_length": 1024}).json()
    dkim = created["results"]["dkim"]
    if record is not None:
        publish(dns_server, "bad.test", dkim, record.format(public=dkim["public"]))
    r = api("POST", f"{BASE}/bad.test/verify", json={"dkim_verify": True})
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert results["dkim_status"] == "invalid" and results["ownership_verified"] is False
    assert why in results["dns"]["dkim_error"]
    stored = api("GET", f"{BASE}/bad.test").json()["results"]["status"]
    assert stored["dkim_status"] == "invalid"
    assert api("POST", f"{BASE}/nowhere.test/verify", json={"dkim_verify": True}).status_code == 404


def test_put_with_a_new_key_needs_it_published_first(
    dserver: ServerThread, api: Api, dns_server: DnsServer
):
    created = api("POST", BASE, json={"domain": "rotate.test", "dkim_key_length": 1024}).json()
    old_selector = created["results"]["dkim"]["selector"]
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    new = {"private": pem.decode(), "selector": "rot2"}
    r = api("PUT", f"{BASE}/rotate.test", json={"dkim": new})
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == "1404"
    assert "DNS DKIM query error" in r.json()["errors"][0]["message"] or "no DKIM" in r.text
    publish(
        dns_server, "rotate.test", {"selector": "rot2", "public": base64.b64encode(der).decode()}
    )
    r = api("PUT", f"{BASE}/rotate.test", json={"dkim": new})
    assert r.status_code == 200, r.text
    now = api("GET", f"{BASE}/rotate.test").json()["results"]
    assert now["dkim"]["selector"] == "rot2" and now["status"]["dkim_status"] == "valid"
    assert stored_pem(dserver, "rotate.test", "rot2") == pem
    assert stored_pem(dserver, "rotate.test", old_selector) is None, "rotated: forgotten"
    api.assert_no_key_material(pem)


def test_openapi_lists_the_sending_domain_operations(api: Api):
    paths = api("GET", "/api/v1/openapi.json").json()["paths"]
    assert {"post", "get"} <= set(paths[BASE])
    assert {"get", "put", "delete"} <= set(paths[f"{BASE}/{{domain}}"])
    assert "post" in paths[f"{BASE}/{{domain}}/verify"]


def test_generated_requests_never_get_a_server_error(dserver: ServerThread, api: Api, pki: Pki):
    """Schemathesis on the sending-domain operations only (the whole API has its own run)."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings

    base = f"https://127.0.0.1:{dserver.ports['api']}"
    schema = schemathesis.openapi.from_url(f"{base}/api/v1/openapi.json", verify=str(pki.ca_file))
    key = api.client.headers["Authorization"]
    failures: list[str] = []
    calls: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if not operation.path.startswith(BASE):
            continue

        @given(case=operation.as_strategy())
        @settings(
            max_examples=30,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def exercise(case) -> None:
            response = case.call(
                base_url=base, headers={"Authorization": key}, verify=str(pki.ca_file), timeout=30
            )
            calls.append(f"{case.method} {case.operation.path} {response.status_code}")
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path} -> {response.text[:200]}")

        exercise()
    assert not failures, "\n".join(failures)
    assert len({c.rsplit(" ", 1)[0] for c in calls}) == 6, "every operation was exercised"
