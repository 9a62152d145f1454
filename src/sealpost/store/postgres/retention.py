"""Retention and erasure on PostgreSQL (``contracts.retention``): plain DELETE batches
through the node's group-commit writer, each a short transaction; the dead rows are
reclaimed by autovacuum (space is reused inside the tables; the files shrink only with a
``VACUUM FULL``, which locks the tables and is an operator's choice). Several nodes may
purge at once: a message row another node holds is skipped (``SKIP LOCKED``)."""

from __future__ import annotations

import asyncpg

from sealpost.model.retention import Cutoffs, Purged
from sealpost.model.suppression import recipient_key
from sealpost.store.postgres import ops
from sealpost.store.postgres import retention_sql as rsql
from sealpost.store.postgres.database import Database

ERASE_CHUNK = 500  # ids per write transaction of an erasure


async def _delete_messages(conn: asyncpg.Connection, ids: list[str]) -> None:
    await conn.execute(rsql.DELETE_RECIPIENTS, ids)
    await conn.execute(rsql.DELETE_MESSAGES, ids)
    await conn.execute(rsql.DELETE_REPORT_MARKS, ids)
    await conn.execute(rsql.DELETE_DELAY_NOTICES, ids)


async def _expire(
    conn: asyncpg.Connection, statement: str, cutoff: float | None, batch: int
) -> int:
    return 0 if cutoff is None else ops.changed(await conn.execute(statement, cutoff, batch))


class PostgresRetention(Database):
    """``RetentionStore``."""

    async def purge_expired(self, cutoffs: Cutoffs, *, batch: int) -> Purged:
        if not cutoffs.any or batch <= 0:
            return Purged()

        async def purge(conn: asyncpg.Connection) -> Purged:
            ids: list[str] = []
            if cutoffs.messages is not None:
                rows = await conn.fetch(rsql.EXPIRED_MESSAGES, cutoffs.messages, batch)
                ids = [row[0] for row in rows]
            if cutoffs.held is not None:
                rows = await conn.fetch(rsql.EXPIRED_HELD, cutoffs.held, batch)
                ids += [row[0] for row in rows]
            if ids:
                await _delete_messages(conn, ids)
            return Purged(
                messages=len(ids),
                events=await _expire(conn, rsql.EXPIRED_EVENTS, cutoffs.events, batch),
                idempotency=await _expire(
                    conn, rsql.EXPIRED_IDEMPOTENCY, cutoffs.idempotency, batch
                ),
                received_reports=await _expire(
                    conn, rsql.EXPIRED_RECEIVED_REPORTS, cutoffs.received_reports, batch
                ),
                transmissions=await _expire(
                    conn, rsql.EXPIRED_TRANSMISSIONS, cutoffs.transmissions, batch
                ),
            )

        result: Purged = await self._write(purge)
        return result

    async def reclaim_space(self, pages: int) -> int:
        return 0  # autovacuum

    async def storage_facts(self) -> dict[str, int | str]:
        return {}

    async def erase_recipient(self, address: str, *, dry_run: bool = False) -> Purged:
        key = recipient_key(address)

        async def find(conn: asyncpg.Connection) -> tuple[list[tuple[str, str]], list[int], int]:
            messages = [(r[0], r[1]) for r in await conn.fetch(rsql.MESSAGES_TO, key)]
            events = [r[0] for r in await conn.fetch(rsql.EVENTS_TO, key)]
            return messages, events, int(await conn.fetchval(rsql.COUNT_SUPPRESSIONS_OF, key))

        messages, events, entries = await self._read(find)
        found = Purged(
            messages=len(messages),
            events=len(events),
            suppressions=entries,
            queued_messages=sum(1 for _, state in messages if state in ("queued", "held")),
        )
        if dry_run:
            return found
        ids = [m for m, _ in messages]
        for start in range(0, len(ids), ERASE_CHUNK):
            chunk = ids[start : start + ERASE_CHUNK]
            await self._write(lambda conn, chunk=chunk: _delete_messages(conn, chunk))
        for start in range(0, len(events), ERASE_CHUNK):
            rows = events[start : start + ERASE_CHUNK]
            await self._write(lambda conn, rows=rows: conn.execute(rsql.DELETE_EVENTS, rows))
        await self._write(lambda conn: conn.execute(rsql.DELETE_SUPPRESSIONS_OF, key))
        return found
