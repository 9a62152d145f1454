"""Hearing other nodes: ``LISTEN sealpost_queue`` and ``LISTEN sealpost_config`` on one
connection of its own.

The writer of every node sends ``NOTIFY sealpost_queue`` in each transaction that queued
mail, and ``pg_notify('sealpost_config', kind)`` in each that wrote a setting
(``contracts.config_changes``); PostgreSQL delivers them at COMMIT to every session
listening on the channel, this node's included. A notification sets a flag that stays set
until its ``wait`` consumes it, so one that arrives while the dispatcher is busy claiming
(or the signer is being rebuilt) is not lost: the next ``wait`` returns at once.
Notifications are a hint, not a queue: several collapse into one wake-up, and the callers
still look on their own schedule (the dispatcher polls the queue, the change follower
compares fingerprints), since a node that was not listening, or lost its connection, misses
them.

The listening connection is opened on the first ``wait``, so CLI commands that open the
store never hold one. It needs a session of its own: behind PgBouncer that means session
pooling (transaction pooling drops LISTEN).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import asyncpg

from sealpost.store.contracts.config_changes import CONFIG_KINDS
from sealpost.store.postgres import sql
from sealpost.store.postgres.writer import Connect

log = logging.getLogger(__name__)


class QueueListener:
    """One LISTEN connection, the flag the queue's notifications set and the kinds the
    config's notifications name."""

    def __init__(self, connect: Connect) -> None:
        self._connect = connect
        self._conn: asyncpg.Connection | None = None
        self._connecting = asyncio.Lock()
        self._flag = asyncio.Event()
        self._config_flag = asyncio.Event()
        self._config_kinds: set[str] = set()
        self._closed = False  # after close(): a connection still being opened is dropped
        self.notifications = 0

    async def wait(self, timeout: float) -> bool:
        """True once mail was queued (by any node) since the previous call, else False after
        ``timeout`` seconds. May return True spuriously (e.g. after a reconnect)."""
        if not await self._woken(self._flag, timeout):
            return False
        self._flag.clear()
        return True

    async def wait_config(self, timeout: float) -> frozenset[str]:
        """The setting kinds written (by any node) since the previous call, else an empty set
        after ``timeout`` seconds. Every kind after a reconnect (what was sent meanwhile is
        unknown)."""
        if not await self._woken(self._config_flag, timeout):
            return frozenset()
        self._config_flag.clear()
        kinds, self._config_kinds = frozenset(self._config_kinds), set()
        return kinds

    async def _woken(self, flag: asyncio.Event, timeout: float) -> bool:
        if self._closed or not await self._listening():
            await asyncio.sleep(max(timeout, 0))  # closed: nothing will wake us; no spinning
            return False
        try:
            await asyncio.wait_for(flag.wait(), max(timeout, 0))
        except TimeoutError:
            return False
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
        async with self._connecting:  # the dispatcher and the change follower both wait
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
            await conn.add_listener(sql.CONFIG_CHANNEL, self._config_notified)
            self._conn = conn
            if reconnect:  # whatever was sent while we were away is unknown: look once
                self._wake_all()
            return True

    def _notified(self, _conn: object, _pid: int, _channel: str, _payload: object) -> None:
        self.notifications += 1
        self._flag.set()

    def _config_notified(self, _conn: object, _pid: int, _channel: str, payload: object) -> None:
        self.notifications += 1
        if payload in CONFIG_KINDS:
            self._config_kinds.add(str(payload))
        else:  # a newer node's kind this one does not know: look at every kind
            self._config_kinds |= CONFIG_KINDS
        self._config_flag.set()

    def _wake_all(self) -> None:
        self._flag.set()
        self._config_kinds |= CONFIG_KINDS
        self._config_flag.set()

    def _terminated(self, _conn: object) -> None:
        if self._closed:
            return
        log.warning("the LISTEN connection was lost; reconnecting on the next wait")
        self._wake_all()  # wake the waiters so they reconnect and look
