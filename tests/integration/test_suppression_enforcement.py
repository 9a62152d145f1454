"""Issue 15 part 1, enforcement: a hard bounce (a real SMTP sink answering 550 5.1.1 over
verified STARTTLS, its MX found through real DNS) puts the recipient on the suppression list
with source Bounce Rule, so the next transmission to it is rejected in the API answer with a
``policy_rejection`` event and is never sent; ``options.transactional`` picks the list;
``options.skip_suppression`` works only for a key with ``suppression_lists/manage``; an
authenticated SMTP submission drops suppressed recipients (250, a ``policy_rejection`` each,
as SparkPost did for SMTP injection)."""

from __future__ import annotations

import smtplib
import time

import httpx
import pytest

from sealpost.api_keys import create_key
from sealpost.delivery.dsn import DsnAction, DsnRecipient, build_dsn
from sealpost.model.envelope import Envelope, InboundMessage, SessionInfo
from sealpost.model.grants import Grant
from sealpost.model.suppression import Suppression, SuppressionSource, SuppressionType
from tests.integration.delivery_rig import MX, Rig, start_rig, trust_bundle

GONE = "gone@example.net"


@pytest.fixture
def rig(start_server, dns_server, smtp_sink, sink_certs, tmp_path) -> tuple[Rig, object]:
    bundle = trust_bundle(tmp_path, sink_certs.ca_file)
    sink = smtp_sink(
        cert=sink_certs.good, replies={f"RCPT {GONE}": b"550 5.1.1 no such user here\r\n"}
    )
    return start_rig(start_server, dns_server, sink, ca_file=bundle), sink


def _client(rig: Rig, pki, *grants: Grant) -> httpx.Client:
    server = rig.server
    wanted = set(grants) if grants else None
    key, _ = server.call(lambda: create_key(server.app.store, "k", 0.0, grants=wanted))
    return httpx.Client(
        base_url=f"https://127.0.0.1:{server.ports['api']}/api/v1",
        verify=pki.client_context(),
        headers={"Authorization": key},
        timeout=20,
    )


def _send(http: httpx.Client, *rcpts: str, **options: object) -> httpx.Response:
    body = {
        "recipients": [{"address": r} for r in rcpts],
        "content": {"from": "shop@sealpost.test", "subject": "Hi", "text": "Hello"},
        "options": options,
    }
    return http.post("/transmissions", json=body)


def _wait(predicate, what: str, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_hard_bounce_suppresses_the_next_send(rig, pki):
    rig, sink = rig
    with _client(rig, pki) as http:
        first = _send(http, GONE)
        assert first.status_code == 200, first.text
        _wait(lambda: rig.events("bounce"), "the bounce")
        entries = _wait(
            lambda: http.get(f"/suppression-list/{GONE}").json().get("results"), "the entry"
        )
        assert {(e["type"], e["source"]) for e in entries} == {
            ("transactional", "Bounce Rule"),
            ("non_transactional", "Bounce Rule"),
        }
        assert all("550 5.1.1 no such user here" in e["description"] for e in entries)

        again = _send(http, GONE)
        assert again.status_code == 400
        [error] = again.json()["errors"]
        assert error["code"] == "1902" and "suppressed" in error["description"]
        [rejection] = rig.events("policy_rejection")
        fields = rejection.fields
        assert fields["rcpt_to"] == GONE and fields["error_code"] == "554"
        assert fields["bounce_class"] == "25" and "suppressed" in fields["raw_reason"]

        mixed = _send(http, "ok@example.net", "GONE@example.net", transactional=True)
        results = mixed.json()["results"]
        assert mixed.status_code == 200, mixed.text
        assert results["total_accepted_recipients"] == 1
        assert results["total_rejected_recipients"] == 1
        assert results["rcpt_to_errors"][0]["code"] == "1902"
        assert len(rig.events("policy_rejection")) == 2
        rejected = rig.events("policy_rejection")[-1].fields
        assert rejected["transmission_id"] == results["id"]
        _wait(lambda: len(rig.events("delivery")) == 1, "the delivery to ok@")
        assert [m.recipients for m in sink.messages] == [("ok@example.net",)]
        sent = [e.rcpt_to for e in rig.events("injection") if e.fields.get("transmission_id")]
        assert sent == [GONE, "ok@example.net"], "no injection for a suppressed recipient"


def test_the_type_of_mail_picks_the_list(rig, pki):
    rig, _ = rig
    store = rig.server.app.store
    entry = Suppression(
        "promo@example.net",
        SuppressionType.NON_TRANSACTIONAL,
        SuppressionSource.MANUALLY_ADDED,
        "",
        0.0,
        0.0,
    )
    rig.server.call(lambda: store.put_suppressions([entry]))
    with _client(rig, pki) as http:
        assert _send(http, "promo@example.net").status_code == 400
        receipt = _send(http, "promo@example.net", transactional=True)
        assert (
            receipt.status_code == 200
            and receipt.json()["results"]["total_accepted_recipients"] == 1
        )


def test_skip_suppression_needs_the_manage_grant(rig, pki):
    rig, _ = rig
    with _client(rig, pki) as admin:
        assert admin.put(f"/suppression-list/{GONE}", json={"type": "non_transactional"})
    sender = _client(rig, pki, Grant.TRANSMISSIONS_MODIFY)
    manager = _client(rig, pki, Grant.TRANSMISSIONS_MODIFY, Grant.SUPPRESSION_LISTS_MANAGE)
    with sender, manager:
        ignored = _send(sender, GONE, "ok@example.net", skip_suppression=True)
        assert ignored.status_code == 200
        results = ignored.json()["results"]
        assert results["total_rejected_recipients"] == 1
        assert any("skip_suppression is ignored" in w for w in results["warnings"])
        honoured = _send(manager, GONE, skip_suppression=True)
        assert honoured.status_code == 200, honoured.text
        assert honoured.json()["results"]["total_accepted_recipients"] == 1


def test_an_smtp_submission_drops_suppressed_recipients(rig):
    rig, sink = rig
    store = rig.server.app.store
    entry = Suppression(
        GONE, SuppressionType.NON_TRANSACTIONAL, SuppressionSource.MANUALLY_ADDED, "", 0.0, 0.0
    )
    rig.server.call(lambda: store.put_suppressions([entry]))
    message_id = rig.submit(["ok@example.net", "Gone@Example.net"])
    stored = rig.stored(message_id)
    assert [r.address for r in stored.recipients] == ["ok@example.net"]
    [rejection] = rig.events("policy_rejection", message_id=message_id)
    assert rejection.fields["raw_rcpt_to"] == "Gone@Example.net"
    assert rejection.fields["recv_method"] == "esmtp"
    assert [e.rcpt_to for e in rig.events("injection", message_id=message_id)] == ["ok@example.net"]

    submission = rig.server.app.submission
    before = {m.id for m in rig.all_messages()}  # ids: the first may be delivered meanwhile
    nothing = rig.submit([GONE])
    assert len(rig.events("policy_rejection", message_id=nothing)) == 1
    after = {m.id for m in rig.all_messages()}
    assert after == before, "nothing is queued when every recipient is suppressed"
    assert submission.suppressed == 2
    _wait(lambda: sink.messages, "the delivery to ok@")
    assert [m.recipients for m in sink.messages] == [("ok@example.net",)]


def test_smtp_auth_injection_to_a_suppressed_recipient_is_answered_250(server, pki, api_key):
    """Over a real implicit-TLS submission session with SMTP AUTH: 250 (as SparkPost), the
    reply says nothing was queued, and the event stream has the policy_rejection."""
    store = server.app.store
    entry = Suppression(
        "far@remote.test",
        SuppressionType.NON_TRANSACTIONAL,
        SuppressionSource.MANUALLY_ADDED,
        "",
        0.0,
        0.0,
    )
    server.call(lambda: store.put_suppressions([entry]))
    message = b"From: a@sender.test\r\nTo: far@remote.test\r\nSubject: s\r\n\r\nbody\r\n"
    with smtplib.SMTP_SSL(
        "127.0.0.1", server.ports["submissions"], timeout=10, context=pki.client_context()
    ) as client:
        client.ehlo("client.test")
        client.user, client.password = "SMTP_Injection", api_key
        assert client.auth("LOGIN", client.auth_login, initial_response_ok=False)[0] == 235
        client.mail("a@sender.test")
        assert client.rcpt("far@remote.test")[0] == 250
        code, text = client.data(message)
    assert code == 250 and b"suppressed" in text
    assert server.call(lambda: store.list(limit=10)) == []
    [event] = server.call(lambda: store.list_events(types=["policy_rejection"]))
    assert event.rcpt_to == "far@remote.test" and event.message_id in text.decode()


def test_an_out_of_band_hard_bounce_suppresses_the_recipient(rig):
    """A bounce report that comes back after the delivery (RFC 3464, null sender, to the
    original sender in a local domain) becomes an out_of_band event and lists the address."""
    rig, _ = rig
    app = rig.server.app
    original = rig.submit(["late@example.net"])
    rig.wait_events("delivery", message_id=original)
    stored = rig.stored(original)
    report = build_dsn(
        reporting_mta="mx.example.net",
        original_mail_from="alice@sealpost.test",
        original_message_id=original,
        original_headers=stored.message.data,
        recipients=[
            DsnRecipient(
                "late@example.net",
                DsnAction.FAILED,
                "5.1.1",
                "smtp; 550 5.1.1 mailbox deleted",
                "mx.example.net",
            )
        ],
        arrival=stored.created_at,
        now=time.time(),
        envelope_id=None,
    )
    returned = InboundMessage(
        Envelope("", ("alice@sealpost.test",)),
        SessionInfo("mx", "127.0.0.1", 40001, helo="mx.example.net", local_hostname=MX),
        report,
    )
    rig.server.call(lambda: app.submission.submit(returned))
    [oob] = rig.wait_events("out_of_band")
    assert oob.message_id == original and oob.fields["bounce_class"] == "10"
    entries = _wait(
        lambda: rig.server.call(lambda: app.store.suppressions_of("late@example.net")),
        "the entries",
    )
    assert {e.source for e in entries} == {SuppressionSource.BOUNCE_RULE} and len(entries) == 2
