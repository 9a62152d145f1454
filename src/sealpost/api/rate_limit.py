"""Per-key request budgets for expensive endpoints (a sliding window, in memory).

``GET /api/v1/tls-check`` opens up to six connections per MX host; one key may run
``[api] tls_check_per_minute`` of them in any 60 seconds. Over the budget the answer is
``429`` with SparkPost's error envelope and ``Retry-After`` (RFC 9110 section 10.2.3: the
seconds until the oldest call in the window leaves it). Memory is bounded: at most
``limit`` timestamps per key, and keys with an empty window are forgotten. The budget is per
process and starts afresh on restart; with ``[server] workers`` above 1 the composition root
hands the API ``workers.budgets`` instead, which counts for the whole server (``Budgets``).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from typing import Protocol


class Budget(Protocol):
    def take(self, key: str, now: float) -> int | None:
        """Count one call for ``key``: None within the budget, else the seconds to wait."""


Budgets = Callable[[str, int, float], Budget]  # (name, limit, window seconds) -> a budget


def per_process(name: str, limit: int, window: float) -> Budget:
    """``Budgets`` for a server of one process: a ``SlidingWindow`` in its memory."""
    return SlidingWindow(limit, window)


class SlidingWindow:
    def __init__(self, limit: int, window: float = 60.0) -> None:
        self.limit = limit
        self.window = window
        self._calls: dict[str, deque[float]] = {}

    def take(self, key: str, now: float) -> int | None:
        """Count one call for ``key``; None when it is within the budget, else the whole
        seconds to wait (at least 1) before the next call would be."""
        for stale in [k for k, q in self._calls.items() if not q or q[-1] <= now - self.window]:
            del self._calls[stale]
        calls = self._calls.setdefault(key, deque())
        while calls and calls[0] <= now - self.window:
            calls.popleft()
        if len(calls) >= self.limit:
            return max(1, math.ceil(calls[0] + self.window - now))
        calls.append(now)
        return None
