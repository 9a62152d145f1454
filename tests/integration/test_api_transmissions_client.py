"""The official python client (``sparkpost`` 1.3.10) against the real server over HTTPS
(reference section 3), and Idempotency-Key semantics (checklist K10)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.integration.test_api_transmissions import (
    PATH,
    body,
    client,
    messages,
    parsed,
    sent,
    transmission,
)
from tests.support import Pki, ServerThread


def sparkpost_client(server: ServerThread, pki: Pki, key: str, monkeypatch):
    from sparkpost import SparkPost

    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(pki.ca_file))
    # The client always prepends https:// and appends /api/v1 (reference section 3.1).
    return SparkPost(key, base_uri=f"127.0.0.1:{server.ports['api']}")


def test_python_client_sends_inline_with_cc_bcc_and_attachment(
    server: ServerThread, pki: Pki, api_key: str, monkeypatch, tmp_path: Path
):
    attachment = tmp_path / "a.txt"
    attachment.write_bytes(b"hello attachment")
    sp = sparkpost_client(server, pki, api_key, monkeypatch)
    result = sp.transmissions.send(
        recipients=["Primary Person <primary@example.com>", {"address": "two@example.com"}],
        cc=["Carbon <cc1@example.com>", "cc2@example.com"],
        bcc=["bcc@example.com"],
        from_email="Sender Name <sender@shop.test>",
        subject="Hi \u2713 \U0001f600 {{name}}",
        text="Hello {{name}}",
        html="<b>Hello {{name}}</b>",
        reply_to="r@shop.test",
        custom_headers={"X-Foo": "bar"},
        attachments=[{"name": "a.txt", "type": "text/plain", "filename": str(attachment)}],
        campaign="camp1",
        metadata={"m": "1"},
        substitution_data={"name": "World"},
        track_opens=True,
        transactional=True,
        description="desc",
        unknown_kw="passes through",
    )
    assert result["total_accepted_recipients"] == 5
    assert result["total_rejected_recipients"] == 0
    copies = sent(server, result["id"])
    rcpts = [m.message.envelope.recipients[0] for m in copies]
    assert rcpts == [
        "primary@example.com",
        "two@example.com",
        "cc1@example.com",
        "cc2@example.com",
        "bcc@example.com",
    ]
    first = parsed(copies[0])
    assert first["From"] == "Sender Name <sender@shop.test>"
    assert first["To"] == "Primary Person <primary@example.com>"
    assert first["Cc"] == "Carbon <cc1@example.com>, cc2@example.com"
    assert first["Subject"] == "Hi \u2713 \U0001f600 World" and first["X-Foo"] == "bar"
    _body_part, file_part = first.iter_parts()
    assert file_part.get_filename() == "a.txt"
    assert file_part.get_content() == "hello attachment"
    for m in copies[2:]:
        assert parsed(m)["To"] == "Primary Person <primary@example.com>"
    notes = copies[0].message.annotations
    assert notes["campaign_id"] == "camp1" and notes["transactional"] == "1"


def test_python_client_schedules_gets_and_deletes(
    server: ServerThread, pki: Pki, api_key: str, monkeypatch
):
    sp = sparkpost_client(server, pki, api_key, monkeypatch)
    start = (datetime.now(UTC) + timedelta(hours=2)).replace(microsecond=0).isoformat()
    result = sp.transmissions.send(
        recipients=["later@example.com"],
        from_email="sender@shop.test",
        subject="Later",
        text="t",
        start_time=start,
        campaign="spring",
    )
    got = sp.transmissions.get(result["id"])
    assert got["state"] == "submitted" and got["campaign_id"] == "spring"
    assert got["num_rcpts"] == 1 and got["options"]["start_time"] == start
    with pytest.warns(DeprecationWarning):
        listed = sp.transmissions.list(campaign_id="spring")
    assert [t["id"] for t in listed] == [result["id"]]
    assert sp.transmissions.delete(result["id"]) is True
    assert sp.transmissions.get(result["id"])["state"] == "Canceled"
    [message] = messages(server)
    assert message.state == "cancelled"


def test_python_client_sends_a_template_and_rfc822(
    server: ServerThread, pki: Pki, api_key: str, monkeypatch
):
    sp = sparkpost_client(server, pki, api_key, monkeypatch)
    with client(server, pki, api_key) as c:
        stored = {
            "id": "hello",
            "published": True,
            "content": {"from": "Shop <sender@shop.test>", "subject": "Hi {{n}}", "text": "x"},
        }
        assert c.post("/api/v1/templates", json=stored).status_code == 200
    templated = sp.transmissions.send(
        recipients=[{"address": "t@example.com", "substitution_data": {"n": "Tee"}}],
        template="hello",
    )
    raw = "From: sender@shop.test\nSubject: raw one\n\nbody\n"
    rfc = sp.transmissions.send(recipients=["r@example.com"], email_rfc822=raw)
    [t] = sent(server, templated["id"])
    assert parsed(t)["Subject"] == "Hi Tee" and t.message.annotations["template_id"] == "hello"
    [r] = sent(server, rfc["id"])
    assert r.message.data.endswith(b"Subject: raw one\r\n\r\nbody\r\n")
    assert r.message.envelope.recipients == ("r@example.com",)


def failure(call) -> tuple[int, list[str]]:
    """Status and errors of a failing client call. The exception is not kept: its
    traceback holds the client's keep-alive connection, which delays server shutdown."""
    from sparkpost.exceptions import SparkPostAPIException

    try:
        call()
    except SparkPostAPIException as exc:
        exc.response.close()
        return exc.status, list(exc.errors)
    raise AssertionError("the call did not fail")


def test_python_client_sees_sparkpost_errors(
    server: ServerThread, pki: Pki, api_key: str, monkeypatch
):
    sp = sparkpost_client(server, pki, api_key, monkeypatch)
    status, errors = failure(lambda: sp.transmissions.send())
    assert status == 422 and "Code: 1400" in errors[0]
    status, errors = failure(lambda: sp.transmissions.get("12345"))
    assert status == 404 and "Code: 1600" in errors[0]


def test_idempotency_key_repeat_returns_the_first_response(
    server: ServerThread, pki: Pki, api_key: str
):
    headers = {"Idempotency-Key": "order-991"}
    with client(server, pki, api_key) as c:
        first = c.post(PATH, json=body(), headers=headers)
        again = c.post(PATH, json=body(), headers=headers)
        other = c.post(PATH, json=body(campaign_id="other"), headers=headers)
        fresh = c.post(PATH, json=body(), headers={"Idempotency-Key": "order-992"})
        bad = c.post(PATH, json=body(), headers={"Idempotency-Key": "x" * 300})
    assert first.status_code == 200 and again.status_code == 200
    assert again.json() == first.json()
    assert again.headers.get("idempotent-replayed") == "true"
    assert (
        other.status_code == 422 and "Idempotency-Key" in other.json()["errors"][0]["description"]
    )
    assert (
        fresh.status_code == 200 and fresh.json()["results"]["id"] != first.json()["results"]["id"]
    )
    assert bad.status_code == 422
    assert len(messages(server)) == 2
    assert transmission(server, first.json()["results"]["id"]).payload["num_rcpts"] == 1


def test_concurrent_requests_with_one_key_queue_once(server: ServerThread, pki: Pki, api_key: str):
    request = body(recipients=[f"u{n}@example.net" for n in range(50)])
    barrier = threading.Barrier(4)
    answers = []

    def post() -> None:
        with client(server, pki, api_key) as c:
            barrier.wait()
            r = c.post(PATH, json=request, headers={"Idempotency-Key": "race"})
            answers.append((r.status_code, r.json()))

    threads = [threading.Thread(target=post) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(answers) == 4
    ok = [a for status, a in answers if status == 200]
    assert ok and all(a == ok[0] for a in ok)
    assert all(status in (200, 409) for status, _ in answers)
    assert len(messages(server)) == 50
