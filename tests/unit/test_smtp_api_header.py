"""X-MSYS-API (SparkPost's SMTP API header) read, checked and removed on injection."""

from __future__ import annotations

import json

import pytest

from sealpost.model.envelope import Envelope, InboundMessage, SessionInfo
from sealpost.submission.smtp_api_header import BadSmtpApi, apply_smtp_api, parse

BODY = b"\r\nhello\r\nX-MSYS-API: in the body is only text\r\n"


def message(head: bytes) -> InboundMessage:
    return InboundMessage(
        Envelope("a@tenant.test", ("b@remote.test",)),
        SessionInfo("submission", "127.0.0.1", 1, auth_user="k1"),
        head + BODY,
    )


def test_fields_become_the_api_annotations_and_the_header_goes():
    value = {
        "campaign_id": "spring",
        "metadata": {"order": 991, "nested": {"a": [1, 2]}},
        "tags": ["news", "fr"],
        "options": {"transactional": True, "open_tracking": False, "ip_pool": "shared"},
        "substitution_data": {"ignored": True},
    }
    head = b"From: a@tenant.test\r\nX-MSYS-API: " + json.dumps(value).encode() + b"\r\nTo: b\r\n"
    out = apply_smtp_api(message(head))
    assert isinstance(out, InboundMessage)
    assert out.data == b"From: a@tenant.test\r\nTo: b\r\n" + BODY  # the body is untouched
    assert out.annotations == {
        "campaign_id": "spring",
        "rcpt_meta": {"order": 991, "nested": {"a": [1, 2]}},
        "rcpt_tags": ["news", "fr"],
        "transactional": "1",
    }


def test_a_folded_header_in_any_case_is_read_whole_and_removed_whole():
    head = (
        b'Subject: x\r\nx-msys-api: {"campaign_id":\r\n\t"folded",\r\n  "tags": ["t"]}\r\nTo: b\r\n'
    )
    out = apply_smtp_api(message(head))
    assert isinstance(out, InboundMessage)
    assert out.data == b"Subject: x\r\nTo: b\r\n" + BODY
    assert out.annotations["campaign_id"] == "folded" and out.annotations["rcpt_tags"] == ["t"]


def test_the_last_header_line_before_the_body_is_removed_cleanly():
    out = apply_smtp_api(message(b'To: b\r\nX-MSYS-API: {"campaign_id": "c"}\r\n'))
    assert isinstance(out, InboundMessage) and out.data == b"To: b\r\n" + BODY


def test_no_header_leaves_the_message_as_it_is():
    original = message(b"From: a@tenant.test\r\nX-Other: {}\r\n")
    assert apply_smtp_api(original) is original


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "JSON object"),
        (b'{"campaign_id": 5}', "campaign_id"),
        (b'{"campaign_id": "' + b"c" * 65 + b'"}', "64 bytes"),
        (b'{"metadata": [1]}', "metadata"),
        (b'{"tags": "one"}', "tags"),
        (b'{"tags": ["a\\r\\nBcc: x"]}', "control"),
        (b'{"options": []}', "options"),
        (b'{"options": {"transactional": "yes"}}', "options.transactional"),
        (b'{"options": {"ip_pool": 3}}', "options.ip_pool"),
        (b'{"options": {"sandbox": true}}', "sandbox"),
        (b'{"cc": [{"email": "c@x.test"}]}', "cc is not supported"),
        (b'{"bcc": [{"email": "c@x.test"}]}', "bcc is not supported"),
        (b'{"archive": [{"email": "c@x.test"}]}', "archive is not supported"),
        (b"\xff\xfe", "not valid JSON"),
        (b'{"metadata": {"k": "' + b"v" * 20000 + b'"}}', "longer than"),
    ],
)
def test_an_unusable_value_is_refused_naming_the_problem(raw: bytes, words: str):
    refused = parse(raw)
    assert isinstance(refused, BadSmtpApi) and words in str(refused)
    assert str(refused).isascii() and "\r" not in str(refused)


def test_empty_cc_lists_and_null_campaign_are_fine():
    read = parse(b'{"cc": [], "bcc": null, "campaign_id": null, "options": {}}')
    assert not isinstance(read, BadSmtpApi) and read.campaign_id == ""


def test_two_headers_are_refused():
    head = b'X-MSYS-API: {"campaign_id": "a"}\r\nX-MSYS-API: {"campaign_id": "b"}\r\n'
    refused = apply_smtp_api(message(head))
    assert isinstance(refused, BadSmtpApi) and "more than once" in str(refused)
