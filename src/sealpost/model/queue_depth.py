"""How much mail waits in the queue: what the queue-wide metrics report at each scrape.

Only the states mail waits in are counted (``queued``, ``held``): ``done`` and ``cancelled``
rows are history, and counting them would cost more the longer the server runs.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class QueueDepth:
    """Messages waiting, by state, and when the oldest queued one arrived."""

    queued: int = 0
    held: int = 0
    oldest_queued_at: float | None = None  # created_at of the oldest queued message

    def oldest_age(self, now: float) -> float:
        """Seconds the oldest queued message has waited; 0 with none queued."""
        if self.oldest_queued_at is None:
            return 0.0
        return max(0.0, now - self.oldest_queued_at)
