"""Header and envelope injection through the transmissions API (checklist I1-I4): every
line break Python knows, in every header name, value and address, is a 422 naming the
field, and nothing is queued; hostile attachment names are encoded, never a header break."""

from __future__ import annotations

import base64
from typing import Any

from tests.integration.test_api_transmissions import (
    FROM,
    PATH,
    assert_wire_clean,
    body,
    client,
    content,
    messages,
    parsed,
    sent,
)
from tests.support import Pki, ServerThread

BREAKS = ["\r\n", "\r", "\n", "\x00", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85"]
BREAKS += ["\u2028", "\u2029"]


def header_cases(brk: str) -> list[tuple[dict[str, Any], str]]:
    evil = f"x{brk}Bcc: victim@evil.test"
    rcpt = "ann@example.net"
    return [
        (body(content=content(subject=evil)), "content.subject"),
        (body(content=content(headers={"X-Foo": evil})), "content.headers.X-Foo"),
        (body(content=content(headers={f"X-Foo{brk}Bcc": "v"})), "content.headers.X-Foo"),
        (body(content=content(headers={"CC": f"c@example.net{brk}"})), "content.headers.CC"),
        (body(content=content(reply_to=evil)), "content.reply_to"),
        (body(content=content(**{"from": {"email": FROM, "name": evil}})), "content.from.name"),
        (body(content=content(**{"from": f"Shop{brk}X <{FROM}>"})), "content.from"),
        (body(content=content(**{"from": {"email": f"o{brk}@shop.test"}})), "content.from.email"),
        (body(recipients=[{"address": {"email": rcpt, "name": evil}}]), "recipients[0].address"),
        (
            body(recipients=[{"address": {"email": rcpt, "header_to": evil}}]),
            "recipients[0].address.header_to",
        ),
        (body(recipients=[f"ann{brk}@example.net"]), "recipients[0].address"),
        (
            body(recipients=[{"address": {"email": f"ann@example.net{brk}RCPT TO:<x@y>"}}]),
            "recipients[0].address.email",
        ),
        (body(return_path=f"b@shop.test{brk}RCPT TO:<x@y>"), "return_path"),
        (
            body(content=content(attachments=[{"name": evil, "type": "text/plain", "data": ""}])),
            "content.attachments[0].name",
        ),
        (
            body(content=content(attachments=[{"name": "a", "type": evil, "data": ""}])),
            "content.attachments[0].type",
        ),
        (
            body(content=content(inline_images=[{"name": evil, "type": "image/png", "data": ""}])),
            "content.inline_images[0].name",
        ),
        (body(recipients=[{"address": rcpt, "tags": [evil]}]), "recipients[0].tags[0]"),
    ]


ENVELOPE_CASES = [
    (body(recipients=[{"address": {"email": "a@example.net> AUTH=<evil@y>"}}]), "recipients[0]"),
    (body(recipients=[{"address": {"email": "a@example.net NOTIFY=SUCCESS"}}]), "recipients[0]"),
    (body(recipients=[{"address": {"email": "a b@example.net"}}]), "recipients[0]"),
    (body(recipients=[{"address": {"email": "<a@example.net>"}}]), "recipients[0]"),
    (body(recipients=["a@example.net> AUTH=<evil@y>"]), "recipients[0]"),
    (body(return_path="b@shop.test> SIZE=1"), "return_path"),
    (body(return_path="b @shop.test"), "return_path"),
    (body(content=content(**{"from": {"email": "o@shop.test> X=1"}})), "content.from.email"),
    (body(content=content(**{"from": "Shop <o@shop.test> X=<y@z>"})), "content.from"),
]


def test_every_line_break_in_every_header_field_is_refused(
    server: ServerThread, pki: Pki, api_key: str
):
    failures = []
    with client(server, pki, api_key) as c:
        for brk in BREAKS:
            for request, field in header_cases(brk):
                r = c.post(PATH, json=request)
                errors = r.json().get("errors", [{}])
                text = f"{errors[0].get('description', '')} {errors[0].get('message', '')}"
                if r.status_code != 422 or field not in text:
                    failures.append((repr(brk), field, r.status_code, r.text[:200]))
    assert failures == []
    assert messages(server) == [], "nothing is queued"


def test_envelope_injection_is_refused(server: ServerThread, pki: Pki, api_key: str):
    with client(server, pki, api_key) as c:
        for request, field in ENVELOPE_CASES:
            r = c.post(PATH, json=request)
            assert r.status_code == 422, (request, r.text)
            assert field in r.json()["errors"][0]["description"], r.text
    assert messages(server) == []


def test_injection_in_one_recipient_refuses_the_whole_transmission(
    server: ServerThread, pki: Pki, api_key: str
):
    request = body(recipients=["ok@example.net", {"address": {"email": "x@y.test\r\nDATA"}}])
    with client(server, pki, api_key) as c:
        r = c.post(PATH, json=request)
    assert r.status_code == 422 and "recipients[1]" in r.json()["errors"][0]["description"]
    assert messages(server) == []


def test_hostile_attachment_names_are_encoded_not_used(
    server: ServerThread, pki: Pki, api_key: str
):
    names = ["quo\"te's.pdf", "../../etc/passwd", "n" * 300 + ".pdf", "ü" * 150, "a;b=c\\d"]
    data = base64.b64encode(b"payload").decode()
    files = [{"name": n, "type": "application/octet-stream", "data": data} for n in names]
    with client(server, pki, api_key) as c:
        r = c.post(PATH, json=body(content=content(attachments=files)))
    assert r.status_code == 200, r.text
    [stored] = sent(server, r.json()["results"]["id"])
    assert_wire_clean(stored.message.data)
    assert max(len(line) for line in stored.message.data.split(b"\r\n")) <= 78
    msg = parsed(stored)
    _, *parts = msg.iter_parts()
    assert [p.get_filename() for p in parts] == names
    for part in parts:
        assert sorted(part.keys()) == [
            "Content-Disposition",
            "Content-Transfer-Encoding",
            "Content-Type",
        ]
        assert part.get_content() == b"payload"
    top = [k.lower() for k in msg]
    assert "bcc" not in top and top.count("to") == 1


SINGLE = ["From", "Sender", "Reply-To", "To", "Cc", "Bcc", "Subject", "Date", "Message-ID"]
SINGLE += ["In-Reply-To", "References"]


def test_email_rfc822_repeated_single_fields_and_dkim_signature_are_refused(
    server: ServerThread, pki: Pki, api_key: str
):
    """Issue 10 item 6, RFC 5322 section 3.6: at most one of each; a caller's DKIM-Signature
    is refused (Sealpost signs). Each a 422 naming the header; nothing queued."""
    one_each = "".join(f"{name}: <m{n}@shop.test>\r\n" for n, name in enumerate(SINGLE))
    cases = [(f"{one_each}{name.upper()}: <x@shop.test>\r\n", name) for name in SINGLE]
    cases += [
        ("DKIM-Signature: v=1; a=rsa-sha256; d=bank.test; s=s\r\n" + one_each, "DKIM-Signature")
    ]
    with client(server, pki, api_key) as c:
        for head, name in cases:
            request = body(content={"email_rfc822": head + "\r\nbody\r\n"})
            r = c.post(PATH, json=request)
            assert r.status_code == 422, (name, r.text)
            [error] = r.json()["errors"]
            assert error["code"] == "1300"
            assert f"content.email_rfc822 ({name} header):" in error["description"], error
        assert c.post(PATH, json=body(content={"email_rfc822": one_each + "\r\nb\r\n"})).is_success
    assert len(messages(server)) == 1


def test_inline_custom_headers_may_not_repeat_a_single_field_or_sign(
    server: ServerThread, pki: Pki, api_key: str
):
    with client(server, pki, api_key) as c:
        twice = body(content=content(headers={"Cc": "a@example.net", "CC": "b@example.net"}))
        r = c.post(PATH, json=twice)
        assert r.status_code == 422 and "content.headers.CC:" in r.text
        signed = body(content=content(headers={"DKIM-Signature": "v=1; d=bank.test"}))
        r = c.post(PATH, json=signed)
        assert r.status_code == 422 and "content.headers.DKIM-Signature:" in r.text
    assert messages(server) == []
