"""Reading DSNs that come back to us: which recipients failed, how, and for which message.

RFC 6522: a report is a multipart/report whose parts are a human-readable text, the
machine-readable report, and optionally the returned message or its headers. RFC 3464
section 2.2-2.3: the message/delivery-status body is one block of per-message fields, then
one block per recipient (Final-Recipient, Action, Status required; Remote-MTA and
Diagnostic-Code optional). RFC 6533 adds the message/global-* variants used with SMTPUTF8.

The message we sent is identified from the returned header section: its Message-ID and its
``X-Sealpost-Id``. Every value is returned as one line of printable text; anything that is
not a delivery report gives None rather than an error, since bounces come from anyone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.header import Header, decode_header
from email.message import Message
from email.parser import BytesParser, HeaderParser
from email.policy import compat32

from sealpost.delivery.dsn import one_line

STATUS_TYPES = frozenset({"message/delivery-status", "message/global-delivery-status"})
RETURNED_TYPES = frozenset(
    {
        "text/rfc822-headers",
        "message/rfc822-headers",
        "message/global-headers",
        "message/rfc822",
        "message/global",
    }
)
SEALPOST_ID_HEADER = "X-Sealpost-Id"
_STATUS_CODE = re.compile(r"\b([245]\.\d{1,3}\.\d{1,3})\b")
_FIELD = re.compile(r"^([!-9;-~]+)[ \t]*:(.*)$")
VALUE_MAX = 4000  # longer than any field we write (dsn.FIELD_VALUE_MAX) plus its type


@dataclass(frozen=True, slots=True)
class DsnReport:
    """One recipient block of a received DSN."""

    address: str  # from Final-Recipient, without its address type
    action: str  # failed | delayed | delivered | relayed | expanded (lower case)
    status: str  # x.y.z, "" when the block had none
    diagnostic: str  # Diagnostic-Code without its type ("550 5.1.1 ..."), may be ""
    remote_mta: str | None
    original_recipient: str | None = None


@dataclass(frozen=True, slots=True)
class ParsedDsn:
    reporting_mta: str | None
    envelope_id: str | None
    recipients: tuple[DsnReport, ...]
    original_message_id: str | None  # as in the returned Message-ID header, e.g. "<a@b>"
    sealpost_id: str | None  # the returned X-Sealpost-Id header


def _typed(value: str | None) -> tuple[str | None, str]:
    """``"rfc822; a@b"`` -> ``("rfc822", "a@b")``; a value without a type -> ``(None, ...)``."""
    text = one_line(value or "", VALUE_MAX)
    kind, sep, rest = text.partition(";")
    if sep and kind.strip() and " " not in kind.strip():
        return kind.strip().lower(), rest.strip()
    return None, text


def _address(value: str | None) -> str:
    _, text = _typed(value)
    return text.strip().strip("<>").strip()


def _fields_from_text(text: str) -> list[list[tuple[str, str]]]:
    """Blocks of ``(name, value)`` from a status body that the email package left as text."""
    blocks: list[list[tuple[str, str]]] = []
    current: list[tuple[str, str]] = []
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if not line.strip():
            if current:
                blocks.append(current)
                current = []
            continue
        if line[:1] in (" ", "\t") and current:
            name, value = current[-1]
            current[-1] = (name, f"{value} {line.strip()}")
            continue
        match = _FIELD.match(line)
        if match:
            current.append((match.group(1), match.group(2).strip()))
    if current:
        blocks.append(current)
    return blocks


def _text(value: object) -> str:
    """A header value as text; raw 8-bit values (SMTPUTF8, RFC 6533) are read as UTF-8."""
    if isinstance(value, Header):
        return "".join(
            chunk.decode("utf-8", "replace") if isinstance(chunk, bytes) else chunk
            for chunk, _ in decode_header(value)
        )
    return str(value)


def _payload_text(part: Message) -> str:
    raw = part.get_payload(decode=True)
    if isinstance(raw, bytes):
        return raw.decode("utf-8", "replace")
    payload = part.get_payload()
    return payload if isinstance(payload, str) else ""


def _status_blocks(part: Message) -> list[dict[str, str]]:
    payload = part.get_payload()
    if isinstance(payload, list):
        raw_blocks = [list(block.items()) for block in payload if isinstance(block, Message)]
    else:
        raw_blocks = _fields_from_text(_payload_text(part))
    blocks = []
    for raw in raw_blocks:
        block: dict[str, str] = {}
        for name, value in raw:
            block.setdefault(name.lower(), one_line(_text(value), VALUE_MAX))
        if block:
            blocks.append(block)
    return blocks


def _returned_headers(part: Message) -> Message | None:
    payload = part.get_payload()
    if isinstance(payload, list):
        inner = payload[0] if payload else None
        return inner if isinstance(inner, Message) else None
    return HeaderParser(policy=compat32).parsestr(_payload_text(part), headersonly=True)


def _recipient(block: dict[str, str]) -> DsnReport | None:
    address = _address(block.get("final-recipient"))
    if not address:
        return None
    status = _STATUS_CODE.search(block.get("status", ""))
    _, diagnostic = _typed(block.get("diagnostic-code"))
    _, remote = _typed(block.get("remote-mta"))
    original = _address(block.get("original-recipient")) or None
    action = block.get("action", "").split(" ", 1)[0].lower()
    return DsnReport(
        address=address,
        action=action,
        status=status.group(1) if status else "",
        diagnostic=diagnostic,
        remote_mta=remote or None,
        original_recipient=original,
    )


def _header(headers: Message | None, name: str) -> str | None:
    if headers is None:
        return None
    value = headers.get(name)
    text = one_line(_text(value)) if value is not None else ""
    return text or None


def parse_dsn(data: bytes) -> ParsedDsn | None:
    """The delivery report in ``data``, or None when it is not an RFC 3464 DSN."""
    try:
        message = BytesParser(policy=compat32).parsebytes(data)
        if message.get_content_type() != "multipart/report":
            return None
        parts = message.get_payload()
        if not isinstance(parts, list):
            return None
        status_part = next(
            (p for p in parts if isinstance(p, Message) and p.get_content_type() in STATUS_TYPES),
            None,
        )
        if status_part is None:
            return None
        blocks = _status_blocks(status_part)
        returned = next(
            (p for p in parts if isinstance(p, Message) and p.get_content_type() in RETURNED_TYPES),
            None,
        )
        headers = _returned_headers(returned) if returned is not None else None
    except (ValueError, LookupError, TypeError, AttributeError, IndexError):
        return None
    if not blocks:
        return None
    per_message = blocks[0] if "final-recipient" not in blocks[0] else {}
    recipients = tuple(r for r in map(_recipient, blocks) if r is not None)
    _, reporting = _typed(per_message.get("reporting-mta"))
    return ParsedDsn(
        reporting_mta=reporting or None,
        envelope_id=per_message.get("original-envelope-id") or None,
        recipients=recipients,
        original_message_id=_header(headers, "Message-ID"),
        sealpost_id=_header(headers, SEALPOST_ID_HEADER),
    )
