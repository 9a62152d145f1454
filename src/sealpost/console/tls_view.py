"""One event of a message's timeline as the console shows it: what happened, and for a
delivery attempt its whole TLS record (``TlsRecord.event_view``, DESIGN.md section 5) with a
verdict in plain words. RFC 7435 section 6: encryption without a checked certificate is
never called verified."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sealpost.model.events import EventRecord

ATTEMPTS = ("delivery", "delay", "bounce", "policy_rejection")
_POLICY_WORDS = {
    "none": "no TLS required",
    "may": "TLS if offered (opportunistic)",
    "encrypt": "TLS required, certificate not checked",
    "verify": "TLS with a verified certificate required",
    "dane": "DANE: the certificate must match the TLSA records",
    "dane-only": "DANE only",
}


@dataclass
class TimelineEntry:
    type: str
    timestamp: float
    recipient: str
    summary: str
    reply: str = ""
    verdict: str = ""
    verdict_class: str = ""  # ok | warn | bad: the badge's colour
    tls_rows: list[tuple[str, str]] = field(default_factory=list)
    extra_rows: list[tuple[str, str]] = field(default_factory=list)


def verdict(tls: dict[str, Any]) -> tuple[str, str]:
    """The attempt's TLS outcome in words, and its badge class."""
    if tls.get("version"):
        if tls.get("verified") is True:
            return f"Verified TLS ({tls['version']})", "ok"
        why = tls.get("verify_error") or "the certificate was not checked"
        return f"Encrypted, not verified ({tls['version']}): {why}", "warn"
    if tls.get("fallback"):
        return f"Plaintext: {tls['fallback']}", "bad"
    if tls.get("offered") is False:
        return "Plaintext: the server did not offer STARTTLS", "bad"
    if tls.get("level_required") not in (None, "none", "may"):
        return "No TLS session: refused by policy", "bad"
    return "No TLS session", "bad"


def _text(value: Any) -> str:
    if value is None:
        return "—"
    if value is True:
        return "yes"
    if value is False:
        return "no"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_text(v)}" for k, v in value.items()) or "—"
    if isinstance(value, list | tuple):
        return ", ".join(_text(v) for v in value) or "—"
    return str(value)


def tls_rows(tls: dict[str, Any]) -> list[tuple[str, str]]:
    level = tls.get("level_required")
    policy = _POLICY_WORDS.get(str(level), _text(level))
    return [
        ("Version", _text(tls.get("version"))),
        ("Cipher", _text(tls.get("cipher"))),
        ("Certificate subject", _text(tls.get("cert_subject"))),
        ("Certificate issuer", _text(tls.get("cert_issuer"))),
        ("Name checked", _text(tls.get("peer_name"))),
        ("Verified", _text(tls.get("verified"))),
        ("Why not verified", _text(tls.get("verify_error"))),
        ("Certificate SHA-256", _text(tls.get("cert_sha256"))),
        ("Certificate expires", _text(tls.get("cert_not_after"))),
        ("Policy", f"{policy} ({_text(level)})"),
        ("Policy source", _text(tls.get("policy_source"))),
        ("MTA-STS mode", _text(tls.get("policy_mode"))),
        ("STARTTLS offered", _text(tls.get("offered"))),
        ("Fallback", _text(tls.get("fallback"))),
        ("DANE", _text(tls.get("dane"))),
        ("TLS-Required: No honoured", _text(tls.get("tls_required") is False or None)),
    ]


def attempt_view(event: EventRecord) -> TimelineEntry:
    f = event.fields
    entry = TimelineEntry(
        type=event.type,
        timestamp=event.timestamp,
        recipient=event.rcpt_to or str(f.get("rcpt_to", "")),
        summary=_SUMMARY.get(event.type, event.type),
        reply=str(f.get("raw_reason") or ""),
    )
    if event.type in ATTEMPTS and isinstance(f.get("tls"), dict):
        entry.verdict, entry.verdict_class = verdict(f["tls"])
        entry.tls_rows = tls_rows(f["tls"])
        for name, label in (
            ("ip_address", "Server address"),
            ("routing_domain", "Routing domain"),
            ("num_retries", "Retries before"),
            ("bounce_class", "Bounce class"),
            ("tlsrpt_failures", "TLS-RPT failures"),
        ):
            if f.get(name) not in (None, "", []):
                entry.extra_rows.append((label, _text(f[name])))
    elif event.type == "injection":
        entry.extra_rows = [
            ("Received by", "API" if f.get("recv_method") == "rest" else "SMTP"),
            ("Size", f"{f.get('msg_size', '?')} bytes"),
        ]
    return entry


_SUMMARY = {
    "injection": "Accepted",
    "delivery": "Delivered",
    "delay": "Deferred (will retry)",
    "bounce": "Bounced",
    "policy_rejection": "Refused by policy",
    "out_of_band": "Bounced later (DSN)",
}
