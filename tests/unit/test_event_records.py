"""Event records: the header facts every injection event carries, and the ``tls`` object
every delivery, delay and bounce event carries."""

from __future__ import annotations

import json

import pytest

from sealpost.events.records import header_facts
from sealpost.model.tls_record import Fallback, TlsRecord
from sealpost.model.tlsrpt import TlsFailure


def test_event_header_facts_unfold_and_decode():
    data = (
        b'Received: from x\r\n\tby y\r\nFrom: "Ann" <ann@x.test>\r\n'
        b"Subject: =?utf-8?q?h=C3=A9llo?=\r\n world\r\nSubject: second\r\n\r\nFrom: body"
    )
    assert header_facts(data) == {"friendly_from": "ann@x.test", "subject": "héllo world"}
    assert header_facts(b"X: y\r\n\r\n") == {"friendly_from": "", "subject": ""}


# -- the ``tls`` object: typed fields, the same JSON as before (DESIGN.md section 5) --------

TLS_KEYS = [
    "level_required",
    "policy_source",
    "policy_mode",
    "offered",
    "version",
    "cipher",
    "verified",
    "verify_error",
    "peer_name",
    "cert_subject",
    "cert_issuer",
    "cert_sha256",
    "cert_not_after",
    "dane",
    "fallback",
    "tls_required",
]


@pytest.mark.parametrize(
    ("record", "text"),
    [
        (TlsRecord(fallback=Fallback.HANDSHAKE_FAILED), "plaintext after TLS handshake failure"),
        (
            TlsRecord(fallback=Fallback.HANDSHAKE_FAILED_RECENTLY),
            "plaintext: TLS handshake failed recently",
        ),
        (
            TlsRecord(fallback=Fallback.STARTTLS_REFUSED, starttls_reply_code=454),
            "plaintext: STARTTLS refused (454)",
        ),
        (TlsRecord(), None),
    ],
)
def test_fallback_is_its_text_in_the_event(record: TlsRecord, text: str | None) -> None:
    view = record.event_view()
    assert list(view) == TLS_KEYS
    assert view["fallback"] == text and type(view["fallback"]) in (str, type(None))


def test_the_typed_failure_never_reaches_the_event_json() -> None:
    record = TlsRecord(
        level_required="encrypt",
        policy_source="operator",
        offered=True,
        peer_name="mx.example.test",
        fallback=Fallback.STARTTLS_REFUSED,
        starttls_reply_code=502,
        failure=TlsFailure.STARTTLS_NOT_SUPPORTED,
    )
    assert json.dumps(record.event_view(), separators=(",", ":")) == (
        '{"level_required":"encrypt","policy_source":"operator","policy_mode":null,'
        '"offered":true,"version":null,"cipher":null,"verified":null,"verify_error":null,'
        '"peer_name":"mx.example.test","cert_subject":null,"cert_issuer":null,'
        '"cert_sha256":null,"cert_not_after":null,"dane":null,'
        '"fallback":"plaintext: STARTTLS refused (502)","tls_required":null}'
    )


def test_typed_fields_survive_a_round_trip_through_the_record_dict() -> None:
    record = TlsRecord(
        fallback=Fallback.HANDSHAKE_FAILED, failure=TlsFailure.VALIDATION_FAILURE, offered=True
    )
    assert TlsRecord.from_dict(json.loads(json.dumps(record.to_dict()))) == record
