"""A TLS report as mail (RFC 8460 section 5.3) and its file name (section 5.1).

- File name: ``<submitter>!<policy-domain>!<begin>!<end>!<unique-id>.json.gz``, the
  timestamps in seconds since the epoch (UTC), the unique id letters and digits.
- Message: ``multipart/report; report-type="tlsrpt"`` (section 5.3 MUST), a short text part,
  then the report as ``application/tlsrpt+gzip`` (base64) with that file name; the Subject
  reads ``Report Domain: <policy-domain> Submitter: <submitter> Report-ID: <report-id>``, and
  the ``TLS-Report-Domain`` and ``TLS-Report-Submitter`` fields name the same (section 5.3).
- ``TLS-Required: No`` (RFC 8689 section 5, ``model.tls_required``): RFC 8460 section 3
  says reports by mail MUST be delivered despite any TLS-related failure (a domain whose TLS
  is broken is the one that most needs its report); the message ignores DANE and MTA-STS.

RFC 8460 section 3: a mailed report MUST carry a valid DKIM signature of the reporting
domain, and receivers MUST ignore one that does not. Signing is the submission door's (a
report is mail we originate): it signs with the key of the sender's domain when we hold one.
"""

from __future__ import annotations

import calendar
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid

from sealpost.model.tlsrpt_report import TlsReport

CONTENT_TYPE = "application/tlsrpt+gzip"


def file_name(report: TlsReport, submitter: str, unique_id: str) -> str:
    begin = calendar.timegm(report.day.timetuple())
    end = begin + 86400
    return f"{submitter}!{report.policy_domain}!{begin}!{end}!{unique_id}.json.gz"


def subject(report: TlsReport, submitter: str) -> str:
    return (
        f"Report Domain: {report.policy_domain} Submitter: {submitter} "
        f"Report-ID: <{report.report_id}>"
    )


def report_message(
    report: TlsReport,
    body: bytes,
    *,
    sender: str,
    recipient: str,
    submitter: str,
    unique_id: str,
    now: float,
) -> bytes:
    """The report mail as CRLF bytes, ready for the submission door."""
    msg = EmailMessage(policy=SMTP)
    msg["From"] = sender
    msg["To"] = recipient
    msg["Date"] = format_datetime(datetime.fromtimestamp(now, UTC))
    msg["Message-ID"] = make_msgid(domain=submitter)
    msg["Subject"] = subject(report, submitter)
    msg["TLS-Report-Domain"] = report.policy_domain
    msg["TLS-Report-Submitter"] = submitter
    msg["TLS-Required"] = "No"
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: never answered automatically
    msg.set_content(
        f"This is an aggregate TLS report (RFC 8460) from {submitter} for "
        f"{report.policy_domain}, covering {report.start} to {report.end}.\r\n"
    )
    msg.add_attachment(
        body,
        maintype="application",
        subtype="tlsrpt+gzip",
        filename=file_name(report, submitter, unique_id),
    )
    msg.set_type("multipart/report")
    msg.set_param("report-type", "tlsrpt")
    return msg.as_bytes()
