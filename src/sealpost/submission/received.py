"""The ``Received:`` trace header we prepend to every accepted message.

RFC 5321 section 4.4: an SMTP server MUST insert a trace record at the top of the message
when it accepts it. RFC 3848 / RFC 6531 name the ``with`` protocol (ESMTP, ESMTPS, ESMTPA,
ESMTPSA, UTF8SMTP...), and we add what the TLS session proved, as Postfix does.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from email.utils import format_datetime

from sealpost.model.envelope import Envelope, SessionInfo


def protocol_name(session: SessionInfo, envelope: Envelope) -> str:
    """RFC 3848 / RFC 6531 ``with`` keyword for this session and transaction."""
    if session.listener == "api":
        return "HTTPS"  # injected through the HTTPS API, authenticated by an API key
    if not session.esmtp:
        return "SMTP"
    base = "UTF8SMTP" if envelope.smtputf8 else "ESMTP"
    suffix = ("S" if session.tls else "") + ("A" if session.auth_user else "")
    return base + suffix


_UNSAFE = re.compile(r"[^\x21-\x7e]|[()\\]")


def _clean(text: str) -> str:
    """Keep trace fields to printable ASCII without parentheses or line breaks."""
    return _UNSAFE.sub("_", text)


_last_stamp: tuple[int, str] = (-1, "")


def _stamp_now() -> str:
    """The RFC 5322 date of this second, made once a second (``format_datetime`` was 2% of
    the event loop under load: docs/benchmarks.md "Profile")."""
    global _last_stamp
    second = int(time.time())
    if _last_stamp[0] != second:
        _last_stamp = (second, format_datetime(datetime.fromtimestamp(second, UTC)))
    return _last_stamp[1]


def received_header(
    session: SessionInfo, envelope: Envelope, message_id: str, when: datetime | None = None
) -> bytes:
    """The folded header, CRLF-terminated, ready to prepend to the message bytes."""
    helo = _clean(session.helo or "unknown")
    lines = [f"Received: from {helo} ([{session.client_ip}])"]
    tls = session.tls
    if tls and tls.version:
        bits = f" ({tls.bits} bits)" if tls.bits else ""
        lines.append(f"\t(using {tls.version} with cipher {tls.cipher}{bits})")
    lines.append(
        f"\tby {_clean(session.local_hostname)} (Sealpost) with "
        f"{protocol_name(session, envelope)} id {message_id}"
    )
    stamp = format_datetime(when) if when is not None else _stamp_now()
    if len(envelope.recipients) == 1:
        lines.append(f"\tfor <{envelope.recipients[0]}>; {stamp}")
    else:
        lines[-1] += ";"
        lines.append(f"\t{stamp}")
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")
