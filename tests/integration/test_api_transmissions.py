"""POST /api/v1/transmissions over real HTTPS against the real server: the queued bytes,
envelope and event annotations for inline, cc/bcc, attachments, inline images,
substitution, email_rfc822, partial errors, the 7001 domain check and SparkPost's
tolerances (reference sections 2 and 3)."""

from __future__ import annotations

import email
import email.policy
import json
from email.message import EmailMessage
from typing import Any

import httpx

from sealpost.model.document import Document
from sealpost.model.queue import StoredMessage
from tests.support import Pki, ServerThread

PATH = "/api/v1/transmissions"
FROM = "orders@shop.test"


def client(server: ServerThread, pki: Pki, key: str) -> httpx.Client:
    return httpx.Client(
        base_url=f"https://127.0.0.1:{server.ports['api']}",
        verify=pki.client_context(),
        headers={"Authorization": key},
        timeout=20,
    )


def body(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "recipients": [{"address": "ann@example.net"}],
        "content": {"from": FROM, "subject": "Hello", "text": "Hi there"},
    }
    base.update(overrides)
    return base


def content(**fields: Any) -> dict[str, Any]:
    return {"from": FROM, "subject": "Hello", "text": "Hi there", **fields}


def messages(server: ServerThread) -> list[StoredMessage]:
    store = server.app.store

    async def read() -> list[StoredMessage]:
        rows = await store.list(limit=10000)
        return [m for r in rows if (m := await store.get(r.id)) is not None]

    return server.call(read)


def transmission(server: ServerThread, tid: str) -> Document:
    store = server.app.store
    doc = server.call(lambda: store.get_document("transmission", tid))
    assert doc is not None
    return doc


def sent(server: ServerThread, tid: str) -> list[StoredMessage]:
    """The queued messages of a transmission, in recipient order."""
    store = server.app.store
    ids = transmission(server, tid).payload["message_ids"]
    return [server.call(lambda i=i: store.get(i)) for i in ids]


def parsed(message: StoredMessage) -> EmailMessage:
    return email.message_from_bytes(message.message.data, policy=email.policy.default)


def assert_wire_clean(data: bytes) -> None:
    """CRLF only, no line over 998 octets (RFC 5322 section 2.1.1, checklist L3)."""
    assert b"\r" not in data.replace(b"\r\n", b"")
    assert b"\n" not in data.replace(b"\r\n", b"")
    assert all(len(line) <= 998 for line in data.split(b"\r\n"))


def test_inline_message_headers_envelope_and_annotations(
    server: ServerThread, pki: Pki, api_key: str
):
    request = {
        "campaign_id": "order-mails",
        "description": "receipt #991",
        "metadata": {"order": "991", "shop": "x"},
        "recipients": [
            {
                "address": {"email": "ann@example.net", "name": "Ann Example"},
                "tags": ["vip"],
                "metadata": {"uid": "42", "shop": "y"},
            }
        ],
        "content": {
            "from": {"email": FROM, "name": "Shöp"},
            "subject": "Your receipt ✓",
            "reply_to": "Support <help@shop.test>",
            "headers": {"X-Order": "991"},
            "text": "Hi\nthere",
            "html": "<p>Hi</p>",
        },
    }
    with client(server, pki, api_key) as c:
        r = c.post(PATH, json=request)
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert results["total_accepted_recipients"] == 1
    assert results["total_rejected_recipients"] == 0
    assert results["id"].isdigit() and "errors" not in r.json()
    [stored] = sent(server, results["id"])
    data = stored.message.data
    assert_wire_clean(data)
    msg = parsed(stored)
    assert msg["From"] == "Shöp <orders@shop.test>"
    assert msg["To"] == "Ann Example <ann@example.net>"
    assert msg["Subject"] == "Your receipt ✓"
    assert b"Subject: =?utf-8?" in data, "non-ASCII subject is RFC 2047 encoded"
    assert msg["Reply-To"] == "Support <help@shop.test>" and msg["X-Order"] == "991"
    assert msg["Message-ID"].endswith("@mx.example.test>") and msg["Date"]
    assert msg["MIME-Version"] == "1.0"
    assert msg.get_content_type() == "multipart/alternative"
    plain, html = msg.iter_parts()
    assert plain.get_content() == "Hi\r\nthere\r\n"
    assert html.get_content_type() == "text/html" and "<p>Hi</p>" in html.get_content()
    env = stored.message.envelope
    assert env.mail_from == FROM and env.recipients == ("ann@example.net",)
    assert env.body == "7BIT" and not env.smtputf8 and env.tls_minimum is None
    session = stored.message.session
    assert session.listener == "api" and session.auth_user == api_key[:8]
    notes = stored.message.annotations
    assert notes["transmission_id"] == results["id"] and notes["campaign_id"] == "order-mails"
    assert notes["rcpt_meta"] == {"order": "991", "shop": "y", "uid": "42"}
    assert notes["rcpt_tags"] == ["vip"] and notes["template_id"] == "inline"
    store = server.app.store
    [event] = server.call(lambda: store.list_events(types=["injection"]))
    assert event.fields["transmission_id"] == results["id"]
    assert event.fields["rcpt_tags"] == ["vip"] and event.fields["recv_method"] == "rest"
    doc = transmission(server, results["id"]).payload
    assert doc["campaign_id"] == "order-mails" and doc["description"] == "receipt #991"
    assert doc["num_rcpts"] == 1 and doc["options"]["tls"] == "may"


def test_python_client_cc_and_bcc_shape(server: ServerThread, pki: Pki, api_key: str):
    primary = '"Primary Person" <primary@example.com>'
    request = {
        "recipients": [
            {"address": {"email": "primary@example.com", "name": "Primary Person"}},
            {"address": {"email": "cc1@example.com", "name": "Carbon", "header_to": primary}},
            {"address": {"email": "bcc@example.com", "header_to": primary}},
        ],
        "content": content(headers={"CC": "Carbon <cc1@example.com>,cc2@example.com"}),
        "return_path": "bounce@shop.test",
        "unknown_kw": "passes through",
        "cc": ["ignored@example.com"],
    }
    with client(server, pki, api_key) as c:
        r = c.post(PATH, json=request)
    assert r.status_code == 200, r.text
    assert r.json()["results"]["total_accepted_recipients"] == 3
    copies = sent(server, r.json()["results"]["id"])
    assert [m.message.envelope.recipients for m in copies] == [
        ("primary@example.com",),
        ("cc1@example.com",),
        ("bcc@example.com",),
    ]
    for m in copies:
        msg = parsed(m)
        assert msg["To"] == "Primary Person <primary@example.com>"
        assert msg["Cc"] == "Carbon <cc1@example.com>, cc2@example.com"
        assert m.message.envelope.mail_from == "bounce@shop.test"
        assert b"ignored@example.com" not in m.message.data


def test_header_to_rules(server: ServerThread, pki: Pki, api_key: str):
    request = body(
        recipients=[
            {"address": {"email": "a@example.net", "name": "A", "header_to": "shown@example.net"}},
            {"address": {"email": "b@example.net", "header_to": "x@example.net, y@example.net"}},
            {"address": {"email": "c@example.net", "name": 'Quote "Me"'}},
            "Dee <d@example.net>",
        ]
    )
    with client(server, pki, api_key) as c:
        r = c.post(PATH, json=request)
    assert r.status_code == 200, r.text
    tos = [parsed(m)["To"] for m in sent(server, r.json()["results"]["id"])]
    assert tos == [
        "A <shown@example.net>",
        "x@example.net, y@example.net",
        '"Quote \\"Me\\"" <c@example.net>',
        "Dee <d@example.net>",
    ]


def test_attachments_and_inline_images(server: ServerThread, pki: Pki, api_key: str):
    payload = b"%PDF-1.4\n" + bytes(range(256)) * 10
    import base64

    request = body(
        content=content(
            html='<p><img src="cid:logo"></p>',
            attachments=[
                {
                    "name": 'Rëport "2026".pdf',
                    "type": "application/pdf",
                    "data": base64.encodebytes(payload).decode(),  # with newlines: tolerated
                }
            ],
            inline_images=[{"name": "logo", "type": "image/png", "data": "iVBORw0KGgo="}],
        )
    )
    with client(server, pki, api_key) as c:
        r = c.post(PATH, json=request)
    assert r.status_code == 200, r.text
    [stored] = sent(server, r.json()["results"]["id"])
    assert_wire_clean(stored.message.data)
    msg = parsed(stored)
    assert msg.get_content_type() == "multipart/mixed"
    body_part, file_part = msg.iter_parts()
    assert body_part.get_content_type() == "multipart/alternative"
    _plain, related = body_part.iter_parts()
    assert related.get_content_type() == "multipart/related"
    html, image = related.iter_parts()
    assert html.get_content_type() == "text/html"
    assert image["Content-ID"] == "<logo>" and image.get_content() == b"\x89PNG\r\n\x1a\n"
    assert file_part.get_filename() == 'Rëport "2026".pdf'
    assert file_part.get_content_disposition() == "attachment"
    assert file_part.get_content() == payload
    assert max(len(line) for line in stored.message.data.split(b"\r\n")) <= 78


def test_substitution_recipient_over_global_and_html_escaping(
    server: ServerThread, pki: Pki, api_key: str
):
    request = {
        "substitution_data": {"first": "Everyone", "shop": {"name": "Shop & Co"}, "n": 3},
        "recipients": [
            {"address": "ann@example.net", "substitution_data": {"first": "<Ann>"}},
            {"address": "bob@example.net"},
        ],
        "content": content(
            subject="Hi {{first}} from {{ shop.name }}",
            text="Dear {{first}}, {{n}} items{{missing}}.",
            html="<p>{{first}} {{{first}}} {{shop.name}}</p>",
            headers={"X-Who": "{{first}}"},
        ),
    }
    with client(server, pki, api_key) as c:
        r = c.post(PATH, json=request)
    assert r.status_code == 200, r.text
    ann, bob = (parsed(m) for m in sent(server, r.json()["results"]["id"]))
    assert ann["Subject"] == "Hi <Ann> from Shop & Co" and ann["X-Who"] == "<Ann>"
    plain, html = ann.iter_parts()
    assert plain.get_content().strip() == "Dear <Ann>, 3 items."
    assert html.get_content().strip() == "<p>&lt;Ann&gt; <Ann> Shop &amp; Co</p>"
    assert bob["Subject"] == "Hi Everyone from Shop & Co"


def test_substituted_line_break_in_a_header_is_refused(
    server: ServerThread, pki: Pki, api_key: str
):
    request = {
        "recipients": [
            {"address": "ann@example.net", "substitution_data": {"x": "a\r\nBcc: victim@evil"}}
        ],
        "content": content(subject="Hi {{x}}"),
    }
    with client(server, pki, api_key) as c:
        r = c.post(PATH, json=request)
    assert r.status_code == 422 and "content.subject" in r.json()["errors"][0]["description"]
    assert messages(server) == []


def test_email_rfc822_normalised_and_kept(server: ServerThread, pki: Pki, api_key: str):
    raw = (
        "From: Shop <orders@shop.test>\nTo: someone@example.net\rSubject: raw\n"
        "X-Keep:  spaced  \n\nline one\nline two\r\n"
    )
    request = {"recipients": [{"address": "bob@example.net"}], "content": {"email_rfc822": raw}}
    with client(server, pki, api_key) as c:
        r = c.post(PATH, json=request)
    assert r.status_code == 200, r.text
    [stored] = sent(server, r.json()["results"]["id"])
    data = stored.message.data
    assert_wire_clean(data)
    assert b"From: Shop <orders@shop.test>\r\nTo: someone@example.net\r\nSubject: raw\r\n" in data
    assert b"X-Keep:  spaced  \r\n\r\nline one\r\nline two\r\n" in data
    assert data.count(b"\r\nTo:") == 1, "no To header is built for rfc822 content"
    assert b"\r\nMessage-ID: <" in data and b"\r\nDate: " in data
    assert stored.message.envelope.mail_from == "orders@shop.test"
    assert stored.message.envelope.recipients == ("bob@example.net",)


def test_email_rfc822_unparseable_is_refused(server: ServerThread, pki: Pki, api_key: str):
    bad = [
        "no header here\n\nbody",
        "From: a@shop.test\nSubject: x\n\n" + "y" * 1200 + "\n",
        "Subject: no from\n\nbody\n",
        "From: a@shop.test\nContent-Type: multipart/mixed\n\nno boundary\n",
        "From: a@shop.test\nSubject: a\x85Bcc: victim@evil\n\nbody\n",
        # the stdlib parser raises TypeError on mixed RFC 2231 continuations (fuzz/rfc822.py)
        "From: a@shop.test\nContent-Type: multipart/mixed; boundary*=xx; boundary*3=yy\n\n"
        "--xx\n\nhi\n--xx--\n",
    ]
    with client(server, pki, api_key) as c:
        for raw in bad:
            r = c.post(
                PATH, json={"recipients": ["b@example.net"], "content": {"email_rfc822": raw}}
            )
            assert r.status_code == 422, raw
            assert "content.email_rfc822" in r.json()["errors"][0]["description"]
    assert messages(server) == []


def test_partial_recipient_errors_are_200_with_code_2000(
    server: ServerThread, pki: Pki, api_key: str
):
    request = body(
        recipients=[
            {"address": "ok@example.net"},
            {"address": "not-an-email"},
            {"address": {"name": "No Email"}},
            {"address": "also-ok@example.net"},
        ]
    )
    with client(server, pki, api_key) as c:
        r = c.post(PATH, json=request)
        capped = c.post(PATH + "?num_rcpt_errors=1", json=request)
        none_ok = c.post(PATH, json=body(recipients=["bad", "worse"]))
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["errors"] == [
        {"message": "transmission created, but with validation errors", "code": "2000"}
    ]
    assert out["results"]["total_accepted_recipients"] == 2
    assert out["results"]["total_rejected_recipients"] == 2
    errors = out["results"]["rcpt_to_errors"]
    assert errors[0]["code"] == "1300" and "recipients[1].address" in errors[0]["description"]
    assert errors[1]["code"] == "1400" and "recipients[2].address.email" in errors[1]["description"]
    assert len(capped.json()["results"]["rcpt_to_errors"]) == 1
    assert none_ok.status_code == 422
    assert len(sent(server, out["results"]["id"])) == 2


def test_unverified_sending_domain_is_7001(start_server, pki: Pki):
    from sealpost.api_keys import create_key

    server = start_server(
        tables={"api": {"address": "127.0.0.1:0", "allow_unverified_domains": False}}
    )
    store = server.app.store
    key, _ = server.call(lambda: create_key(store, "test", 0.0))
    with client(server, pki, key) as c:
        r = c.post(PATH, json=body())
        assert r.status_code == 400
        assert r.json()["errors"][0] == {
            "message": "Invalid domain",
            "description": "Unconfigured or unverified sending domain.",
            "code": "7001",
        }
        pending = {"domain": "shop.test", "status": {"dkim_status": "pending"}}
        server.call(lambda: store.put_document(Document("sending_domain", "shop.test", pending)))
        assert c.post(PATH, json=body()).status_code == 400
        valid = {"domain": "shop.test", "status": {"dkim_status": "valid"}}
        server.call(lambda: store.put_document(Document("sending_domain", "shop.test", valid)))
        assert c.post(PATH, json=body()).status_code == 200
    assert len(messages(server)) == 1


def test_refusals_sandbox_list_combination_and_empty(server: ServerThread, pki: Pki, api_key: str):
    with client(server, pki, api_key) as c:
        r = c.post(PATH, json=body(options={"sandbox": True}))
        assert r.status_code == 422 and "sandbox" in r.json()["errors"][0]["message"]
        r = c.post(PATH, json=body(recipients={"list_id": "newsletter"}))
        assert r.status_code == 422 and r.json()["errors"][0]["code"] == "1603"
        r = c.post(PATH, json=body(content={"template_id": "t", "subject": "x"}))
        assert r.status_code == 422 and r.json()["errors"][0]["code"] == "1301"
        r = c.post(PATH, json={"content": {}, "recipients": []})
        assert r.status_code == 422 and r.json()["errors"][0]["code"] == "1400"
        r = c.post(PATH, json=body(content={}))
        assert r.status_code == 422 and r.json()["errors"][0]["code"] == "1400"
        assert "content.from" in r.json()["errors"][0]["description"]
        r = c.post(PATH, json=body(content={"from": FROM, "subject": "s"}))
        assert r.status_code == 422 and "content.text" in r.json()["errors"][0]["description"]
        r = c.post(PATH, json=body(content={"template_id": "nope"}))
        assert r.status_code == 422 and r.json()["errors"][0]["code"] == "1603"
        r = c.post(PATH, content=b"{not json", headers={"Content-Type": "application/json"})
        assert r.status_code == 400 and "errors" in r.json()
        r = c.post(PATH, json={"recipients": 5}, headers={"Authorization": "0" * 40})
        assert r.status_code == 401, "authentication comes before body validation"
        r = c.post(PATH + "/", json=body(), headers={"Authorization": "0" * 40})
        assert r.status_code == 401
    assert messages(server) == []


def test_tracking_options_are_accepted_with_a_warning_and_tls_is_echoed(
    server: ServerThread, pki: Pki, api_key: str
):
    request = body(options={"open_tracking": True, "click_tracking": True, "tls": "verify"})
    with client(server, pki, api_key) as c:
        r = c.post(PATH, json=request)
        strict = c.post(PATH, json=body(options={"tls": "requiretls"}))
        bad = c.post(PATH, json=body(options={"tls": "sometimes"}))
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert results["tls"] == "verify" and len(results["warnings"]) == 2
    [m] = sent(server, results["id"])
    assert m.message.envelope.tls_minimum == "verify" and not m.message.envelope.requiretls
    [m] = sent(server, strict.json()["results"]["id"])
    assert m.message.envelope.requiretls and strict.json()["results"]["tls"] == "requiretls"
    assert transmission(server, results["id"]).payload["options"]["tls"] == "verify"
    assert bad.status_code == 422 and "options.tls" in bad.json()["errors"][0]["description"]


def test_unicode_escapes_and_utf8_addresses(server: ServerThread, pki: Pki, api_key: str):
    raw = json.dumps(
        body(
            recipients=[{"address": {"email": "jörg@exämple.net", "name": "Jörg"}}],
            content=content(subject="Hi \u2713 \U0001f600", text="caf\u00e9"),
        )
    ).encode()
    assert b"\\ud83d\\ude00" in raw
    with client(server, pki, api_key) as c:
        r = c.post(PATH, content=raw, headers={"Content-Type": "application/json"})
    assert r.status_code == 200, r.text
    [m] = sent(server, r.json()["results"]["id"])
    msg = parsed(m)
    assert msg["Subject"] == "Hi \u2713 \U0001f600" and msg["To"] == "Jörg <jörg@exämple.net>"
    assert m.message.envelope.smtputf8 and m.message.envelope.body == "8BITMIME"
    assert msg.get_content().strip() == "café"


def test_recipient_limit_and_hostile_json(start_server, pki: Pki):
    from sealpost.api_keys import create_key

    server = start_server(
        tables={
            "api": {
                "address": "127.0.0.1:0",
                "max_recipients": 3,
                "allow_unverified_domains": True,
            }
        }
    )
    key, _ = server.call(lambda: create_key(server.app.store, "test", 0.0))
    deep = b'{"metadata": ' + b'{"a": ' * 5000 + b"1" + b"}" * 5000 + b"}"
    with client(server, pki, key) as c:
        r = c.post(PATH, json=body(recipients=[f"u{n}@example.net" for n in range(4)]))
        assert r.status_code == 422 and "recipients" in r.json()["errors"][0]["description"]
        r = c.post(PATH, content=deep, headers={"Content-Type": "application/json"})
        assert 400 <= r.status_code < 500 and "errors" in r.json()
        nested = body(metadata={"a": {"b": {"c": [1, [2, [3]]]}}})
        r = c.post(PATH, json=nested)
        assert r.status_code == 200, r.text
        r = c.post(PATH, json=[1, 2, 3])
        assert r.status_code == 422 and "errors" in r.json()
    assert len(messages(server)) == 1


def test_tls_required_false_gives_the_messages_tls_required_no(
    server: ServerThread, pki: Pki, api_key: str
):
    """E3 through the API: ``options.tls.tls_required: false`` puts ``TLS-Required: No`` on
    every message (RFC 8689 section 3), once even when the rfc822 content has it; the level
    in the same object still applies; with ``requiretls`` it is refused (the two exclude
    each other)."""
    relaxed = {"tls": {"level": "encrypt", "tls_required": False}}
    raw = f"From: {FROM}\r\nTo: ann@example.net\r\nTLS-Required: No\r\nSubject: r\r\n\r\nhi\r\n"
    with client(server, pki, api_key) as c:
        r = c.post(PATH, json=body(options=relaxed))
        own = c.post(PATH, json=body(options=relaxed, content={"email_rfc822": raw}))
        plain = c.post(PATH, json=body(options={"tls": {"level": "verify"}}))
        both = c.post(
            PATH, json=body(options={"tls": {"level": "requiretls", "tls_required": False}})
        )
    assert r.status_code == 200, r.text
    assert r.json()["results"]["tls"] == "encrypt"
    [m] = sent(server, r.json()["results"]["id"])
    assert parsed(m)["TLS-Required"] == "No" and m.message.envelope.tls_minimum == "encrypt"
    assert (
        transmission(server, r.json()["results"]["id"]).payload["options"]["tls_required"] is False
    )
    [m] = sent(server, own.json()["results"]["id"])
    assert m.message.data.count(b"TLS-Required") == 1
    [m] = sent(server, plain.json()["results"]["id"])
    assert "TLS-Required" not in parsed(m) and m.message.envelope.tls_minimum == "verify"
    assert both.status_code == 422 and both.json()["errors"][0]["code"] == "1301"
