"""What the metrics read of PostgreSQL (``contracts.gauges``): the queue's depth over every
node's mail, from index ranges of ``messages_state``, and this node's commit waits."""

from __future__ import annotations

import asyncpg

from sealpost.model.queue_depth import QueueDepth
from sealpost.store.contracts.gauges import CommitObserver
from sealpost.store.postgres import sql
from sealpost.store.postgres.database import Database


class PostgresGauges(Database):
    """``StoreGauges``."""

    async def queue_depth(self) -> QueueDepth:
        async def read(conn: asyncpg.Connection) -> QueueDepth:
            queued = await conn.fetchval(sql.COUNT_IN_STATE, "queued")
            held = await conn.fetchval(sql.COUNT_IN_STATE, "held")
            oldest = await conn.fetchval(sql.OLDEST_IN_STATE, "queued")
            return QueueDepth(int(queued), int(held), None if oldest is None else float(oldest))

        return await self._read(read)

    def observe_commits(self, observer: CommitObserver | None) -> None:
        self._commit_observer = observer
        if self._writer is not None:
            self._writer.observer = observer
