"""The suppression list on SQLite (``contracts.suppressions``): the typed table
``suppressions`` (schema version 12), keyed by (recipient, type) WITHOUT ROWID, so a lookup
is one B-tree descent and a search walks the key in order. A bulk write is one transaction
of the group-commit writer (``executemany``), all or nothing."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from sealpost.model.suppression import (
    Suppression,
    SuppressionQuery,
    SuppressionType,
    last_wins,
    recipient_key,
)
from sealpost.store import codec
from sealpost.store.sqlite import sql
from sealpost.store.sqlite.database import Database

INLINE_KEYS = 20  # recipients looked up on the loop's thread (``Database._read_now``)


class SqliteSuppressions(Database):
    """``SuppressionList``."""

    async def put_suppressions(
        self, entries: Sequence[Suppression], *, keep_existing: bool = False
    ) -> None:
        rows = [codec.suppression_row(e) for e in last_wins(entries)]
        statement = sql.INSERT_SUPPRESSION_IF_NEW if keep_existing else sql.UPSERT_SUPPRESSION
        if rows:
            await self._write(lambda conn: conn.executemany(statement, rows))

    async def suppressions_of(self, recipient: str) -> list[Suppression]:
        rows = await self._read(
            lambda c: c.execute(sql.SELECT_SUPPRESSIONS_OF, (recipient,)).fetchall()
        )
        return [codec.suppression(r) for r in rows]

    async def delete_suppressions(self, recipient: str, type: SuppressionType | None = None) -> int:
        def delete(conn: sqlite3.Connection) -> int:
            if type is None:
                return conn.execute(sql.DELETE_SUPPRESSIONS, (recipient,)).rowcount
            return conn.execute(sql.DELETE_SUPPRESSION, (recipient, type.value)).rowcount

        return int(await self._write(delete))

    async def search_suppressions(self, query: SuppressionQuery) -> list[Suppression]:
        statement, params = sql.suppression_search(query)
        rows = await self._read(lambda c: c.execute(statement, params).fetchall())
        return [codec.suppression(r) for r in rows]

    async def count_suppressions(self, query: SuppressionQuery) -> int:
        statement, params = sql.suppression_count(query)
        return int(await self._read(lambda c: c.execute(statement, params).fetchone()[0]))

    async def suppressed_among(self, recipients: Sequence[str], type: SuppressionType) -> set[str]:
        keys = sorted({recipient_key(r) for r in recipients})
        if not keys:
            return set()

        def find(conn: sqlite3.Connection) -> set[str]:
            found: set[str] = set()
            for start in range(0, len(keys), sql.SUPPRESSED_CHUNK):
                chunk = keys[start : start + sql.SUPPRESSED_CHUNK]
                cursor = conn.execute(sql.suppressed_query(len(chunk)), (*chunk, type.value))
                found.update(row[0] for row in cursor)
            return found

        if len(keys) <= INLINE_KEYS:  # a transactional send's few: cheaper than a hop
            return await self._read_now(find)
        return await self._read(find)
