"""The TLS memory on SQLite (``contracts.tls_memory``): the typed tables ``broken_tls`` and
``sts_fetch_holdoffs`` (schema version 8). On SQLite one node owns the file, so sharing
means only that the memory survives a restart and is the same for every worker process.
Each write also drops the entries of its table expired by then, so the tables hold only
live entries plus those that ran out since the last failure."""

from __future__ import annotations

import sqlite3

from sealpost.model.tls_memory import FetchHoldoff
from sealpost.store.sqlite import sql
from sealpost.store.sqlite.database import Database


class SqliteTlsMemory(Database):
    """``TlsMemory``."""

    async def remember_broken_tls(self, host: str, port: int, until: float, now: float) -> None:
        def remember(conn: sqlite3.Connection) -> None:
            conn.execute(sql.PRUNE_BROKEN_TLS, (now,))
            conn.execute(sql.UPSERT_BROKEN_TLS, (host, port, until))

        await self._write(remember)

    async def broken_tls_until(self, host: str, port: int, now: float) -> float | None:
        params = (host, port, now)
        row = await self._read(lambda c: c.execute(sql.SELECT_BROKEN_TLS, params).fetchone())
        return None if row is None else float(row[0])

    async def hold_sts_fetch(self, domain: str, holdoff: FetchHoldoff, now: float) -> None:
        params = (domain, holdoff.policy_id, holdoff.until, holdoff.failure, holdoff.detail)

        def hold(conn: sqlite3.Connection) -> None:
            conn.execute(sql.PRUNE_STS_HOLDOFFS, (now,))
            conn.execute(sql.UPSERT_STS_HOLDOFF, params)

        await self._write(hold)

    async def sts_fetch_holdoff(self, domain: str, now: float) -> FetchHoldoff | None:
        params = (domain, now)
        row = await self._read(lambda c: c.execute(sql.SELECT_STS_HOLDOFF, params).fetchone())
        return None if row is None else FetchHoldoff(row[0], float(row[1]), row[2], row[3])

    async def clear_sts_fetch_holdoff(self, domain: str) -> None:
        await self._write(lambda c: c.execute(sql.DELETE_STS_HOLDOFF, (domain,)))
