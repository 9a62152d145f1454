"""A key limited to sender domains (``keys create --domain tenant.test``) over the wire:
implicit TLS on 465 and the HTTPS API, a real server with DKIM keys for the tenant's domain
AND for a domain it does not own (bank.test), the real SQLite queue (issue 10 item 1,
checklist H4, DESIGN section 9)."""

from __future__ import annotations

import smtplib
from pathlib import Path

import dkim as dkimpy
import httpx
import pytest

from sealpost.api_keys import create_key
from sealpost.dkim.keys import generate_key
from sealpost.model.queue import StoredMessage
from tests.support import Pki, ServerThread

TXT: dict[str, str] = {}


def _dkim_keys(tmp_path: Path, domains: tuple[str, ...]) -> list[dict[str, str]]:
    entries = []
    for domain in domains:
        private, txt = generate_key("ed25519-sha256")
        key_file = tmp_path / f"{domain}.key"
        key_file.write_bytes(private)
        TXT[f"s1._domainkey.{domain}."] = txt
        entries.append({"domain": domain, "selector": "s1", "key_file": str(key_file)})
    return entries


@pytest.fixture
def signing_server(start_server, tmp_path: Path) -> ServerThread:
    keys = _dkim_keys(tmp_path, ("bank.test", "tenant.test"))
    return start_server(tables={"[[dkim.keys]]": keys})


def _key(server: ServerThread, *domains: str) -> str:
    key, _ = server.call(lambda: create_key(server.app.store, "tenant", 0.0, domains))
    return key


def queued(server: ServerThread) -> list[StoredMessage]:
    store = server.app.store

    async def read() -> list[StoredMessage]:
        rows = await store.list(limit=1000)
        return [m for r in rows if (m := await store.get(r.id)) is not None]

    return server.call(read)


def _signing_domains(data: bytes) -> list[str]:
    head = data.split(b"\r\n\r\n", 1)[0].decode()
    found = []
    for field in head.replace("\r\n ", " ").replace("\r\n\t", " ").split("\r\n"):
        if field.lower().startswith("dkim-signature:"):
            tags = dict(
                t.strip().split("=", 1) for t in field.split(":", 1)[1].split(";") if "=" in t
            )
            found.append(tags["d"])
    return found


def _dns(name: bytes, timeout: int = 5) -> bytes:
    return TXT[name.decode()].encode()


def send(server: ServerThread, pki: Pki, key: str, mail_from: str, head: str) -> tuple[int, str]:
    """One message over implicit TLS (465) with AUTH; the reply after the final dot."""
    message = (head + "To: far@remote.test\r\nSubject: hi\r\n\r\nhello\r\n").encode()
    with smtplib.SMTP_SSL(
        "127.0.0.1", server.ports["submissions"], timeout=10, context=pki.client_context()
    ) as client:
        client.ehlo("client.test")
        client.login("SMTP_Injection", key)
        assert client.mail(mail_from)[0] == 250
        assert client.rcpt("far@remote.test")[0] == 250
        code, text = client.data(message)
    return code, text.decode()


def test_spoofed_header_from_is_refused_after_the_dot(signing_server: ServerThread, pki: Pki):
    """The issue's reproduction: MAIL FROM the tenant's domain, From: the bank's."""
    key = _key(signing_server, "tenant.test")
    code, text = send(
        signing_server, pki, key, "noreply@tenant.test", "From: CEO <ceo@bank.test>\r\n"
    )
    assert code == 550 and text.startswith("5.7.1 ")
    assert "From" in text and "bank.test" in text
    assert queued(signing_server) == []


def test_null_sender_with_a_foreign_from_is_refused(signing_server: ServerThread, pki: Pki):
    key = _key(signing_server, "tenant.test")
    code, text = send(signing_server, pki, key, "", "From: CEO <ceo@bank.test>\r\n")
    assert code == 550 and text.startswith("5.7.1 ")
    assert queued(signing_server) == []


@pytest.mark.parametrize(
    "head",
    [
        "From: a@tenant.test, ceo@bank.test\r\n",  # RFC 5322 3.6.2: every author counts
        "From: Team: a@tenant.test, ceo@bank.test;\r\n",  # inside a group
        "From: a@tenant.test\r\nSender: ceo@bank.test\r\n",
        "From: a@tenant.test\r\nFrom: ceo@bank.test\r\n",  # a second From
        "Sender: a@tenant.test\r\n",  # no From at all
        "From: x@tenant.test <ceo@bank.test>\r\n",  # the parsers disagree: refused
        "From: undisclosed:;\r\n",  # no address
        "From: a@[192.0.2.1]\r\n",
        "From: a@sub.tenant.test\r\n",  # exact domains, as the MAIL FROM check
    ],
)
def test_every_author_must_be_in_the_key_domains(signing_server: ServerThread, pki: Pki, head: str):
    key = _key(signing_server, "tenant.test")
    code, text = send(signing_server, pki, key, "noreply@tenant.test", head)
    assert (code, text[:6]) == (550, "5.7.1 ")
    assert queued(signing_server) == []


def test_own_from_is_delivered_and_signed_only_for_the_tenant(
    signing_server: ServerThread, pki: Pki
):
    key = _key(signing_server, "tenant.test")
    head = "From: Shop <news@Tenant.TEST>\r\nSender: bot@tenant.test\r\n"
    code, _ = send(signing_server, pki, key, "noreply@tenant.test", head)
    assert code == 250
    [stored] = queued(signing_server)
    assert stored.message.session.sender_domains == frozenset({"tenant.test"})
    assert _signing_domains(stored.message.data) == ["tenant.test"]
    assert dkimpy.verify(stored.message.data, dnsfunc=_dns)


def test_a_parent_domain_key_is_not_used_for_a_tenant_of_a_subdomain(
    start_server, tmp_path: Path, pki: Pki
):
    """bank.test has a key; the tenant owns only shop.bank.test: sent, but not signed
    d=bank.test (we vouch only for domains the key may use)."""
    server = start_server(tables={"[[dkim.keys]]": _dkim_keys(tmp_path, ("bank.test",))})
    key = _key(server, "shop.bank.test")
    code, _ = send(server, pki, key, "a@shop.bank.test", "From: a@shop.bank.test\r\n")
    assert code == 250
    [stored] = queued(server)
    assert _signing_domains(stored.message.data) == []


def test_unrestricted_key_and_relayed_mail(signing_server: ServerThread, pki: Pki, api_key: str):
    """A key without --domain may still send as any configured domain (signed for it);
    mail relayed to a local domain without AUTH is never signed, whatever its From."""
    code, _ = send(signing_server, pki, api_key, "ceo@bank.test", "From: ceo@bank.test\r\n")
    assert code == 250
    with smtplib.SMTP("127.0.0.1", signing_server.ports["mx"], timeout=10) as client:
        client.ehlo("client.test")
        message = b"From: ceo@bank.test\r\nTo: u@example.test\r\nSubject: x\r\n\r\nhi\r\n"
        assert client.sendmail("ceo@bank.test", ["u@example.test"], message) == {}
    by_listener = {m.message.session.listener: m for m in queued(signing_server)}
    assert _signing_domains(by_listener["submissions"].message.data) == ["bank.test"]
    assert _signing_domains(by_listener["mx"].message.data) == []


# -- the HTTPS API ----------------------------------------------------------------------


def _api(server: ServerThread, pki: Pki, key: str) -> httpx.Client:
    return httpx.Client(
        base_url=f"https://127.0.0.1:{server.ports['api']}/api/v1",
        verify=pki.client_context(),
        headers={"Authorization": key},
        timeout=20,
    )


def _inline(**content: object) -> dict[str, object]:
    return {
        "recipients": [{"address": "far@remote.test"}],
        "content": {"from": "news@tenant.test", "subject": "s", "text": "t", **content},
    }


def _rfc822(head: str) -> dict[str, object]:
    text = head + "To: far@remote.test\r\nSubject: s\r\n\r\nbody\r\n"
    return {"recipients": [{"address": "far@remote.test"}], "content": {"email_rfc822": text}}


@pytest.mark.parametrize(
    ("request_body", "field"),
    [
        (_inline(**{"from": "ceo@bank.test"}), "content.from"),
        (_inline(**{"from": {"email": "ceo@bank.test", "name": "CEO"}}), "content.from"),
        ({**_inline(), "return_path": "bounces@bank.test"}, "return_path"),
        (_inline(headers={"Sender": "ceo@bank.test"}), "content.headers.Sender"),
        (
            {**_inline(headers={"Sender": "{{who}}"}), "substitution_data": {"who": "x@bank.test"}},
            "content.headers.Sender",
        ),
        (_rfc822("From: CEO <ceo@bank.test>\r\n"), "content.email_rfc822 (From header)"),
        (_rfc822("From: a@tenant.test, ceo@bank.test\r\n"), "content.email_rfc822 (From header)"),
        (
            _rfc822("From: a@tenant.test\r\nSender: ceo@bank.test\r\n"),
            "content.email_rfc822 (Sender header)",
        ),
    ],
)
def test_api_refuses_a_foreign_sender_with_422(
    signing_server: ServerThread, pki: Pki, request_body: dict[str, object], field: str
):
    key = _key(signing_server, "tenant.test")
    with _api(signing_server, pki, key) as api:
        answer = api.post("/transmissions", json=request_body)
    assert answer.status_code == 422, answer.text
    [error] = answer.json()["errors"]
    assert error["code"] == "7001"
    assert error["description"].startswith(field + ": ")
    assert queued(signing_server) == []


def test_api_own_domain_is_sent_and_signed_for_it(signing_server: ServerThread, pki: Pki):
    key = _key(signing_server, "tenant.test")
    with _api(signing_server, pki, key) as api:
        assert api.post("/transmissions", json=_inline()).status_code == 200
        raw = _rfc822("From: a@tenant.test\r\nSender: b@tenant.test\r\n")
        assert api.post("/transmissions", json=raw).status_code == 200
    stored = queued(signing_server)
    assert len(stored) == 2
    for message in stored:
        assert message.message.session.sender_domains == frozenset({"tenant.test"})
        assert _signing_domains(message.message.data) == ["tenant.test"]
        assert dkimpy.verify(message.message.data, dnsfunc=_dns)
