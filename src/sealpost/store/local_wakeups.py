"""``QueueWakeups`` for a store that one process owns (SQLite, memory): mail queued by this
process wakes its own waiter. A flag stays set until ``wait`` consumes it, so mail queued
while the dispatcher was busy claiming is not missed (PostgreSQL's LISTEN/NOTIFY counterpart
is ``store.postgres.wakeups``)."""

from __future__ import annotations

import asyncio


class LocalWakeups:
    """The flag ``enqueue``/``retry_now`` set and ``wait_for_mail`` consumes."""

    def __init__(self) -> None:
        self._flag = asyncio.Event()

    def notify(self) -> None:
        self._flag.set()

    async def wait(self, timeout: float) -> bool:
        """True once mail was queued since the previous call, else False after ``timeout``."""
        try:
            await asyncio.wait_for(self._flag.wait(), max(timeout, 0))
        except TimeoutError:
            return False
        self._flag.clear()
        return True
