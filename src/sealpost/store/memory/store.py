"""The memory backend: every store contract in dicts, for tests and ``url = "memory://"``.

Same contract as the durable backends (the conformance suite runs against both), except that
nothing survives the process: RFC 5321 section 6.1 durability is NOT provided, so this backend
is for tests and throw-away development servers only.
"""

from __future__ import annotations

from typing import Self

from sealpost.store.memory.queue import MemoryQueue


class MemoryStore(MemoryQueue):
    """What ``open_store("memory://")`` returns: the queue with its event stream and records
    (``memory.queue``, ``memory.events``, ``memory.records``); open and close do nothing."""

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
