"""The event stream on SQLite (``contracts.events``): appended in the queue's transactions
or by ``add_events``; ``event_id`` (AUTOINCREMENT) is the cursor."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

from sealpost.model.events import EventQuery, EventRecord
from sealpost.store import codec
from sealpost.store.sqlite import ops, sql
from sealpost.store.sqlite.database import Database


class SqliteEvents(Database):
    """``EventStore``."""

    async def add_events(self, events: Sequence[EventRecord]) -> None:
        rows = tuple(codec.event_row(e) for e in events)
        if rows:
            await self._write(partial(ops.insert_events, rows=rows))

    async def list_events(
        self,
        *,
        after: int | None = None,
        limit: int = 100,
        types: Sequence[str] | None = None,
        message_id: str | None = None,
    ) -> list[EventRecord]:
        wanted = tuple(types or ())
        query = sql.events_query(
            after=after is not None, types=len(wanted), message=message_id is not None
        )
        params: list[object] = [after] if after is not None else []
        params += [*wanted, *([message_id] if message_id is not None else []), max(limit, 0)]
        rows = await self._read(lambda conn: conn.execute(query, params).fetchall())
        return [codec.event_record(row) for row in rows]

    async def search_events(self, query: EventQuery) -> list[EventRecord]:
        statement, params = sql.event_search(query, count=False)
        rows = await self._read(lambda c: c.execute(statement, params).fetchall())
        return [codec.event_record(row) for row in rows]

    async def count_events(self, query: EventQuery) -> int:
        statement, params = sql.event_search(query, count=True)
        row = await self._read(lambda c: c.execute(statement, params).fetchone())
        return int(row[0])
