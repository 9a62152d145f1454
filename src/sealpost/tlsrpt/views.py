"""Received reports as people and programs read them: the summary the API's listing and
``sealpost tlsrpt received --json`` print, and the UTC times their filters take."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sealpost.model.received_report import ReceivedReport


def iso(ts: float) -> str:
    """A time as RFC 3339 UTC, seconds precision (``2026-01-01T00:00:00Z``)."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_utc(text: str) -> float | None:
    """``2026-01-01``, ``2026-01-01T10:00`` or a full RFC 3339 time (no offset: UTC) as
    seconds since the epoch; None when it is none of these."""
    value = text.strip().replace("Z", "+00:00").replace("z", "+00:00")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def summary_view(report: ReceivedReport) -> dict[str, Any]:
    """Everything but the whole report: who, which days, which domains, how it went."""
    return {
        "id": report.id,
        "organization_name": report.organization,
        "report_id": report.report_id,
        "start_datetime": iso(report.start),
        "end_datetime": iso(report.end),
        "policy_domains": list(report.policy_domains),
        "total_successful_session_count": report.successful,
        "total_failure_session_count": report.failed,
        "contact_info": report.contact_info,
        "received_at": iso(report.received_at),
        "source": report.source.value,
        "message_id": report.message_id,
    }
