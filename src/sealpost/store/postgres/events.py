"""The event stream on PostgreSQL (``contracts.events``): appended in the queue's transactions
or by ``add_events``; ``event_id`` (an identity column, drawn under the writer's events lock
so ids commit in order across nodes) is the cursor."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

from sealpost.model.events import EventQuery, EventRecord
from sealpost.store import codec
from sealpost.store.postgres import ops, sql
from sealpost.store.postgres.database import Database


class PostgresEvents(Database):
    """``EventStore``."""

    async def add_events(self, events: Sequence[EventRecord]) -> None:
        rows = [codec.event_row(e) for e in events]
        if rows:
            await self._write(partial(ops.insert_events, rows=rows), events=True)

    async def list_events(
        self,
        *,
        after: int | None = None,
        limit: int = 100,
        types: Sequence[str] | None = None,
        message_id: str | None = None,
    ) -> list[EventRecord]:
        query, params = sql.events_query(
            after=after, types=tuple(types or ()), message_id=message_id, limit=max(limit, 0)
        )
        rows = await self._read(lambda conn: conn.fetch(query, *params))
        return [codec.event_record(tuple(row)) for row in rows]

    async def search_events(self, query: EventQuery) -> list[EventRecord]:
        statement, params = sql.event_search(query, count=False)
        rows = await self._read(lambda conn: conn.fetch(statement, *params))
        return [codec.event_record(tuple(row)) for row in rows]

    async def count_events(self, query: EventQuery) -> int:
        statement, params = sql.event_search(query, count=True)
        found = await self._read(lambda conn: conn.fetchval(statement, *params))
        return int(found)
