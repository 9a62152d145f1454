"""Retry timing for a failed webhook batch: pure arithmetic, no clock of its own.

SparkPost retries a batch "with increasing backoff for 8 hours" and then drops it
(reference 5.4). Here: ``first`` seconds after the first failure, doubling, capped at
``cap``; a batch whose first attempt is older than ``give_up_after`` is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    first: float = 10.0
    cap: float = 20 * 60.0
    give_up_after: float = 8 * 3600.0

    def delay(self, failures: int) -> float:
        """Seconds to wait after the ``failures``-th failed attempt (1-based)."""
        exponent = min(max(failures - 1, 0), 60)
        return min(self.first * (2.0**exponent), self.cap)

    def expired(self, first_attempt_at: float, now: float) -> bool:
        """True once the batch has been failing for longer than ``give_up_after``."""
        return now - first_attempt_at >= self.give_up_after

    def next_attempt(self, failures: int, first_attempt_at: float, now: float) -> float | None:
        """When to try again, or None to give up (the next try would fall past the limit)."""
        due = now + self.delay(failures)
        if self.expired(first_attempt_at, due):
            return None
        return due
