"""What the metrics read of SQLite (``contracts.gauges``): the queue's depth from two
index ranges per state, and the writer's commit waits."""

from __future__ import annotations

import sqlite3

from sealpost.model.queue_depth import QueueDepth
from sealpost.store.contracts.gauges import CommitObserver
from sealpost.store.sqlite import sql
from sealpost.store.sqlite.database import Database


class SqliteGauges(Database):
    """``StoreGauges``."""

    async def queue_depth(self) -> QueueDepth:
        def read(conn: sqlite3.Connection) -> QueueDepth:
            queued = conn.execute(sql.COUNT_IN_STATE, ("queued",)).fetchone()[0]
            held = conn.execute(sql.COUNT_IN_STATE, ("held",)).fetchone()[0]
            oldest = conn.execute(sql.OLDEST_IN_STATE, ("queued",)).fetchone()
            return QueueDepth(int(queued), int(held), None if oldest is None else oldest[0])

        return await self._read(read)

    def observe_commits(self, observer: CommitObserver | None) -> None:
        self._commit_observer = observer
        if self._writer is not None:
            self._writer.observer = observer
        if self._shared is not None:
            self._shared.observer = observer
