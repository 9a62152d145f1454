"""``wait_for_config_change`` for a store one process writes (SQLite, memory): the kinds of
``CONFIG_KINDS`` this process wrote, kept until ``wait`` takes them, so a write made while
nobody waited is not missed (PostgreSQL's counterpart is ``store.postgres.wakeups``, which
hears every node). Other processes on the same SQLite file are seen through
``config_fingerprints``, not here."""

from __future__ import annotations

import asyncio

from sealpost.store.contracts.config_changes import CONFIG_KINDS


class LocalChanges:
    """The kinds written since the last ``wait``; ``noted`` by the document writes."""

    def __init__(self) -> None:
        self._kinds: set[str] = set()
        self._flag = asyncio.Event()

    def noted(self, kind: str) -> None:
        """A document of ``kind`` was written (committed); only config kinds count."""
        if kind in CONFIG_KINDS:
            self._kinds.add(kind)
            self._flag.set()

    async def wait(self, timeout: float) -> frozenset[str]:
        try:
            await asyncio.wait_for(self._flag.wait(), max(timeout, 0))
        except TimeoutError:
            return frozenset()
        self._flag.clear()
        kinds, self._kinds = frozenset(self._kinds), set()
        return kinds
