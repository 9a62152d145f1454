"""The event stream in memory (``contracts.events``): a list, ``event_id`` its 1-based
position, so the cursor is an index; a purged event leaves ``None`` in its place."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from sealpost.model.events import EventQuery, EventRecord


def _matches(event: EventRecord, q: EventQuery) -> bool:
    f = event.fields
    checks = (
        (q.types, event.type),
        (q.message_ids, event.message_id),
        ([r.lower() for r in q.recipients], event.rcpt_to),
        (q.transmission_ids, f.get("transmission_id")),
        (q.campaign_ids, f.get("campaign_id")),
        ([s.lower() for s in q.senders], str(f.get("msg_from", "")).lower()),
    )
    if any(wanted and value not in wanted for wanted, value in checks):
        return False
    if q.from_time is not None and event.timestamp < q.from_time:
        return False
    return q.to_time is None or event.timestamp <= q.to_time


class MemoryEvents:
    """``EventStore``; ``_append`` is how the queue adds the events of its changes."""

    def __init__(self) -> None:
        self._events: list[EventRecord | None] = []

    def _append(self, events: Sequence[EventRecord]) -> None:
        for event in events:
            self._events.append(replace(event, event_id=len(self._events) + 1))

    async def add_events(self, events: Sequence[EventRecord]) -> None:
        self._append(events)

    async def list_events(
        self,
        *,
        after: int | None = None,
        limit: int = 100,
        types: Sequence[str] | None = None,
        message_id: str | None = None,
    ) -> list[EventRecord]:
        start = after or 0  # event ids are 1-based list positions
        found = [
            e
            for e in self._events[start:]
            if e is not None
            and (not types or e.type in types)
            and (message_id is None or e.message_id == message_id)
        ]
        return found[: max(limit, 0)]

    async def search_events(self, query: EventQuery) -> list[EventRecord]:
        if query.newest_first:
            end = len(self._events) if query.after is None else max(query.after - 1, 0)
            candidates = reversed(self._events[:end])
        else:
            candidates = iter(self._events[query.after or 0 :])
        found = [e for e in candidates if e is not None and _matches(e, query)]
        return found[: max(query.limit, 0)]

    async def count_events(self, query: EventQuery) -> int:
        return sum(1 for e in self._events if e is not None and _matches(e, query))
