"""The sending domains' sealed DKIM keys on PostgreSQL (``contracts.dkim_keys``): the typed
table ``dkim_keys`` (schema version 13), keyed by (domain, selector) and shared by every
node, so a key one node's API made signs on all of them (docs/cluster.md). The blobs are
sealed by the caller (``dkim.sealing``); the database never holds a key in clear."""

from __future__ import annotations

import asyncpg

from sealpost.store.postgres import sql
from sealpost.store.postgres.database import Database


class PostgresDkimKeys(Database):
    """``DkimKeyStore``."""

    async def put_dkim_key(self, domain: str, selector: str, sealed: bytes, now: float) -> None:
        async def put(conn: asyncpg.Connection) -> None:
            await conn.execute(sql.UPSERT_DKIM_KEY, domain, selector, bytes(sealed), now)

        await self._write(put)

    async def dkim_key(self, domain: str, selector: str) -> bytes | None:
        sealed = await self._read(lambda conn: conn.fetchval(sql.SELECT_DKIM_KEY, domain, selector))
        return None if sealed is None else bytes(sealed)

    async def dkim_keys(self) -> dict[tuple[str, str], bytes]:
        rows = await self._read(lambda conn: conn.fetch(sql.SELECT_DKIM_KEYS))
        return {(row[0], row[1]): bytes(row[2]) for row in rows}

    async def replace_dkim_key(
        self, domain: str, selector: str, old_sealed: bytes, new_sealed: bytes
    ) -> bool:
        async def replace(conn: asyncpg.Connection) -> int:
            status = await conn.execute(
                sql.REPLACE_DKIM_KEY, domain, selector, bytes(new_sealed), bytes(old_sealed)
            )
            return int(status.rsplit(" ", 1)[-1])

        return bool(await self._write(replace))

    async def delete_dkim_key(self, domain: str, selector: str) -> bool:
        async def delete(conn: asyncpg.Connection) -> int:
            status = await conn.execute(sql.DELETE_DKIM_KEY, domain, selector)
            return int(status.rsplit(" ", 1)[-1])

        return bool(await self._write(delete))
