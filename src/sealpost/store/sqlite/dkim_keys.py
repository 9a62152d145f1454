"""The sending domains' sealed DKIM keys on SQLite (``contracts.dkim_keys``): the typed table
``dkim_keys`` (schema version 15), keyed by (domain, selector). The blobs are sealed by the
caller (``dkim.sealing``); nothing here sees a key in clear."""

from __future__ import annotations

from sealpost.store.sqlite import sql
from sealpost.store.sqlite.database import Database


class SqliteDkimKeys(Database):
    """``DkimKeyStore``."""

    async def put_dkim_key(self, domain: str, selector: str, sealed: bytes, now: float) -> None:
        params = (domain, selector, bytes(sealed), now)
        await self._write(lambda conn: conn.execute(sql.UPSERT_DKIM_KEY, params))

    async def dkim_key(self, domain: str, selector: str) -> bytes | None:
        params = (domain, selector)
        row = await self._read(lambda c: c.execute(sql.SELECT_DKIM_KEY, params).fetchone())
        return None if row is None else bytes(row[0])

    async def dkim_keys(self) -> dict[tuple[str, str], bytes]:
        rows = await self._read(lambda c: c.execute(sql.SELECT_DKIM_KEYS).fetchall())
        return {(row[0], row[1]): bytes(row[2]) for row in rows}

    async def replace_dkim_key(
        self, domain: str, selector: str, old_sealed: bytes, new_sealed: bytes
    ) -> bool:
        params = (bytes(new_sealed), domain, selector, bytes(old_sealed))
        count = await self._write(lambda c: c.execute(sql.REPLACE_DKIM_KEY, params).rowcount)
        return bool(count)

    async def delete_dkim_key(self, domain: str, selector: str) -> bool:
        params = (domain, selector)
        count = await self._write(lambda c: c.execute(sql.DELETE_DKIM_KEY, params).rowcount)
        return bool(count)
