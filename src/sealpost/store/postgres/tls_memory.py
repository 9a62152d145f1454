"""The TLS memory on PostgreSQL (``contracts.tls_memory``): the typed tables ``broken_tls``
and ``sts_fetch_holdoffs`` (schema version 5), shared by every node. A node that found a
host's TLS handshake broken, or an MTA-STS policy fetch failing, writes it here; every node
reads it before its next session to that host or fetch for that domain, so the cluster
behaves as one node would (docs/cluster.md). Times are wall clock: keep the nodes' clocks in
sync (NTP), as the queue's leases already need. Each write also drops its table's entries
expired by then."""

from __future__ import annotations

import asyncpg

from sealpost.model.tls_memory import FetchHoldoff
from sealpost.store.postgres import sql
from sealpost.store.postgres.database import Database


class PostgresTlsMemory(Database):
    """``TlsMemory``."""

    async def remember_broken_tls(self, host: str, port: int, until: float, now: float) -> None:
        async def remember(conn: asyncpg.Connection) -> None:
            await conn.execute(sql.PRUNE_BROKEN_TLS, now)
            await conn.execute(sql.UPSERT_BROKEN_TLS, host, port, until)

        await self._write(remember)

    async def broken_tls_until(self, host: str, port: int, now: float) -> float | None:
        until = await self._read(lambda conn: conn.fetchval(sql.SELECT_BROKEN_TLS, host, port, now))
        return None if until is None else float(until)

    async def hold_sts_fetch(self, domain: str, holdoff: FetchHoldoff, now: float) -> None:
        async def hold(conn: asyncpg.Connection) -> None:
            await conn.execute(sql.PRUNE_STS_HOLDOFFS, now)
            await conn.execute(
                sql.UPSERT_STS_HOLDOFF,
                domain,
                holdoff.policy_id,
                holdoff.until,
                holdoff.failure,
                holdoff.detail,
            )

        await self._write(hold)

    async def sts_fetch_holdoff(self, domain: str, now: float) -> FetchHoldoff | None:
        row = await self._read(lambda conn: conn.fetchrow(sql.SELECT_STS_HOLDOFF, domain, now))
        if row is None:
            return None
        return FetchHoldoff(row[0], float(row[1]), row[2], row[3])

    async def clear_sts_fetch_holdoff(self, domain: str) -> None:
        await self._write(lambda conn: conn.execute(sql.DELETE_STS_HOLDOFF, domain))
