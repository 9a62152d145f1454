"""Event records: the header facts every injection event carries."""

from __future__ import annotations

from sealpost.events.records import header_facts


def test_event_header_facts_unfold_and_decode():
    data = (
        b'Received: from x\r\n\tby y\r\nFrom: "Ann" <ann@x.test>\r\n'
        b"Subject: =?utf-8?q?h=C3=A9llo?=\r\n world\r\nSubject: second\r\n\r\nFrom: body"
    )
    assert header_facts(data) == {"friendly_from": "ann@x.test", "subject": "héllo world"}
    assert header_facts(b"X: y\r\n\r\n") == {"friendly_from": "", "subject": ""}
