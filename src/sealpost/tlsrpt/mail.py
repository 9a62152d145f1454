"""Which held messages are TLS-RPT reports, and the report each one carries.

RFC 8460 section 5.3: a report by mail is ``multipart/report`` with
``report-type="tlsrpt"``, a human-readable part, and the report as an
``application/tlsrpt+gzip`` (or ``application/tlsrpt+json``) part; its Subject is
``Report Domain: ... Submitter: ... Report-ID: <...>`` and it carries a
``TLS-Report-Domain`` header. Senders bend that (Google's and Microsoft's reports have been
seen as a plain ``multipart/mixed`` with an ``application/gzip`` attachment named
``*.json.gz``), so a message counts as a report when any of these holds, and the report is the
first part that is labelled as one, or an attachment named ``*.json.gz`` with a gzip, JSON or
octet-stream type (``*.json`` too, in a message that says it is a report: multipart/report
``tlsrpt``, a ``TLS-Report-Domain`` header or a ``Report Domain:`` Subject).

A message that is none of this is ordinary local mail (``Found.NOT_A_REPORT``) and is left
alone without a word; one that is a report but whose report cannot be found or read is logged
by the intake, and stays held either way.
"""

from __future__ import annotations

from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import Message
from enum import Enum

REPORT_TYPES = ("application/tlsrpt+gzip", "application/tlsrpt+json")
ATTACHMENT_TYPES = (
    "application/gzip",
    "application/x-gzip",
    "application/json",
    "application/octet-stream",
    *REPORT_TYPES,
)
GZIP_SUFFIXES = (".json.gz", ".json.gzip")


class Found(Enum):
    NOT_A_REPORT = "not a report"
    NO_REPORT_PART = "a TLS-RPT message without a report part"


@dataclass(frozen=True, slots=True)
class ReportPart:
    """The report's bytes as sent (gzip or JSON), and how the part was labelled."""

    body: bytes
    content_type: str
    filename: str | None


# What the standard library's email package raises on hostile headers and bodies (an RFC 2231
# filename with a NUL or an unknown charset, a broken parameter): that part is no report.
_MIME_ERRORS = (ValueError, LookupError, TypeError, IndexError, AttributeError)


def _filename(part: Message) -> str | None:
    name = part.get_filename()
    return name.strip().lower() if isinstance(name, str) else None


def _is_report_part(part: Message, claimed: bool) -> bool:
    kind = part.get_content_type()
    if kind in REPORT_TYPES:
        return True
    name = _filename(part)
    if kind not in ATTACHMENT_TYPES or name is None:
        return False
    return name.endswith(GZIP_SUFFIXES) or (claimed and name.endswith(".json"))


def _looks_like_report(message: Message) -> bool:
    report_type = str(message.get_param("report-type", "", header="content-type")).lower()
    if message.get_content_type() == "multipart/report" and report_type == "tlsrpt":
        return True
    subject = str(message.get("Subject", ""))
    return message.get("TLS-Report-Domain") is not None or subject.startswith("Report Domain:")


def find_report(data: bytes) -> ReportPart | Found:
    """The report a message carries, or why there is none."""
    try:
        message = message_from_bytes(data, policy=policy.compat32)
    except _MIME_ERRORS:  # e.g. CPython's decode_params on "boundary*=a; boundary*3=b"
        return Found.NOT_A_REPORT  # nothing can be read from it, a report least of all
    try:
        claimed = _looks_like_report(message)
    except _MIME_ERRORS:
        claimed = False
    for part in message.walk():
        try:
            if part.is_multipart() or not _is_report_part(part, claimed):
                continue
            body = part.get_payload(decode=True)
            if isinstance(body, bytes) and body:
                return ReportPart(body, part.get_content_type(), _filename(part))
        except _MIME_ERRORS:
            continue
    return Found.NO_REPORT_PART if claimed else Found.NOT_A_REPORT
