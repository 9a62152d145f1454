"""Waking a node when any node queues mail: ``LISTEN sealpost_queue`` on a connection of its own.

The writer of every node sends ``NOTIFY sealpost_queue`` in each transaction that queued
mail; PostgreSQL delivers it at COMMIT to every session listening on the channel, this
node's included. A notification sets a flag that stays set until ``wait`` consumes it, so
one that arrives while the dispatcher is busy claiming is not lost: its next ``wait``
returns at once. Notifications are a hint, not a queue: several collapse into one wake-up,
and the dispatcher still polls on its timeout (a node that was not listening, or lost its
connection, misses them).

The listening connection is opened on the first ``wait``, so CLI commands that open the
store never hold one. It needs a session of its own: behind PgBouncer that means session
pooling (transaction pooling drops LISTEN).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import asyncpg

from sealpost.store.postgres import sql
from sealpost.store.postgres.writer import Connect

log = logging.getLogger(__name__)


class QueueListener:
    """One LISTEN connection and the flag its notifications set."""

    def __init__(self, connect: Connect) -> None:
        self._connect = connect
        self._conn: asyncpg.Connection | None = None
        self._flag = asyncio.Event()
        self._closed = False  # after close(): a connection still being opened is dropped
        self.notifications = 0

    async def wait(self, timeout: float) -> bool:
        """True once mail was queued (by any node) since the previous call, else False after
        ``timeout`` seconds. May return True spuriously (e.g. after a reconnect)."""
        if self._closed or not await self._listening():
            await asyncio.sleep(max(timeout, 0))  # closed: nothing will wake us; no spinning
            return False
        try:
            await asyncio.wait_for(self._flag.wait(), max(timeout, 0))
        except TimeoutError:
            return False
        self._flag.clear()
        return True

    async def close(self) -> None:
        self._closed = True
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            conn.remove_termination_listener(self._terminated)  # closing is not losing it
            with contextlib.suppress(Exception):
                await conn.close(timeout=5)

    async def _listening(self) -> bool:
        """Make sure a LISTEN connection is open; False when closed meanwhile."""
        if self._conn is not None and not self._conn.is_closed():
            return True
        reconnect = self._conn is not None
        conn = await self._connect()
        if self._closed:  # closed while connecting (a quick stop): not a lost connection
            with contextlib.suppress(Exception):
                await conn.close(timeout=5)
            return False
        conn.add_termination_listener(self._terminated)
        await conn.add_listener(sql.QUEUE_CHANNEL, self._notified)
        self._conn = conn
        if reconnect:  # whatever was sent while we were away is unknown: look once
            self._flag.set()
        return True

    def _notified(self, _conn: object, _pid: int, _channel: str, _payload: object) -> None:
        self.notifications += 1
        self._flag.set()

    def _terminated(self, _conn: object) -> None:
        if self._closed:
            return
        log.warning("the queue's LISTEN connection was lost; reconnecting on the next wait")
        self._flag.set()  # wake the waiter so it reconnects and looks at the queue
