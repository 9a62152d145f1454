"""The contract for what the metrics read of the store: the queue's depth (asked at each
scrape, so it must stay cheap however much history the store holds: indexed range counts
of the waiting states only) and the time each durable write waited for its commit."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from sealpost.model.queue_depth import QueueDepth

CommitObserver = Callable[[float], None]  # seconds from a write being queued to its COMMIT


class StoreGauges(Protocol):
    async def queue_depth(self) -> QueueDepth:
        """Messages ``queued`` and ``held`` in the whole store (every node's, on
        PostgreSQL) and the ``created_at`` of the oldest queued one; raises ``StoreError``
        when the store cannot be read."""

    def observe_commits(self, observer: CommitObserver | None) -> None:
        """Call ``observer`` with each committed write's wait (from being queued to its
        COMMIT returning, fsync included); ``None`` stops. The memory backend has no
        commits and never calls it. The SQLite writer calls it from its thread."""
