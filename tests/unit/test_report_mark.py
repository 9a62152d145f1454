"""Which held mail the door marks as a possible TLS-RPT report (``submission.report_mark``):
every message ``tlsrpt.mail.find_report`` takes for a report is marked; ordinary mail (the
benchmark's text/plain, a multipart message with a plain JSON attachment) is not."""

from __future__ import annotations

import asyncio
from email.message import EmailMessage

from sealpost.model.envelope import Envelope, InboundMessage, SessionInfo
from sealpost.store import open_store
from sealpost.submission.door import Submission
from sealpost.submission.local_hold import LocalHold
from sealpost.submission.report_mark import may_be_report
from sealpost.tlsrpt.mail import Found, find_report
from tests.fixtures.tlsrpt_samples import google_mail, microsoft_mail, plain_mail

BENCH = (
    b"From: Load Generator <loadgen@client.bench.test>\r\nTo: <sink@bench.test>\r\n"
    b"Subject: benchmark message\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
    + b"The quick brown fox jumps over the lazy dog\r\n"
    * 100
)


def _attachment(filename: str, subject: str = "numbers") -> bytes:
    msg = EmailMessage()
    msg["From"] = "a@sender.test"
    msg["Subject"] = subject
    msg.set_content("see attached")
    msg.add_attachment(b"\x1f\x8b", maintype="application", subtype="gzip", filename=filename)
    return msg.as_bytes().replace(b"\n", b"\r\n")


def test_what_find_report_takes_for_a_report_is_marked_and_other_mail_is_not():
    reports = [
        google_mail(),
        microsoft_mail(),
        _attachment("Google.com!example.test!1!2.JSON.GZ"),  # no header says report
        b"Content-Type: application/tlsrpt+json\r\n\r\n{}\r\n",  # single-part report
        b"Subject: Report Domain: example.test\r\n\r\nno report part\r\n",  # claimed
        b"TLS-Report-Domain: example.test\r\n\r\nno report part\r\n",
    ]
    for data in reports:
        assert find_report(data) is not Found.NOT_A_REPORT
        assert may_be_report(data), data[:80]
    others = [BENCH, plain_mail(), _attachment("photos.tar.gz"), b"Subject: hi\r\n\r\nx\r\n"]
    for data in others:
        assert find_report(data) is Found.NOT_A_REPORT
        assert not may_be_report(data), data[:80]
    # A single-part message is judged by its header block alone.
    assert not may_be_report(b"Subject: hi\r\n\r\nsee a.json.gz and tlsrpt\r\n")


def test_the_door_marks_possible_reports_held_by_submit_and_submit_batch():
    async def scenario() -> None:
        store = open_store("memory://")
        door = Submission(store, local_hold=LocalHold.of(["example.test"], []))
        woken: list[int] = []
        door.on_held(lambda: woken.append(1))
        session = SessionInfo(listener="mx", client_ip="192.0.2.1", client_port=1, helo="h")

        def inbound(data: bytes, rcpt: str = "tlsrpt@example.test") -> InboundMessage:
            return InboundMessage(Envelope("r@sender.test", (rcpt,)), session, data)

        plain = await door.submit(inbound(BENCH))
        report = await door.submit(inbound(google_mail()))
        queued = await door.submit(inbound(google_mail(), "x@elsewhere.test"))  # not held
        assert woken == [1]
        ids = await door.submit_batch([inbound(BENCH), inbound(microsoft_mail())])
        assert woken == [1, 1]
        await door.submit_batch([inbound(BENCH)])
        assert woken == [1, 1]  # nothing marked, no wake-up
        marked = await store.list_report_marked()
        assert marked == [report.message_id, ids[1]]  # type: ignore[union-attr]
        assert plain.message_id not in marked and queued.message_id not in marked  # type: ignore[union-attr]

    asyncio.run(scenario())
