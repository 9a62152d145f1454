"""Retention and erasure on SQLite (``contracts.retention``).

A purge batch is one operation of the group-commit writer (``writer``): it shares a
transaction with whatever enqueues arrived meanwhile, so its size is what bounds how long
those wait; ``batch`` rows per kind keeps it to milliseconds. Deleted pages go on SQLite's
free list; ``reclaim_space`` hands them back with ``PRAGMA incremental_vacuum`` when the
file has ``auto_vacuum=INCREMENTAL`` (every file created since schema version 14; an older
file needs ``sealpost store vacuum`` once). In WAL mode the file shrinks at the next
checkpoint.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from sealpost.model.retention import Cutoffs, Purged
from sealpost.model.suppression import recipient_key
from sealpost.store.sqlite import retention_sql as rsql
from sealpost.store.sqlite.database import Database

ERASE_CHUNK = 500  # ids per write transaction of an erasure


def purge_expired(conn: sqlite3.Connection, cutoffs: Cutoffs, batch: int) -> Purged:
    """One batch: at most ``batch`` rows of each kind (messages: per final state)."""
    messages = 0
    if cutoffs.messages is not None:
        for state in ("done", "cancelled"):
            ids = [
                (row[0],)
                for row in conn.execute(rsql.EXPIRED_MESSAGES, (state, cutoffs.messages, batch))
            ]
            _delete_messages(conn, ids)
            messages += len(ids)
    if cutoffs.held is not None:
        ids = [(row[0],) for row in conn.execute(rsql.EXPIRED_HELD, (cutoffs.held, batch))]
        _delete_messages(conn, ids)
        messages += len(ids)
    return Purged(
        messages=messages,
        events=_expire(conn, rsql.EXPIRED_EVENTS, cutoffs.events, batch),
        idempotency=_expire(conn, rsql.EXPIRED_IDEMPOTENCY, cutoffs.idempotency, batch),
        received_reports=_expire(
            conn, rsql.EXPIRED_RECEIVED_REPORTS, cutoffs.received_reports, batch
        ),
        transmissions=_expire(conn, rsql.EXPIRED_TRANSMISSIONS, cutoffs.transmissions, batch),
    )


def _expire(conn: sqlite3.Connection, statement: str, cutoff: float | None, batch: int) -> int:
    return 0 if cutoff is None else conn.execute(statement, (cutoff, batch)).rowcount


def _delete_messages(conn: sqlite3.Connection, ids: Sequence[tuple[str]]) -> None:
    conn.executemany(rsql.DELETE_RECIPIENTS, ids)
    conn.executemany(rsql.DELETE_MESSAGE, ids)
    conn.executemany(rsql.DELETE_REPORT_MARK, ids)
    conn.executemany(rsql.DELETE_DELAY_NOTICE, ids)


def reclaim(conn: sqlite3.Connection, pages: int) -> int:
    """Free pages given back (0 unless the file is ``auto_vacuum=INCREMENTAL``)."""
    if conn.execute("PRAGMA auto_vacuum").fetchone()[0] != 2:
        return 0
    before = conn.execute(rsql.FREELIST_COUNT).fetchone()[0]
    for _ in range(min(pages, before)):
        conn.execute(rsql.INCREMENTAL_VACUUM_STEP)
    return int(before - conn.execute(rsql.FREELIST_COUNT).fetchone()[0])


class SqliteRetention(Database):
    """``RetentionStore``."""

    async def purge_expired(self, cutoffs: Cutoffs, *, batch: int) -> Purged:
        if not cutoffs.any or batch <= 0:
            return Purged()
        return await self._write(lambda conn: purge_expired(conn, cutoffs, batch))

    async def reclaim_space(self, pages: int) -> int:
        return await self._write(lambda conn: reclaim(conn, pages)) if pages > 0 else 0

    async def storage_facts(self) -> dict[str, int | str]:
        def read(conn: sqlite3.Connection) -> dict[str, int | str]:
            facts: dict[str, int | str] = {
                name: int(conn.execute(f"PRAGMA {name}").fetchone()[0])
                for name in rsql.STORAGE_PRAGMAS
            }
            facts["auto_vacuum"] = rsql.AUTO_VACUUM_MODES.get(int(facts["auto_vacuum"]), "?")
            return facts

        return await self._read(read)

    async def erase_recipient(self, address: str, *, dry_run: bool = False) -> Purged:
        key = recipient_key(address)

        def find(conn: sqlite3.Connection) -> tuple[list[tuple[str, str]], list[int], int]:
            messages = [(r[0], r[1]) for r in conn.execute(rsql.MESSAGES_TO, (key,))]
            events = [r[0] for r in conn.execute(rsql.EVENTS_TO, (key,))]
            entries = conn.execute(rsql.COUNT_SUPPRESSIONS_OF, (key,)).fetchone()[0]
            return messages, events, int(entries)

        messages, events, entries = await self._read(find)
        found = Purged(
            messages=len(messages),
            events=len(events),
            suppressions=entries,
            queued_messages=sum(1 for _, state in messages if state in ("queued", "held")),
        )
        if dry_run:
            return found
        ids = [(m,) for m, _ in messages]
        for start in range(0, len(ids), ERASE_CHUNK):
            chunk = ids[start : start + ERASE_CHUNK]
            await self._write(lambda conn, chunk=chunk: _delete_messages(conn, chunk))
        for start in range(0, len(events), ERASE_CHUNK):
            rows = [(e,) for e in events[start : start + ERASE_CHUNK]]
            await self._write(lambda conn, rows=rows: conn.executemany(rsql.DELETE_EVENT, rows))
        await self._write(lambda conn: conn.execute(rsql.DELETE_SUPPRESSIONS_OF, (key,)))
        return found
