"""The suppression list on PostgreSQL (``contracts.suppressions``): the typed table
``suppressions`` (schema version 10), keyed by (recipient, type), shared by every node: an
entry one node adds (an API call, a hard bounce it saw) stops the next send on every node.
A bulk write is one statement over arrays (``unnest``), so 100k entries are one round trip
in one transaction."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from sealpost.model.suppression import (
    Suppression,
    SuppressionQuery,
    SuppressionType,
    last_wins,
    recipient_key,
)
from sealpost.store import codec
from sealpost.store.postgres import sql
from sealpost.store.postgres.database import Database


class PostgresSuppressions(Database):
    """``SuppressionList``."""

    async def put_suppressions(
        self, entries: Sequence[Suppression], *, keep_existing: bool = False
    ) -> None:
        rows = [codec.suppression_row(e) for e in last_wins(entries)]
        if not rows:
            return
        columns = [list(column) for column in zip(*rows, strict=True)]
        statement = sql.INSERT_SUPPRESSIONS_IF_NEW if keep_existing else sql.UPSERT_SUPPRESSIONS

        async def put(conn: asyncpg.Connection) -> None:
            await conn.execute(statement, *columns)

        await self._write(put)

    async def suppressions_of(self, recipient: str) -> list[Suppression]:
        rows = await self._read(lambda conn: conn.fetch(sql.SELECT_SUPPRESSIONS_OF, recipient))
        return [codec.suppression(tuple(r)) for r in rows]

    async def delete_suppressions(self, recipient: str, type: SuppressionType | None = None) -> int:
        async def delete(conn: asyncpg.Connection) -> int:
            if type is None:
                status = await conn.execute(sql.DELETE_SUPPRESSIONS, recipient)
            else:
                status = await conn.execute(sql.DELETE_SUPPRESSION, recipient, type.value)
            return int(status.rsplit(" ", 1)[-1])

        return int(await self._write(delete))

    async def search_suppressions(self, query: SuppressionQuery) -> list[Suppression]:
        statement, params = sql.suppression_search(query)
        rows = await self._read(lambda conn: conn.fetch(statement, *params))
        return [codec.suppression(tuple(r)) for r in rows]

    async def count_suppressions(self, query: SuppressionQuery) -> int:
        statement, params = sql.suppression_count(query)
        return int(await self._read(lambda conn: conn.fetchval(statement, *params)))

    async def suppressed_among(self, recipients: Sequence[str], type: SuppressionType) -> set[str]:
        keys = sorted({recipient_key(r) for r in recipients})
        if not keys:
            return set()
        rows = await self._read(lambda conn: conn.fetch(sql.SUPPRESSED_AMONG, keys, type.value))
        return {r[0] for r in rows}
