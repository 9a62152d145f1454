"""Queue-wide gauges, read from the store when Prometheus scrapes.

The queue's depth by state and the age of the oldest queued message are facts of the store,
not of a process: counted in a process they would be wrong with several workers, and on
PostgreSQL several nodes share one queue. So they are read from the store
(``StoreGauges.queue_depth``: indexed range counts of the waiting states) at scrape time, and
the answer is reused for ``ttl`` seconds so that several scrapers (or a dashboard refreshing
fast) cost one query. A store that cannot be read leaves the last answer out and sets
``sealpost_queue_gauges_up`` to 0, which the alert rules watch.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Protocol

from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from sealpost.model.queue_depth import QueueDepth

log = logging.getLogger("sealpost.metrics")

ReadDepth = Callable[[], Awaitable[QueueDepth]]


class QueueGauges(Collector):
    """A collector of the last ``QueueDepth``; ``refresh`` reads a new one when it is stale."""

    def __init__(
        self,
        read: ReadDepth,
        *,
        ttl: float = 2.0,
        timeout: float = 2.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._read = read
        self._ttl = ttl
        self._timeout = timeout
        self._clock = clock
        self._depth: QueueDepth | None = None
        self._read_at = float("-inf")
        self._lock = asyncio.Lock()

    async def refresh(self) -> None:
        """Read the store unless the last answer is younger than ``ttl``."""
        async with self._lock:  # scrapes at once share one query
            now = self._clock()
            if self._depth is not None and now - self._read_at < self._ttl:
                return
            try:
                depth = await asyncio.wait_for(self._read(), self._timeout)
            except Exception as exc:  # StoreError, a timeout: the gauges say the store is out
                log.warning("metrics: cannot read the queue depth: %s", type(exc).__name__)
                self._depth, self._read_at = None, now
                return
            self._depth, self._read_at = depth, now

    def collect(self) -> Iterable[Metric]:
        depth = self._depth
        up = GaugeMetricFamily(
            "sealpost_queue_gauges_up",
            "1 when the last read of the queue depth from the store succeeded, else 0.",
            value=0 if depth is None else 1,
        )
        yield up
        if depth is None:
            return
        by_state = GaugeMetricFamily(
            "sealpost_queue_messages",
            "Messages waiting in the queue (the whole store, every node), by state: queued "
            "(due now or later) and held (kept for local domains).",
            labels=["state"],
        )
        by_state.add_metric(["queued"], depth.queued)
        by_state.add_metric(["held"], depth.held)
        yield by_state
        yield GaugeMetricFamily(
            "sealpost_queue_oldest_message_age_seconds",
            "Seconds since the oldest queued message arrived (0 with none queued).",
            value=depth.oldest_age(self._clock()),
        )


class SpaceState(Protocol):
    """What ``store.free_space.SpaceWatch`` knows of the queue's file system."""

    @property
    def free_bytes(self) -> int | None: ...

    @property
    def min_free_bytes(self) -> int | None: ...


class FreeSpaceGauges(Collector):
    """The queue's free disk space as ``SpaceWatch`` last measured it (every second): no
    ``statvfs`` per scrape. Nothing for a store without a local file (PostgreSQL, memory)."""

    def __init__(self, space: SpaceState) -> None:
        self._space = space

    def collect(self) -> Iterable[Metric]:
        free, minimum = self._space.free_bytes, self._space.min_free_bytes
        if free is None or minimum is None:
            return
        yield GaugeMetricFamily(
            "sealpost_store_free_bytes",
            "Bytes free on the file system of the SQLite queue (for an unprivileged writer).",
            value=free,
        )
        yield GaugeMetricFamily(
            "sealpost_store_min_free_bytes",
            "[store] min_free in bytes: below it new mail is refused (452 4.3.1, API 503).",
            value=minimum,
        )
