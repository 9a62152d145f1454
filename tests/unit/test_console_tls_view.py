"""An attempt's TLS record as the console words it (``console.tls_view``): verified only
when the certificate was checked and passed (RFC 7435 section 6), the reason when not, the
plaintext fallback and a policy refusal named; every field of the event's ``tls`` object has
its row."""

from __future__ import annotations

import pytest

from sealpost.console.tls_view import attempt_view, tls_rows, verdict
from sealpost.model.events import EventRecord
from sealpost.model.tls_record import Fallback, TlsRecord


@pytest.mark.parametrize(
    ("record", "words", "badge"),
    [
        (TlsRecord(version="TLSv1.3", verified=True, offered=True), "Verified TLS (TLSv1.3)", "ok"),
        (
            TlsRecord(version="TLSv1.2", verified=False, verify_error="certificate has expired"),
            "Encrypted, not verified (TLSv1.2): certificate has expired",
            "warn",
        ),
        (
            TlsRecord(version="TLSv1.3", verified=None),
            "Encrypted, not verified (TLSv1.3): the certificate was not checked",
            "warn",
        ),
        (
            TlsRecord(offered=True, fallback=Fallback.STARTTLS_REFUSED, starttls_reply_code=454),
            "Plaintext: plaintext: STARTTLS refused (454)",
            "bad",
        ),
        (TlsRecord(offered=False), "Plaintext: the server did not offer STARTTLS", "bad"),
        (
            TlsRecord(offered=True, level_required="verify"),
            "No TLS session: refused by policy",
            "bad",
        ),
    ],
)
def test_the_verdict_never_calls_unchecked_tls_verified(record, words, badge):
    assert verdict(record.event_view()) == (words, badge)


def test_every_field_of_the_tls_object_has_a_row():
    record = TlsRecord(
        version="TLSv1.3",
        cipher="TLS_AES_256_GCM_SHA384",
        peer_cert_subject="CN=mx.example.net",
        peer_cert_issuer="CN=Example CA",
        level_required="dane",
        policy_source="dane",
        dane={"matched": "3 1 1", "secure": True},
    )
    rows = dict(tls_rows(record.event_view()))
    assert rows["Certificate subject"] == "CN=mx.example.net"
    assert rows["Certificate issuer"] == "CN=Example CA"
    assert rows["Policy"].startswith("DANE") and rows["Policy source"] == "dane"
    assert rows["DANE"] == "matched: 3 1 1, secure: yes"
    # one row per key of the event's tls object: a new key fails here until it is shown
    assert len(rows) == len(record.event_view())


def test_a_delay_event_shows_its_reply_and_record():
    fields = {
        "raw_reason": "451 4.7.5 certificate not trusted",
        "tls": TlsRecord(offered=True, level_required="verify").event_view(),
        "ip_address": "192.0.2.1",
    }
    entry = attempt_view(EventRecord("delay", "m1", 0.0, fields, "bob@example.net"))
    assert entry.summary == "Deferred (will retry)" and entry.reply.startswith("451 4.7.5")
    assert entry.verdict_class == "bad" and ("Server address", "192.0.2.1") in entry.extra_rows
