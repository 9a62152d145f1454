"""Delivery Status Notifications (bounces and delay notices) we send to envelope senders.

RFC 3464 (the message/delivery-status fields) inside an RFC 6522 multipart/report with
report-type=delivery-status: a human-readable part, the status part, and the original
message's header section as text/rfc822-headers. RFC 3464 section 2 / RFC 5321 section
4.5.5 MUST: never send a DSN about a message whose return path is null, so ``build_dsn``
returns None for ``original_mail_from == ""``; the DSN itself is to be sent with a null
MAIL FROM. RFC 3834 section 5: it carries ``Auto-Submitted: auto-replied``.

Every value that reaches a header or a status field (addresses, the remote reply, names) is
made one line of printable text first, so a remote server cannot inject fields or parts.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from enum import StrEnum

SUBJECT_FAILED = "Undelivered Mail Returned to Sender"
SUBJECT_DELAYED = "Delayed Mail (still being retried)"
ORIGINAL_HEADERS_MAX = 64 * 1024
FIELD_VALUE_MAX = 900  # keeps every line under RFC 5322's 998 octets
_STATUS = re.compile(r"^[245]\.\d{1,3}\.\d{1,3}$")
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")  # C0, C1, Unicode line breaks
_HOST_UNSAFE = re.compile(r"[^A-Za-z0-9.\-:\[\]]")
_CRLF = b"\r\n"


class DsnAction(StrEnum):
    FAILED = "failed"
    DELAYED = "delayed"


@dataclass(frozen=True, slots=True)
class DsnRecipient:
    """One recipient's line in the report. ``diagnostic`` is the remote reply, as received."""

    address: str
    action: DsnAction
    status: str  # RFC 3463 x.y.z, e.g. "5.1.1"
    diagnostic: str
    remote_mta: str | None
    will_retry_until: float | None = None  # for "delayed": when the message is given up


def one_line(value: str, limit: int = FIELD_VALUE_MAX) -> str:
    """Printable text on one line: control characters (CR and LF among them) and Unicode line
    separators become spaces, runs of white space one space."""
    return " ".join(_UNSAFE.sub(" ", value).split())[:limit]


def bare_address(value: str) -> str:
    """An address without angle brackets, spaces or control characters."""
    return re.sub(r"[\s<>\x00-\x1f\x7f-\x9f]", "", value)[:FIELD_VALUE_MAX]


def _host(value: str) -> str:
    return _HOST_UNSAFE.sub("", value)[:255] or "localhost"


def _date(ts: float) -> str:
    return format_datetime(datetime.fromtimestamp(ts, UTC))


def fold(name: str, value: str) -> str:
    """``Name: value`` folded at spaces so lines stay near 78 characters (RFC 5322 2.2.3)."""
    lines: list[str] = []
    current = f"{name}:"
    for word in value.split(" "):
        if len(current) + 1 + len(word) > 78 and current.strip() and current != f"{name}:":
            lines.append(current)
            current = " " + word
        else:
            current = f"{current} {word}"
    lines.append(current)
    return "\r\n".join(lines)


def _original_headers(data: bytes) -> bytes:
    """The header section of the original, CRLF-terminated, bare CR/LF normalised, capped."""
    end = data.find(b"\r\n\r\n")
    block = data if end < 0 else data[:end]
    lines = block.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
    out: list[bytes] = []
    size = 0
    for line in lines:
        if not line:
            break  # the end of the header section however it was written
        size += len(line) + 2
        if size > ORIGINAL_HEADERS_MAX:
            break
        out.append(line)
    return b"".join(line + _CRLF for line in out)


def _boundary(*parts: bytes) -> str:
    while True:
        candidate = f"=_sealpost_{secrets.token_hex(12)}"
        if not any(candidate.encode() in part for part in parts):
            return candidate


def _human_part(reporting_mta: str, recipients: Sequence[DsnRecipient], failed: bool) -> str:
    lines = [f"This is the mail system at host {reporting_mta}.", ""]
    if failed:
        lines += [
            "I'm sorry to have to inform you that your message could not",
            "be delivered to one or more recipients. Its headers are attached below.",
        ]
    else:
        lines += [
            "####### THIS IS A WARNING ONLY. YOU DO NOT NEED TO RESEND YOUR MESSAGE. #######",
            "",
            "Your message could not be delivered yet to one or more recipients.",
            "The mail system will keep trying to deliver it; its headers are attached below.",
        ]
    lines.append("")
    for r in recipients:
        where = f"host {_host(r.remote_mta)} said: " if r.remote_mta else ""
        state = "failed" if r.action is DsnAction.FAILED else "delayed"
        text = f"<{bare_address(r.address)}> ({state}): {where}{one_line(r.diagnostic)}"
        lines += textwrap.wrap(text, 78, subsequent_indent="    ", break_on_hyphens=False)
    return "\r\n".join(lines) + "\r\n"


def _status_part(
    reporting_mta: str,
    recipients: Sequence[DsnRecipient],
    arrival: float,
    now: float,
    envelope_id: str | None,
    queue_id: str,
) -> str:
    blocks = []
    head = [f"Reporting-MTA: dns; {reporting_mta}"]
    if queue_id:
        head.append(fold("X-Sealpost-Queue-Id", queue_id))
    if envelope_id:
        head.append(fold("Original-Envelope-Id", one_line(envelope_id, 100)))
    head.append(f"Arrival-Date: {_date(arrival)}")
    blocks.append("\r\n".join(head))
    for r in recipients:
        fields = [
            fold("Final-Recipient", f"rfc822; {bare_address(r.address)}"),
            f"Action: {r.action.value}",
            f"Status: {r.status}",
        ]
        if r.remote_mta:
            fields.append(f"Remote-MTA: dns; {_host(r.remote_mta)}")
        diagnostic = one_line(r.diagnostic)
        if diagnostic:
            fields.append(fold("Diagnostic-Code", f"smtp; {diagnostic}"))
        fields.append(f"Last-Attempt-Date: {_date(now)}")
        if r.action is DsnAction.DELAYED and r.will_retry_until is not None:
            fields.append(f"Will-Retry-Until: {_date(r.will_retry_until)}")
        blocks.append("\r\n".join(fields))
    return "\r\n\r\n".join(blocks) + "\r\n"


def _msg_id(value: str) -> str | None:
    bare = re.sub(r"[\s<>\x00-\x1f\x7f]", "", value)
    return f"<{bare[:250]}>" if bare else None


def _returned_message_id(headers: bytes) -> str | None:
    """The Message-ID of the returned header section, for In-Reply-To (RFC 3834 3.1.5)."""
    match = re.search(rb"(?im)^message-id[ \t]*:[ \t]*(<[^<>\r\n]{1,250}>)", headers)
    return _msg_id(match.group(1).decode("utf-8", "replace")) if match else None


def _encoding(body: bytes) -> str:
    return "7bit" if body.isascii() else "8bit"


def build_dsn(
    *,
    reporting_mta: str,
    original_mail_from: str,
    original_message_id: str,
    original_headers: bytes,
    recipients: Sequence[DsnRecipient],
    arrival: float,
    now: float,
    envelope_id: str | None,
) -> bytes | None:
    """The DSN message (CRLF line endings), or None when the original had a null sender.

    ``original_message_id`` names the original for the sender and for us: it is reported as
    ``X-Sealpost-Queue-Id`` (like Postfix's ``X-Postfix-Queue-ID``) and, when it is an
    RFC 5322 msg-id and the returned headers have none, used for In-Reply-To/References.

    ``original_headers`` may be the whole original message: only its header section is
    returned. Raises ValueError for an empty recipient list or a malformed status code.
    """
    sender = bare_address(original_mail_from)
    if not sender:
        return None
    if not recipients:
        raise ValueError("a DSN needs at least one recipient")
    checked: list[DsnRecipient] = []
    for r in recipients:
        if not _STATUS.match(r.status):
            raise ValueError(f"not an RFC 3463 status code: {r.status!r}")
        checked.append(
            DsnRecipient(
                r.address,
                DsnAction(r.action),
                r.status,
                r.diagnostic,
                r.remote_mta,
                r.will_retry_until,
            )
        )
    mta = _host(reporting_mta)
    failed = any(r.action is DsnAction.FAILED for r in checked)
    human = _human_part(mta, checked, failed).encode("utf-8")
    queue_id = one_line(original_message_id, 250)
    status = _status_part(mta, checked, arrival, now, envelope_id, queue_id).encode("utf-8")
    returned = _original_headers(original_headers)
    boundary = _boundary(human, status, returned)
    digest = hashlib.sha256(f"{original_message_id}/{now}".encode()).hexdigest()[:12]
    unique = f"{int(now)}.{digest}{secrets.token_hex(4)}"

    headers = [
        f"From: Mail Delivery System <MAILER-DAEMON@{mta}>",
        f"To: <{sender}>",
        f"Subject: {SUBJECT_FAILED if failed else SUBJECT_DELAYED}",
        f"Date: {_date(now)}",
        f"Message-ID: <{unique}.dsn@{mta}>",
        "Auto-Submitted: auto-replied",
    ]
    original_id = _returned_message_id(returned) or (
        _msg_id(original_message_id) if "@" in original_message_id else None
    )
    if original_id:
        headers += [f"In-Reply-To: {original_id}", f"References: {original_id}"]
    headers += [
        "MIME-Version: 1.0",
        "Content-Type: multipart/report; report-type=delivery-status;",
        f'\tboundary="{boundary}"',
    ]
    b = boundary.encode()
    parts = [
        (b"text/plain; charset=utf-8", b"Notification", human),
        (b"message/delivery-status", b"Delivery report", status),
        (b"text/rfc822-headers", b"Undelivered message headers", returned),
    ]
    body = [b"This is a MIME-encapsulated message.\r\n"]
    for content_type, description, payload in parts:
        body += [
            b"\r\n--" + b + _CRLF,
            b"Content-Description: " + description + _CRLF,
            b"Content-Type: " + content_type + _CRLF,
            b"Content-Transfer-Encoding: " + _encoding(payload).encode() + _CRLF,
            _CRLF,
            payload,
        ]
    body.append(b"\r\n--" + b + b"--\r\n")
    return "\r\n".join(headers).encode("utf-8") + _CRLF + _CRLF + b"".join(body)
