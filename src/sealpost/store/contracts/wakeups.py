"""The contract for waking the delivery side when new mail is queued, so a node need not poll
the queue alone: on PostgreSQL any node's enqueue wakes every node (LISTEN/NOTIFY); on the
single-node backends an enqueue wakes this process."""

from __future__ import annotations

from typing import Protocol


class QueueWakeups(Protocol):
    async def wait_for_mail(self, timeout: float) -> bool:
        """True once mail was queued since the previous call (at once if it already was),
        False after ``timeout`` seconds without. A hint, never a guarantee: it may wake
        spuriously, and a caller still looks at the queue on its own schedule."""
