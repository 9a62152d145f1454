"""The two ends of ``sealpost store copy``: a SQLite file or a PostgreSQL database, read in
batches and written in one transaction.

Reading streams (a SQLite cursor, a PostgreSQL server-side cursor), so a queue of 1M
messages is never in memory at once. Writing is one transaction per copy: a copy that fails
half way leaves the target as empty as it found it. The target's commit is durable as every
store write is (SQLite ``synchronous=FULL``, PostgreSQL ``synchronous_commit = on``; RFC 5321
section 6.1). Both ends are migrated to the newest schema by ``open_store`` first.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any, Protocol

import asyncpg

from sealpost.store.copy_tables import Table

Row = tuple[Any, ...]
BATCH = 1000
# What a database may raise while a copy reads or writes it (a row the target refuses, a
# dropped connection, a locked file).
END_ERRORS = (sqlite3.Error, asyncpg.PostgresError, asyncpg.InterfaceError, OSError)
_NODE_STALE_AFTER = 30.0  # as node_presence.STALE_AFTER: a fresher heartbeat is a live node


class CopyEnd(Protocol):
    """A database a copy reads from or writes to."""

    async def count(self, table: Table) -> int: ...

    def batches(self, table: Table) -> AsyncIterator[list[Row]]: ...

    async def live_nodes(self) -> int: ...

    async def begin(self) -> None: ...

    async def write(self, table: Table, rows: Sequence[Row]) -> None: ...

    async def commit(self) -> None: ...

    async def close(self) -> None: ...


class SqliteEnd:
    """The SQLite file at ``path``."""

    def __init__(self, path: Path) -> None:
        self._conn = sqlite3.connect(path, isolation_level=None)
        self._conn.execute("PRAGMA synchronous=FULL")

    async def count(self, table: Table) -> int:
        return int(self._conn.execute(f"SELECT count(*) FROM {table.name}").fetchone()[0])

    async def batches(self, table: Table) -> AsyncIterator[list[Row]]:
        cursor = self._conn.execute(table.select())
        while rows := cursor.fetchmany(BATCH):
            yield rows

    async def live_nodes(self) -> int:
        return 0  # the file records no running server: the operator stops it (docs/cluster.md)

    async def begin(self) -> None:
        self._conn.execute("BEGIN IMMEDIATE")

    async def write(self, table: Table, rows: Sequence[Row]) -> None:
        marks = ", ".join("?" for _ in table.columns)
        insert = f"INSERT INTO {table.name} ({', '.join(table.columns)}) VALUES ({marks})"
        self._conn.executemany(insert, rows)

    async def commit(self) -> None:
        self._conn.execute("COMMIT")

    async def close(self) -> None:
        if self._conn.in_transaction:
            self._conn.execute("ROLLBACK")
        self._conn.close()


class PostgresEnd:
    """The PostgreSQL database at ``url``, over one connection."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn
        self._transaction: Any = None

    @classmethod
    async def connect(cls, url: str) -> PostgresEnd:
        return cls(await asyncpg.connect(url, timeout=10))

    async def count(self, table: Table) -> int:
        return int(await self._conn.fetchval(f"SELECT count(*) FROM {table.name}"))

    async def batches(self, table: Table) -> AsyncIterator[list[Row]]:
        async with self._conn.transaction(isolation="repeatable_read", readonly=True):
            cursor = await self._conn.cursor(table.select())
            while records := await cursor.fetch(BATCH):
                yield [tuple(r) for r in records]

    async def live_nodes(self) -> int:
        fresh = time.time() - _NODE_STALE_AFTER
        query = "SELECT count(*) FROM nodes WHERE heartbeat_at > $1"
        return int(await self._conn.fetchval(query, fresh))

    async def begin(self) -> None:
        await self._conn.execute("SET synchronous_commit = on")
        self._transaction = self._conn.transaction()
        await self._transaction.start()

    async def write(self, table: Table, rows: Sequence[Row]) -> None:
        # COPY takes the given event_id even though the column is GENERATED ALWAYS.
        await self._conn.copy_records_to_table(
            table.name, records=rows, columns=list(table.columns)
        )

    async def commit(self) -> None:
        # Later events continue after the copied ones.
        await self._conn.execute(
            "SELECT setval(pg_get_serial_sequence('events', 'event_id'), "
            "coalesce(max(event_id), 0) + 1, false) FROM events"
        )
        await self._transaction.commit()
        self._transaction = None

    async def close(self) -> None:
        if self._transaction is not None:
            await self._transaction.rollback()
        await self._conn.close()
