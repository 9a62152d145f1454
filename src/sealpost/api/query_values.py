"""Query-string values the read APIs share: UTC times and delimited lists (SparkPost's
``from``/``to`` and comma-separated filters), each bad value a ``422`` naming its field."""

from __future__ import annotations

from datetime import UTC, datetime

from sealpost.api.errors import invalid


def utc_time(name: str, value: str | None, default: float) -> float:
    """``2026-01-01T00:00:00Z``, ``2026-01-01T00:00`` or an ISO time with an offset."""
    if not value:
        return default
    text = value.strip().replace("Z", "+00:00")
    for candidate in (text, text + ":00+00:00", text + "+00:00"):
        try:
            parsed = datetime.fromisoformat(candidate)
        except ValueError:
            continue
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.timestamp()
    raise invalid(name, "expected a UTC time like 2026-01-01T00:00:00Z")


def split_list(value: str | None, delimiter: str) -> list[str]:
    return [v.strip() for v in (value or "").split(delimiter) if v.strip()]
