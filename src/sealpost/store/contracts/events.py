"""The event stream's contract: append-only, read in insertion order past a cursor.

Events of a queue change are written by the queue contracts in the same transaction as the
change (``Spool.enqueue``, ``DeliveryQueue.record_attempt``); ``add_events`` is for events
that belong to no queue transaction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from sealpost.model.events import EventQuery, EventRecord


class EventStore(Protocol):
    async def add_events(self, events: Sequence[EventRecord]) -> None:
        """Durably append events that belong to no queue transaction."""

    async def list_events(
        self,
        *,
        after: int | None = None,
        limit: int = 100,
        types: Sequence[str] | None = None,
        message_id: str | None = None,
    ) -> list[EventRecord]:
        """Events in insertion order, past the cursor ``after``."""

    async def search_events(self, query: EventQuery) -> list[EventRecord]:
        """Events matching every filter of ``query``, in insertion order past ``after``."""

    async def count_events(self, query: EventQuery) -> int:
        """How many events match, ignoring ``after`` and ``limit``."""
