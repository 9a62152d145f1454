"""X-MSYS-API over the wire (issue 15 part 5): an application injecting over implicit TLS
with AUTH gets SparkPost's SMTP API: the header's campaign, metadata and tags land in the
events as the transmissions API puts them, the header itself is removed before DKIM signing
(never sent to recipients), and an unusable header is refused after the dot with nothing
queued. Mail relayed from outside (no AUTH) keeps its headers."""

from __future__ import annotations

import json
import smtplib
from pathlib import Path

import dkim as dkimpy
import pytest

from tests.integration.test_sender_domains import (
    _dkim_keys,
    _dns,
    _key,
    _signing_domains,
    queued,
)
from tests.support import Pki, ServerThread

API = {
    "campaign_id": "spring-sale",
    "metadata": {"order": 991},
    "tags": ["news"],
    "options": {"transactional": True, "open_tracking": False},
}


@pytest.fixture
def signing_server(start_server, tmp_path: Path) -> ServerThread:
    return start_server(tables={"[[dkim.keys]]": _dkim_keys(tmp_path, ("tenant.test",))})


def inject(server: ServerThread, pki: Pki, key: str, header: str) -> tuple[int, str]:
    message = (
        "From: Shop <news@tenant.test>\r\n"
        f"X-MSYS-API: {header}\r\n"
        "To: far@remote.test\r\nSubject: hi\r\n\r\nhello\r\n"
    ).encode()
    with smtplib.SMTP_SSL(
        "127.0.0.1", server.ports["submissions"], timeout=10, context=pki.client_context()
    ) as client:
        client.login("SMTP_Injection", key)
        client.mail("news@tenant.test")
        client.rcpt("far@remote.test")
        code, text = client.data(message)
    return code, text.decode()


def test_the_header_is_applied_and_removed_before_signing(signing_server: ServerThread, pki: Pki):
    key = _key(signing_server, "tenant.test")
    code, _ = inject(signing_server, pki, key, json.dumps(API))
    assert code == 250
    [stored] = queued(signing_server)
    assert b"x-msys-api" not in stored.message.data.lower()
    assert _signing_domains(stored.message.data) == ["tenant.test"]
    assert dkimpy.verify(stored.message.data, dnsfunc=_dns)
    events = signing_server.call(lambda: signing_server.app.store.list_events(limit=10))
    [injection] = [e for e in events if e.type == "injection"]
    fields = injection.fields
    assert fields["campaign_id"] == "spring-sale" and fields["rcpt_meta"] == {"order": 991}
    assert fields["rcpt_tags"] == ["news"] and fields["transactional"] == "1"


def test_an_unusable_header_is_refused_after_the_dot(signing_server: ServerThread, pki: Pki):
    key = _key(signing_server, "tenant.test")
    code, text = inject(signing_server, pki, key, '{"campaign_id": 7}')
    assert code == 554 and text.startswith("5.6.0 ") and "campaign_id" in text
    assert queued(signing_server) == []


def test_relayed_mail_keeps_the_header(start_server, pki: Pki):
    server = start_server()
    message = b'From: x@far.test\r\nX-MSYS-API: {"campaign_id": 7}\r\n\r\nhi\r\n'
    with smtplib.SMTP("127.0.0.1", server.ports["mx"], timeout=10) as client:
        client.starttls(context=pki.client_context())
        assert client.sendmail("x@far.test", ["user@example.test"], message) == {}
    [stored] = queued(server)
    assert b'X-MSYS-API: {"campaign_id": 7}' in stored.message.data
