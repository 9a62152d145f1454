"""The HTTPS API's conventions over real TLS: auth, error envelope, trailing slashes, body
limits, OpenAPI, and the events search (reference sections 1 and 5.5; checklist H5, I5)."""

from __future__ import annotations

import base64
import ssl

import httpx
import pytest

from tests.support import Pki, ServerThread


def client(server: ServerThread, pki: Pki, key: str | None = None) -> httpx.Client:
    headers = {"Authorization": key} if key else {}
    return httpx.Client(
        base_url=f"https://127.0.0.1:{server.ports['api']}",
        verify=str(pki.ca_file),
        headers=headers,
        timeout=10,
    )


def test_https_only_with_tls12_minimum(server: ServerThread, pki: Pki):
    ctx = pki.client_context()
    ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    with httpx.Client(verify=ctx) as c:
        r = c.get(f"https://127.0.0.1:{server.ports['api']}/api/v1/openapi.json")
    assert r.status_code == 200
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{server.ports['api']}/api/v1/openapi.json", timeout=5)


def test_auth_bare_key_basic_and_failures(server: ServerThread, pki: Pki, api_key: str):
    with client(server, pki) as c:
        r = c.get("/api/v1/events/message")
        assert r.status_code == 401 and r.json() == {"errors": [{"message": "Unauthorized."}]}
        r = c.get("/api/v1/events/message", headers={"Authorization": "0" * 40})
        assert r.status_code == 401
        r = c.get("/api/v1/events/message", headers={"Authorization": api_key})
        assert r.status_code == 200
        basic = base64.b64encode(f"{api_key}:".encode()).decode()
        r = c.get("/api/v1/events/message/", headers={"Authorization": f"Basic {basic}"})
        assert r.status_code == 200, "trailing slash and Basic auth both accepted"


def test_unknown_path_and_big_body_use_the_error_envelope(
    server: ServerThread, pki: Pki, api_key: str
):
    with client(server, pki, api_key) as c:
        r = c.get("/api/v1/nothing-here")
        assert r.status_code == 404 and r.json()["errors"][0]["code"] == "1600"
        r = c.post("/api/v1/events/message", content=b"x" * (21 * 1024 * 1024))
        assert r.status_code == 413


def test_openapi_document_is_served(server: ServerThread, pki: Pki):
    with client(server, pki) as c:
        doc = c.get("/api/v1/openapi.json").json()
    assert doc["openapi"].startswith("3.") and "/api/v1/events/message" in doc["paths"]


def test_events_search_filters_pages_and_counts(server: ServerThread, pki: Pki, api_key: str):
    import smtplib

    for n in range(3):
        with smtplib.SMTP("127.0.0.1", server.ports["mx"], timeout=10) as smtp:
            smtp.sendmail("a@sender.test", [f"u{n}@example.test"], b"Subject: x\r\n\r\nhi\r\n")
    with client(server, pki, api_key) as c:
        r = c.get("/api/v1/events/message", params={"events": "injection", "per_page": 2})
        body = r.json()
        assert r.status_code == 200 and body["total_count"] == 3 and len(body["results"]) == 2
        first = body["results"][0]
        assert first["type"] == "injection" and first["rcpt_to"] == "u0@example.test"
        assert first["timestamp"].endswith("Z") and isinstance(first["event_id"], str)
        nxt = c.get(body["links"]["next"]).json()
        assert [e["rcpt_to"] for e in nxt["results"]] == ["u2@example.test"]
        assert nxt["links"] == {}
        only = c.get("/api/v1/events/message", params={"recipients": "u1@example.test"}).json()
        assert [e["rcpt_to"] for e in only["results"]] == ["u1@example.test"]
        old = c.get(
            "/api/v1/events/message",
            params={"to": "2001-01-01T00:00:00Z", "from": "2000-01-01T00:00:00Z"},
        ).json()
        assert old["results"] == [] and old["total_count"] == 0
        bad = c.get("/api/v1/events/message", params={"from": "yesterday"})
        assert bad.status_code == 422 and "from" in bad.json()["errors"][0]["description"]


@pytest.mark.parametrize("cursor", ["\u00b2", "\u0663", "9" * 40, "-1", "1e3", ""])
def test_a_cursor_that_is_not_an_event_id_is_400_never_500(
    server: ServerThread, pki: Pki, api_key: str, cursor: str
):
    """Issue 10 item 6: str.isdigit() took '\u00b2' (and other Unicode digits) for a number."""
    with client(server, pki, api_key) as c:
        r = c.get("/api/v1/events/message", params={"cursor": cursor})
    assert r.status_code == 400, r.text
    assert "cursor" in r.json()["errors"][0]["description"]


def test_non_json_body_is_415(server: ServerThread, pki: Pki, api_key: str):
    with client(server, pki, api_key) as c:
        r = c.post(
            "/api/v1/transmissions", content=b"hello", headers={"Content-Type": "text/plain"}
        )
        assert r.status_code == 415 and r.json()["errors"][0]["code"] == "1700"
        r = c.post(
            "/api/v1/transmissions",
            content=b"{}",
            headers={"Content-Type": "application/json; charset=utf-8"},
        )
        assert r.status_code != 415


def test_chunked_body_past_the_limit_is_413(start_server, pki: Pki):
    server = start_server(tables={"api": {"address": "127.0.0.1:0", "max_request_bytes": 4096}})
    from sealpost.api_keys import create_key

    key, _ = server.call(lambda: create_key(server.app.store, "t", 0.0))

    def chunks():
        yield b'{"recipients": ['
        for _ in range(200):
            yield b'{"address": "someone@example.test"},'
        yield b'{"address": "last@example.test"}]}'

    with client(server, pki, key) as c:
        r = c.post(
            "/api/v1/transmissions", content=chunks(), headers={"Content-Type": "application/json"}
        )
    assert r.status_code == 413 and r.json()["errors"][0]["code"] == "1300"
