"""Per-domain session slots on PostgreSQL (``contracts.domain_slots``): the table
``domain_slots`` (schema version 4), one row per held slot with the node, a token and the
lease's expiry, so ``[delivery] per_domain_concurrency`` holds for the cluster together.

Taking a slot is one insert-or-take-over statement through the writer (committed before the
session opens); freeing it deletes the row if the token still matches. A slot whose node died
is free once its lease expires, or at once when that node starts again
(``release_all_leases``)."""

from __future__ import annotations

import uuid

import asyncpg

from sealpost.model.queue import DomainSlot
from sealpost.store.postgres import sql
from sealpost.store.postgres.database import Database


class PostgresDomainSlots(Database):
    """``DomainSlots``."""

    async def take_domain_slot(
        self, domain: str, limit: int, now: float, ttl: float
    ) -> DomainSlot | None:
        token = uuid.uuid4().hex

        async def take(conn: asyncpg.Connection) -> int | None:
            index: int | None = await conn.fetchval(
                sql.TAKE_DOMAIN_SLOT, domain, self.lease_owner, token, now + ttl, limit, now
            )
            return index

        index: int | None = await self._write(take)
        return None if index is None else DomainSlot(domain, index, token)

    async def free_domain_slot(self, slot: DomainSlot) -> None:
        await self._write(
            lambda conn: conn.execute(sql.FREE_DOMAIN_SLOT, slot.domain, slot.index, slot.token)
        )
