"""Building event records with SparkPost's field names and value types.

SparkPost's message events (reference section 5.2) use strings for numbers
(``num_retries``, ``msg_size``, ``queue_time``, ``bounce_class``, ``error_code``) and carry
``outbound_tls`` ("1" TLS used, "0" not offered, "-1" negotiation failed). Sealpost adds the
``tls`` object of DESIGN.md section 5 to every delivery, delay and bounce event. ``reason``
is ``raw_reason`` with addresses and IPs masked, as SparkPost does.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.header import decode_header, make_header
from typing import Any

from sealpost.model.envelope import InboundMessage
from sealpost.model.events import EventRecord
from sealpost.model.reply import Reply
from sealpost.model.tls_record import TlsRecord

_ADDRESS = re.compile(r"[^\s<>@]+@[^\s<>@]+")
_IPV4 = re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}\b")


_last_second: tuple[int, str] = (-1, "")


def iso(ts: float) -> str:
    """SparkPost's ISO form: ``2016-04-18T14:25:07.000Z``. The part up to the second is
    made once per second (events of one message share it; ``strftime`` showed in profiles)."""
    global _last_second
    second = int(ts // 1)
    if _last_second[0] != second:
        _last_second = (second, datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S."))
    return f"{_last_second[1]}{int(ts % 1 * 1000):03d}Z"


def mask(text: str) -> str:
    return _IPV4.sub("a.b.c.d", _ADDRESS.sub("...@...", text))


def outbound_tls(tls: TlsRecord | None) -> str:
    """SparkPost's flag: "1" TLS used, "0" not offered (or not tried), "-1" it failed."""
    if tls is not None and tls.version:
        return "1"
    if tls is None or not tls.offered or tls.level_required == "none":
        return "0"
    return "-1"


def header_facts(data: bytes) -> dict[str, str]:
    """``friendly_from`` and ``subject`` from the message's header block.

    A direct scan of the header lines (unfolding continuations), not the email package's
    parser: it runs for every injected message and showed up in profiles."""
    head = data.split(b"\r\n\r\n", 1)[0]
    found: dict[bytes, bytes] = {}
    current: bytes | None = None
    for line in head.split(b"\r\n"):
        if line[:1] in (b" ", b"\t"):
            if current is not None:
                found[current] += b" " + line.strip()
            continue
        name, sep, value = line.partition(b":")
        key = name.strip().lower()
        current = key if sep and key in (b"from", b"subject") and key not in found else None
        if current is not None:
            found[current] = value.strip()
    sender = found.get(b"from", b"").decode("utf-8", "replace")
    match = _ADDRESS.search(sender)
    return {
        "friendly_from": match.group(0).strip("<>") if match else "",
        "subject": _decoded(found.get(b"subject", b"").decode("utf-8", "replace")),
    }


def _decoded(value: str) -> str:
    """RFC 2047 encoded words decoded (events show the subject as people read it)."""
    if "=?" not in value:
        return value.replace("\r", "").replace("\n", "")
    try:
        text = str(make_header(decode_header(value)))
    except (ValueError, LookupError, UnicodeDecodeError):
        text = value
    return text.replace("\r", "").replace("\n", "")


def _common(message_id: str, message: InboundMessage, created_at: float) -> dict[str, Any]:
    return {
        **message.annotations,
        "message_id": message_id,
        "msg_from": message.envelope.mail_from,
        "msg_size": str(len(message.data)),
        "injection_time": iso(created_at),
        "recv_method": "rest" if message.session.listener == "api" else "esmtp",
        **header_facts(message.data),
    }


def injection_events(message_id: str, message: InboundMessage, now: float) -> list[EventRecord]:
    """One ``injection`` event per recipient, as SparkPost emits them."""
    base = _common(message_id, message, now)
    events = []
    for rcpt in message.envelope.recipients:
        fields = {
            **base,
            "type": "injection",
            "rcpt_to": rcpt.lower(),
            "raw_rcpt_to": rcpt,
            "recipient_domain": rcpt.rpartition("@")[2].lower(),
            "inbound_tls": message.session.tls.to_dict() if message.session.tls else None,
        }
        events.append(EventRecord("injection", message_id, now, fields, rcpt.lower()))
    return events


def attempt_event(
    kind: str,
    *,
    message_id: str,
    message: InboundMessage,
    created_at: float,
    rcpt: str,
    reply: Reply | None,
    now: float,
    num_retries: int,
    tls: TlsRecord | None,
    ip_address: str | None,
    routing_domain: str,
    bounce_class: str | None = None,
    tls_failures: tuple[str, ...] = (),
    possible_duplicate: bool = False,
) -> EventRecord:
    """A ``delivery``, ``delay``, ``bounce`` or ``policy_rejection`` event."""
    fields: dict[str, Any] = {
        **_common(message_id, message, created_at),
        "type": kind,
        "rcpt_to": rcpt.lower(),
        "raw_rcpt_to": rcpt,
        "recipient_domain": rcpt.rpartition("@")[2].lower(),
        "routing_domain": routing_domain,
        "delv_method": "esmtp",
        "num_retries": str(num_retries),
        "queue_time": str(int((now - created_at) * 1000)),
        "outbound_tls": outbound_tls(tls),
        "tls": tls.event_view() if tls is not None else TlsRecord().event_view(),
    }
    if ip_address:
        fields["ip_address"] = ip_address
    if possible_duplicate:  # the final dot went unanswered: the retry may deliver twice (K7)
        fields["possible_duplicate"] = True
    if tls_failures:  # RFC 8460 result types, kept for TLS reporting
        fields["tlsrpt_failures"] = sorted(set(tls_failures))
    if reply is not None and kind != "delivery":
        raw = str(reply)
        fields.update(error_code=str(reply.code), raw_reason=raw, reason=mask(raw))
    if bounce_class is not None and kind != "delivery":
        fields["bounce_class"] = bounce_class
    return EventRecord(kind, message_id, now, fields, rcpt.lower())


def public_view(event: EventRecord) -> dict[str, Any]:
    """The event as the events API and webhooks show it (ids and times as strings)."""
    return {
        **event.fields,
        "type": event.type,
        "event_id": str(event.event_id) if event.event_id is not None else None,
        "message_id": event.message_id,
        "timestamp": iso(event.timestamp),
    }


SUPPRESSED = "554 5.7.1 recipient address was suppressed due to customer policy"


def policy_rejection_event(
    message_id: str, message: InboundMessage, rcpt: str, now: float
) -> EventRecord:
    """SparkPost's ``policy_rejection`` of a recipient on the suppression list: nothing is
    sent to it (``error_code`` 554, ``bounce_class`` 25 "admin failure", as SparkPost)."""
    fields = {
        **_common(message_id, message, now),
        "type": "policy_rejection",
        "rcpt_to": rcpt.lower(),
        "raw_rcpt_to": rcpt,
        "recipient_domain": rcpt.rpartition("@")[2].lower(),
        "error_code": "554",
        "raw_reason": SUPPRESSED,
        "reason": SUPPRESSED,
        "bounce_class": "25",
        "remote_addr": message.session.client_ip,
    }
    return EventRecord("policy_rejection", message_id, now, fields, rcpt.lower())
