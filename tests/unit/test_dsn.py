"""DSNs: the bounces we build (RFC 3464 / RFC 6522, read back with Python's email package) and
the bounces we read (our own and a Postfix-style one), including hostile remote replies."""

from __future__ import annotations

import email
import re
from email import policy
from email.message import EmailMessage, Message

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sealpost.delivery.dsn import (
    SUBJECT_DELAYED,
    SUBJECT_FAILED,
    DsnAction,
    DsnRecipient,
    build_dsn,
    one_line,
)
from sealpost.delivery.dsn_parse import DsnReport, ParsedDsn, parse_dsn

ORIGINAL = (
    b"Received: from client.shop.test by mx.shop.test (Sealpost) with ESMTPSA id x\r\n"
    b"From: Orders <orders@shop.test>\r\n"
    b"To: ann@remote.example\r\n"
    b"Subject: Your receipt\r\n"
    b"Message-ID: <20260101.abc@shop.test>\r\n"
    b"X-Sealpost-Id: 0001a2b3c4d5e6f70819\r\n"
    b"\r\n"
    b"Secret body text that must not be returned.\r\n"
)
ARRIVAL = 1767225600.0  # 2026-01-01T00:00:00Z
NOW = ARRIVAL + 3600


def failed(address: str = "ann@remote.example", **kw: object) -> DsnRecipient:
    values: dict[str, object] = {
        "action": DsnAction.FAILED,
        "status": "5.1.1",
        "diagnostic": "550 5.1.1 <ann@remote.example>: Recipient address rejected: User unknown",
        "remote_mta": "mx1.remote.example",
    }
    values.update(kw)
    return DsnRecipient(address, **values)  # type: ignore[arg-type]


def build(*recipients: DsnRecipient, **kw: object) -> bytes:
    args: dict[str, object] = {
        "reporting_mta": "mx.shop.test",
        "original_mail_from": "bounces@shop.test",
        "original_message_id": "0001a2b3c4d5e6f70819",
        "original_headers": ORIGINAL,
        "recipients": list(recipients) or [failed()],
        "arrival": ARRIVAL,
        "now": NOW,
        "envelope_id": None,
    }
    args.update(kw)
    data = build_dsn(**args)  # type: ignore[arg-type]
    assert data is not None
    return data


def parse(data: bytes) -> EmailMessage:
    message = email.message_from_bytes(data, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def status_blocks(message: Message) -> list[Message]:
    part = next(p for p in message.walk() if p.get_content_type() == "message/delivery-status")
    blocks = part.get_payload()
    assert isinstance(blocks, list)
    return blocks


def assert_crlf_only(data: bytes) -> None:
    assert re.search(rb"(?<!\r)\n", data) is None, "bare LF"
    assert re.search(rb"\r(?!\n)", data) is None, "bare CR"
    assert max(len(line) for line in data.split(b"\r\n")) <= 998


# --- building ------------------------------------------------------------------------------


@pytest.mark.parametrize("sender", ["", "<>", " "])
def test_never_bounce_a_bounce(sender: str) -> None:
    assert (
        build_dsn(
            reporting_mta="mx.shop.test",
            original_mail_from=sender,
            original_message_id="x",
            original_headers=ORIGINAL,
            recipients=[failed()],
            arrival=ARRIVAL,
            now=NOW,
            envelope_id=None,
        )
        is None
    )


def test_a_failure_report_is_a_multipart_report_with_three_parts() -> None:
    data = build(envelope_id="env-42")
    assert_crlf_only(data)
    message = parse(data)
    assert message["From"] == "Mail Delivery System <MAILER-DAEMON@mx.shop.test>"
    assert message["To"].addresses[0].addr_spec == "bounces@shop.test"
    assert message["Subject"] == SUBJECT_FAILED
    assert message["Auto-Submitted"] == "auto-replied"
    assert message["Date"] == "Thu, 01 Jan 2026 01:00:00 +0000"
    assert message["Message-ID"].endswith("@mx.shop.test>")
    assert message["In-Reply-To"] == "<20260101.abc@shop.test>"
    assert message["References"] == "<20260101.abc@shop.test>"
    assert message.get_content_type() == "multipart/report"
    assert message.get_param("report-type") == "delivery-status"
    assert [p.get_content_type() for p in message.iter_parts()] == [
        "text/plain",
        "message/delivery-status",
        "text/rfc822-headers",
    ]
    assert not message.defects


def test_the_status_part_has_the_rfc_3464_fields() -> None:
    data = build(
        failed(),
        failed(
            "bob@remote.example", status="5.2.2", diagnostic="552 mailbox full", remote_mta=None
        ),
        envelope_id="env-42",
    )
    per_message, ann, bob = status_blocks(parse(data))
    assert per_message["Reporting-MTA"] == "dns; mx.shop.test"
    assert per_message["Original-Envelope-Id"] == "env-42"
    assert per_message["Arrival-Date"] == "Thu, 01 Jan 2026 00:00:00 +0000"
    assert per_message["X-Sealpost-Queue-Id"] == "0001a2b3c4d5e6f70819"
    assert ann["Final-Recipient"] == "rfc822; ann@remote.example"
    assert ann["Action"] == "failed"
    assert ann["Status"] == "5.1.1"
    assert ann["Remote-MTA"] == "dns; mx1.remote.example"
    assert " ".join(ann["Diagnostic-Code"].split()) == (
        "smtp; 550 5.1.1 <ann@remote.example>: Recipient address rejected: User unknown"
    )
    assert ann["Last-Attempt-Date"] == "Thu, 01 Jan 2026 01:00:00 +0000"
    assert bob["Status"] == "5.2.2"
    assert bob["Remote-MTA"] is None


def test_a_delay_notice_says_so_and_when_retries_end() -> None:
    data = build(
        failed(
            action=DsnAction.DELAYED,
            status="4.4.1",
            diagnostic="421 4.4.1 timeout",
            will_retry_until=ARRIVAL + 5 * 86400,
        )
    )
    message = parse(data)
    assert message["Subject"] == SUBJECT_DELAYED
    _, block = status_blocks(message)
    assert block["Action"] == "delayed"
    assert block["Will-Retry-Until"] == "Tue, 06 Jan 2026 00:00:00 +0000"
    human = message.get_body(("plain",))
    assert human is not None and "WARNING ONLY" in human.get_content()


def test_actions_may_be_given_as_strings() -> None:
    data = build(failed(action="delayed", status="4.0.0"))  # type: ignore[arg-type]
    assert parse(data)["Subject"] == SUBJECT_DELAYED


def test_a_mixed_report_is_a_failure_report() -> None:
    data = build(failed(), failed("bob@remote.example", action=DsnAction.DELAYED, status="4.2.2"))
    assert parse(data)["Subject"] == SUBJECT_FAILED


def test_only_the_original_header_section_is_returned() -> None:
    message = parse(build())
    part = list(message.iter_parts())[2]
    returned = part.get_payload(decode=True)
    assert isinstance(returned, bytes)
    assert b"Subject: Your receipt\r\n" in returned
    assert b"X-Sealpost-Id: 0001a2b3c4d5e6f70819" in returned
    assert b"Secret body" not in returned


def test_original_headers_with_bare_line_feeds_are_normalised() -> None:
    data = build(original_headers=b"From: a@shop.test\nSubject: x\n\nbody\n")
    assert_crlf_only(data)
    assert b"From: a@shop.test\r\nSubject: x\r\n" in data
    assert b"body" not in data.split(b"text/rfc822-headers", 1)[1]


def test_human_part_names_each_recipient_and_the_remote_reply() -> None:
    human = parse(build()).get_body(("plain",))
    assert human is not None
    text = " ".join(human.get_content().split())
    assert "This is the mail system at host mx.shop.test." in text
    assert "<ann@remote.example> (failed): host mx1.remote.example said: 550 5.1.1" in text


def test_a_huge_remote_reply_keeps_lines_short() -> None:
    data = build(
        failed(diagnostic="550 " + "x" * 5000), failed("b@r.example", diagnostic="5 " * 3000)
    )
    assert_crlf_only(data)
    parsed = parse_dsn(data)
    assert parsed is not None and len(parsed.recipients) == 2


@pytest.mark.parametrize(
    "hostile",
    [
        {"diagnostic": "550 no\r\nBcc: victim@evil.test\r\n\r\nFinal-Recipient: rfc822; x@y"},
        {"diagnostic": "550 no\n--=_sealpost_fake--\nContent-Type: text/html"},
        {"remote_mta": "mx.evil.test\r\nBcc: victim@evil.test"},
        {"address": "ann@remote.example>\r\nBcc: victim@evil.test"},
    ],
)
def test_remote_text_cannot_inject_fields_or_parts(hostile: dict[str, str]) -> None:
    address = hostile.pop("address", "ann@remote.example")
    data = build(failed(address, **hostile))
    assert_crlf_only(data)
    message = parse(data)
    assert message["Bcc"] is None
    assert len(list(message.iter_parts())) == 3
    blocks = status_blocks(message)
    assert len(blocks) == 2
    assert all(block["Bcc"] is None for block in blocks)
    assert blocks[1]["Final-Recipient"].startswith("rfc822; ")
    assert blocks[1]["Action"] == "failed" and blocks[1]["Status"] == "5.1.1"
    assert not message.defects


def test_header_values_of_ours_are_sanitised_too() -> None:
    data = build(
        reporting_mta="mx.shop.test\r\nBcc: x@evil.test",
        original_mail_from="bounces@shop.test>\r\nBcc: x@evil.test",
        original_message_id="id\r\nBcc: x@evil.test",
        envelope_id="e\r\nBcc: x@evil.test",
    )
    assert_crlf_only(data)
    message = parse(data)
    assert message["Bcc"] is None
    assert all(block["Bcc"] is None for block in status_blocks(message))


@pytest.mark.parametrize("status", ["5.1", "5.1.1.1", "6.0.0", "x", "", "5.1.1\r\nBcc: x"])
def test_malformed_status_codes_are_refused(status: str) -> None:
    with pytest.raises(ValueError, match="status"):
        build(failed(status=status))


def test_an_empty_recipient_list_is_refused() -> None:
    with pytest.raises(ValueError, match="recipient"):
        build_dsn(
            reporting_mta="mx.shop.test",
            original_mail_from="a@shop.test",
            original_message_id="x",
            original_headers=ORIGINAL,
            recipients=[],
            arrival=ARRIVAL,
            now=NOW,
            envelope_id=None,
        )


def test_utf8_replies_are_kept_in_an_8bit_part() -> None:
    data = build(failed(diagnostic="550 5.1.1 Benutzer unbekannt: über"))
    human = parse(data).get_body(("plain",))
    assert human is not None and "über" in human.get_content()
    parsed = parse_dsn(data)
    assert parsed is not None and parsed.recipients[0].diagnostic.endswith("über")


# --- parsing our own -----------------------------------------------------------------------


def test_our_dsn_round_trips() -> None:
    data = build(
        failed(),
        failed(
            "bob@remote.example",
            action=DsnAction.DELAYED,
            status="4.4.1",
            diagnostic="421 4.4.1 Connection timed out",
            remote_mta=None,
        ),
        envelope_id="env-42",
    )
    assert parse_dsn(data) == ParsedDsn(
        reporting_mta="mx.shop.test",
        envelope_id="env-42",
        recipients=(
            DsnReport(
                "ann@remote.example",
                "failed",
                "5.1.1",
                "550 5.1.1 <ann@remote.example>: Recipient address rejected: User unknown",
                "mx1.remote.example",
            ),
            DsnReport(
                "bob@remote.example", "delayed", "4.4.1", "421 4.4.1 Connection timed out", None
            ),
        ),
        original_message_id="<20260101.abc@shop.test>",
        sealpost_id="0001a2b3c4d5e6f70819",
    )


@settings(max_examples=150, deadline=None)
@given(
    diagnostic=st.text(max_size=1200),
    address=st.from_regex(r"\A[a-z0-9.+-]{1,30}@[a-z0-9-]{1,20}\.example\Z"),
)
def test_any_remote_reply_round_trips_as_one_line(diagnostic: str, address: str) -> None:
    data = build(failed(address, diagnostic=diagnostic))
    assert_crlf_only(data)
    parsed = parse_dsn(data)
    assert parsed is not None
    (report,) = parsed.recipients
    assert report.address == address
    assert report.diagnostic == one_line(diagnostic)


# --- parsing other MTAs' bounces ----------------------------------------------------------

POSTFIX_BOUNCE = """\
Return-Path: <>
Received: by mx.remote.example (Postfix)
	id 3F2A1C0123; Thu,  1 Jan 2026 00:10:00 +0000 (UTC)
Date: Thu,  1 Jan 2026 00:10:00 +0000 (UTC)
From: MAILER-DAEMON@mx.remote.example (Mail Delivery System)
Subject: Undelivered Mail Returned to Sender
To: bounces@shop.test
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
	boundary="3F2A1C0123.1767226200/mx.remote.example"
Content-Transfer-Encoding: 8bit
Message-Id: <20260101001000.3F2A1C0124@mx.remote.example>

This is a MIME-encapsulated message.

--3F2A1C0123.1767226200/mx.remote.example
Content-Description: Notification
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

This is the mail system at host mx.remote.example.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients. It's attached below.

For further assistance, please send mail to postmaster.

                   The mail system

<ann@remote.example>: host mailstore.remote.example[192.0.2.30] said: 550
    5.1.1 <ann@remote.example>: Recipient address rejected: User unknown in
    virtual mailbox table (in reply to RCPT TO command)

--3F2A1C0123.1767226200/mx.remote.example
Content-Description: Delivery report
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.remote.example
X-Postfix-Queue-ID: 3F2A1C0123
X-Postfix-Sender: rfc822; bounces@shop.test
Arrival-Date: Thu,  1 Jan 2026 00:09:58 +0000 (UTC)

Final-Recipient: rfc822; ann@remote.example
Original-Recipient: rfc822;Ann@Remote.example
Action: failed
Status: 5.1.1
Remote-MTA: dns; mailstore.remote.example
Diagnostic-Code: smtp; 550 5.1.1 <ann@remote.example>: Recipient address
    rejected: User unknown in virtual mailbox table

Final-Recipient: rfc822; bob@remote.example
Original-Recipient: rfc822;bob@remote.example
Action: delayed
Status: 4.4.1
Diagnostic-Code: X-Postfix; connect to mailstore2.remote.example[192.0.2.31]:25:
    Connection timed out

--3F2A1C0123.1767226200/mx.remote.example
Content-Description: Undelivered Message
Content-Type: message/rfc822
Content-Transfer-Encoding: 8bit

Return-Path: <bounces@shop.test>
Received: from mx.shop.test (mx.shop.test [192.0.2.10])
	by mx.remote.example (Postfix) with ESMTPS id 3F2A1C0123
	for <ann@remote.example>; Thu,  1 Jan 2026 00:09:58 +0000 (UTC)
From: Orders <orders@shop.test>
To: ann@remote.example, bob@remote.example
Subject: Your receipt
Message-ID: <20260101.abc@shop.test>
X-Sealpost-Id: 0001a2b3c4d5e6f70819
Date: Thu, 01 Jan 2026 00:09:57 +0000

Thanks for your order.

--3F2A1C0123.1767226200/mx.remote.example--
"""


def crlf(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode()


def test_a_postfix_bounce_with_the_returned_message() -> None:
    parsed = parse_dsn(crlf(POSTFIX_BOUNCE))
    assert parsed is not None
    assert parsed.reporting_mta == "mx.remote.example"
    assert parsed.envelope_id is None
    assert parsed.original_message_id == "<20260101.abc@shop.test>"
    assert parsed.sealpost_id == "0001a2b3c4d5e6f70819"
    ann, bob = parsed.recipients
    assert ann == DsnReport(
        address="ann@remote.example",
        action="failed",
        status="5.1.1",
        diagnostic="550 5.1.1 <ann@remote.example>: Recipient address rejected: User unknown "
        "in virtual mailbox table",
        remote_mta="mailstore.remote.example",
        original_recipient="Ann@Remote.example",
    )
    assert (bob.action, bob.status, bob.remote_mta) == ("delayed", "4.4.1", None)
    assert bob.diagnostic == (
        "connect to mailstore2.remote.example[192.0.2.31]:25: Connection timed out"
    )


def test_a_postfix_bounce_with_headers_only_and_bare_line_feeds() -> None:
    text = POSTFIX_BOUNCE.replace(
        "Content-Description: Undelivered Message\nContent-Type: message/rfc822",
        "Content-Description: Undelivered Message Headers\nContent-Type: text/rfc822-headers",
    ).replace("\nThanks for your order.\n", "")
    parsed = parse_dsn(text.encode())  # LF line endings, as some MTAs store them
    assert parsed is not None
    assert parsed.original_message_id == "<20260101.abc@shop.test>"
    assert parsed.sealpost_id == "0001a2b3c4d5e6f70819"
    assert [r.address for r in parsed.recipients] == ["ann@remote.example", "bob@remote.example"]


def test_a_report_without_returned_headers_still_names_the_recipients() -> None:
    head, _, _ = POSTFIX_BOUNCE.partition(
        "--3F2A1C0123.1767226200/mx.remote.example\nContent-Description: Undelivered Message"
    )
    parsed = parse_dsn(crlf(head + "--3F2A1C0123.1767226200/mx.remote.example--\n"))
    assert parsed is not None
    assert (parsed.original_message_id, parsed.sealpost_id) == (None, None)
    assert len(parsed.recipients) == 2


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"From: a@b\r\nSubject: hello\r\n\r\nJust mail.\r\n",
        b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: text/plain"
        b"\r\n\r\nhi\r\n--x--\r\n",
        # an ARF spam complaint is a report too, but not a delivery report
        b"Content-Type: multipart/report; report-type=feedback-report; boundary=x\r\n\r\n"
        b"--x\r\nContent-Type: message/feedback-report\r\n\r\nFeedback-Type: abuse\r\n--x--\r\n",
        b"Content-Type: multipart/report; report-type=delivery-status\r\n\r\nno boundary",
        b"\xff\xfe\x00garbage",
    ],
)
def test_mail_that_is_not_a_dsn_gives_none(data: bytes) -> None:
    assert parse_dsn(data) is None


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_parse_dsn_never_raises_on_arbitrary_bytes(data: bytes) -> None:
    result = parse_dsn(data)
    assert result is None or isinstance(result, ParsedDsn)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_parse_dsn_never_raises_on_mangled_bounces(data: st.DataObject) -> None:
    raw = bytearray(crlf(POSTFIX_BOUNCE))
    for _ in range(data.draw(st.integers(min_value=1, max_value=8))):
        at = data.draw(st.integers(min_value=0, max_value=len(raw) - 1))
        raw[at] = data.draw(st.integers(min_value=0, max_value=255))
    result = parse_dsn(bytes(raw))
    assert result is None or isinstance(result, ParsedDsn)
