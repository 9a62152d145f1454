"""Size caps on what the API composes, over real HTTPS (issue 10 item 5): every message at
``[server] max_message_size`` and a whole transmission at ``[api] max_transmission_bytes``,
after substitution; 422 / 1300 naming the field and the recipient, nothing queued."""

from __future__ import annotations

import base64

import httpx

from sealpost.api_keys import create_key
from tests.support import Pki, ServerThread

PATH = "/api/v1/transmissions"


def _api(server: ServerThread, pki: Pki) -> httpx.Client:
    key, _ = server.call(lambda: create_key(server.app.store, "size", 0.0))
    return httpx.Client(
        base_url=f"https://127.0.0.1:{server.ports['api']}",
        verify=pki.client_context(),
        headers={"Authorization": key},
        timeout=60,
    )


def _stored(server: ServerThread) -> int:
    return len(server.call(lambda: server.app.store.list(limit=1000)))


def _body(recipients: int, **content: object) -> dict[str, object]:
    return {
        "recipients": [{"address": f"u{n}@example.net"} for n in range(recipients)],
        "content": {"from": "a@shop.test", "subject": "s", **content},
    }


def _refused(answer: httpx.Response) -> str:
    assert answer.status_code == 422, answer.text
    [error] = answer.json()["errors"]
    assert error["code"] == "1300"
    return error["description"]


def test_the_issue_reproduction_is_refused(server: ServerThread, pki: Pki):
    """15 KB of request: 10 KB of substitution_data named 1,000 times was stored as a
    10.4 MB message; the default max_message_size (10,240,000) now refuses it."""
    request = {**_body(1, text="{{a}}" * 1000), "substitution_data": {"a": "x" * 10_000}}
    with _api(server, pki) as api:
        description = _refused(api.post(PATH, json=request))
    assert "recipients[0]" in description and "max_message_size (10240000 octets)" in description
    assert _stored(server) == 0


def test_each_message_is_capped_while_it_is_substituted(start_server, pki: Pki):
    server = start_server(server={"max_message_size": 50_000})
    data = {"substitution_data": {"a": "x" * 1000}}
    with _api(server, pki) as api:
        description = _refused(api.post(PATH, json={**_body(2, text="{{a}}" * 100), **data}))
        assert description.startswith("content.text: the message for recipients[0] would be")
        html = {**_body(1, html="<b>{{a}}</b>" * 30), **data}
        assert (
            api.post(PATH, json={**html, "substitution_data": {"a": "&" * 1000}}).status_code == 422
        )
        assert api.post(PATH, json={**_body(2, text="{{a}}" * 40), **data}).status_code == 200
        per_rcpt = _body(2, text="{{a}}" * 40)
        per_rcpt["recipients"][1]["substitution_data"] = {"a": "y" * 2000}  # type: ignore[index]
        description = _refused(api.post(PATH, json={**per_rcpt, **data}))
        assert "recipients[1]" in description
        attachment = {
            "name": "a.bin",
            "type": "application/pdf",
            "data": base64.b64encode(b"\0" * 40_000).decode(),
        }
        description = _refused(api.post(PATH, json=_body(1, text="t", attachments=[attachment])))
        assert description.startswith("content.attachments:")
        big = "From: a@shop.test\r\nSubject: s\r\n\r\n" + ("b" * 900 + "\r\n") * 60
        assert _refused(api.post(PATH, json=_body(1, email_rfc822=big))).startswith(
            "content.email_rfc822: the message for recipients[0] is"
        )
    assert _stored(server) == 2


def test_a_transmission_is_capped_in_total(start_server, pki: Pki):
    server = start_server(
        tables={
            "delivery": {"enabled": False},
            "api": {
                "address": "127.0.0.1:0",
                "allow_unverified_domains": True,
                "max_transmission_bytes": 100_000,
            },
        }
    )
    text = {"text": "x" * 30_000}
    with _api(server, pki) as api:
        description = _refused(api.post(PATH, json=_body(4, **text)))
        assert "recipients[3]" in description and "max_transmission_bytes (100000" in description
        assert _stored(server) == 0
        assert api.post(PATH, json=_body(3, **text)).status_code == 200
        raw = "From: a@shop.test\r\nSubject: s\r\n\r\n" + ("b" * 900 + "\r\n") * 30
        description = _refused(api.post(PATH, json=_body(4, email_rfc822=raw)))
        assert description.startswith("content.email_rfc822: the message for recipients[3]")
    assert _stored(server) == 3
