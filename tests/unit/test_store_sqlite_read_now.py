"""``Database._read_now``: the API's and AUTH's point lookups (a key by id, a few recipients'
suppressions) run on the event loop's own connection, not through the read pool; a busy
database sends the read to the pool instead of making the loop wait; many recipients still
go to the pool. Over a real SQLite file."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from pathlib import Path

from sealpost.api_keys import create_key, verify_key
from sealpost.model.suppression import Suppression, SuppressionSource, SuppressionType
from sealpost.store.sqlite import SqliteStore
from sealpost.store.sqlite.suppressions import INLINE_KEYS

T0 = 1_700_000_000.0
NTX = SuppressionType.NON_TRANSACTIONAL


class CountedPool:
    """Counts the reads that went to the pool (``Database._read``)."""

    def __init__(self, store: SqliteStore) -> None:
        self.reads = 0
        pool = store._read

        async def counted(op):  # type: ignore[no-untyped-def]
            self.reads += 1
            return await pool(op)

        store._read = counted  # type: ignore[method-assign]


class Busy:
    """A connection that SQLite keeps answering SQLITE_BUSY."""

    def execute(self, *args: object) -> None:
        error = sqlite3.OperationalError("database is locked")
        error.sqlite_errorcode = sqlite3.SQLITE_BUSY  # type: ignore[attr-defined]
        raise error


def test_a_key_lookup_runs_on_the_loops_thread_without_the_pool(tmp_path: Path):
    async def scenario() -> None:
        async with SqliteStore(tmp_path / "q.db") as store:
            key, record = await create_key(store, "k", time.time())
            pool = CountedPool(store)
            found = await verify_key(store, key)
            assert found is not None and found.id == record.id
            assert pool.reads == 0
            ran_on: list[int] = []
            await store._read_now(lambda conn: ran_on.append(threading.get_ident()))
            assert ran_on == [threading.get_ident()], "the loop's thread, no hop"

    asyncio.run(scenario())


def test_a_busy_database_sends_the_read_to_the_pool(tmp_path: Path):
    async def scenario() -> None:
        async with SqliteStore(tmp_path / "q.db") as store:
            key, record = await create_key(store, "k", time.time())
            pool = CountedPool(store)
            inline, store._inline = store._inline, Busy()  # type: ignore[assignment]
            try:
                found = await verify_key(store, key)
            finally:
                store._inline = inline
            assert found is not None and found.id == record.id
            assert pool.reads == 1

    asyncio.run(scenario())


def test_a_few_recipients_are_looked_up_inline_and_many_through_the_pool(tmp_path: Path):
    async def scenario() -> None:
        async with SqliteStore(tmp_path / "q.db") as store:
            entry = Suppression("x@example.test", NTX, SuppressionSource.MANUALLY_ADDED, "", T0, T0)
            await store.put_suppressions([entry])
            pool = CountedPool(store)
            few = [f"r{n}@example.test" for n in range(INLINE_KEYS - 1)] + ["X@example.test"]
            assert await store.suppressed_among(few, NTX) == {"x@example.test"}
            assert pool.reads == 0
            many = few + [f"s{n}@example.test" for n in range(INLINE_KEYS)]
            assert await store.suppressed_among(many, NTX) == {"x@example.test"}
            assert pool.reads == 1

    asyncio.run(scenario())
