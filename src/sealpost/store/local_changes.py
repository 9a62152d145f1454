"""``wait_for_config_change`` for a store written from one server's processes (SQLite,
memory): the kinds of ``CONFIG_KINDS`` this process wrote, kept until ``wait`` takes them, so a
write made while nobody waited is not missed (PostgreSQL's counterpart is
``store.postgres.wakeups``, which hears every node). With ``[server] workers`` above 1 the
workers share a ``ChangeBell``: a write rings it, and ``wait`` also returns (with no kinds:
the caller compares ``config_fingerprints``) once another worker rang. Writes of other
processes (the CLI) are seen through ``config_fingerprints`` alone."""

from __future__ import annotations

import asyncio

from sealpost.store.change_bell import POLL, ChangeBell
from sealpost.store.contracts.config_changes import CONFIG_KINDS


class LocalChanges:
    """The kinds written since the last ``wait``; ``noted`` by the document writes."""

    def __init__(self) -> None:
        self._kinds: set[str] = set()
        self._flag = asyncio.Event()
        self._bell: ChangeBell | None = None
        self._seat = 0
        self._heard = 0  # the bell's sum when this process last looked

    def share(self, bell: ChangeBell, seat: int) -> None:
        """Ring ``bell`` (counter ``seat``) after each write, and listen to the others'."""
        self._bell, self._seat, self._heard = bell, seat, bell.rung()

    def noted(self, kind: str) -> None:
        """A document of ``kind`` was written (committed); only config kinds count."""
        if kind in CONFIG_KINDS:
            self._kinds.add(kind)
            self._flag.set()
            if self._bell is not None:
                self._bell.ring(self._seat)

    async def wait(self, timeout: float) -> frozenset[str]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(timeout, 0)
        while True:
            left = deadline - loop.time()
            step = left if self._bell is None else min(left, POLL)
            try:
                await asyncio.wait_for(self._flag.wait(), max(step, 0))
            except TimeoutError:
                rung = self._heard if self._bell is None else self._bell.rung()
                if rung != self._heard:
                    self._heard = rung
                    return frozenset()  # another worker wrote: fingerprints tell what
                if step >= left:
                    return frozenset()
                continue
            self._flag.clear()
            if self._bell is not None:
                self._heard = self._bell.rung()
            kinds, self._kinds = frozenset(self._kinds), set()
            return kinds
