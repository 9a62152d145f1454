"""Message events (SparkPost's: injection, delivery, delay, bounce, ...) and the filters of
the events search. The event stream is append-only; ``event_id`` is its cursor."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class EventRecord:
    """One event.

    ``fields`` holds the SparkPost field names and value types (strings where SparkPost
    uses strings) plus Sealpost's ``tls`` object; ``event_id`` is assigned by the store and
    increases with insertion order, so it doubles as a cursor."""

    type: str
    message_id: str
    timestamp: float
    fields: Mapping[str, Any] = field(default_factory=dict)
    rcpt_to: str | None = None
    event_id: int | None = None


@dataclass(frozen=True, slots=True)
class EventQuery:
    """Filters of the events search API; every given filter must match (lists: any of)."""

    types: Sequence[str] = ()
    message_ids: Sequence[str] = ()
    recipients: Sequence[str] = ()
    transmission_ids: Sequence[str] = ()
    campaign_ids: Sequence[str] = ()
    senders: Sequence[str] = ()  # envelope senders (``msg_from``), case-insensitive
    from_time: float | None = None
    to_time: float | None = None
    after: int | None = None  # event_id cursor: ids past it (below it when newest_first)
    limit: int = 1000
    newest_first: bool = False  # event_id descending (the web console's lists)
