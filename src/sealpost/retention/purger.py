"""The background purger: every ``interval`` seconds, a round of purge batches until one
removes nothing (``store.contracts.retention``), each followed by giving free pages back
(SQLite incremental vacuum). Each batch is its own short transaction; between batches the
purger pauses as long as the batch took, so the writer commits the door's waiting mail
(RFC 5321 section 6.1: its fsync before the 250) between two batches, never behind the whole
round, and the purge never has the writer more than half the time. Free pages go back in
steps of ``VACUUM_STEP`` pages, each its own transaction, paced the same way.

``longest_batch`` is the longest purge call seen, measured from the call to its commit
(the time it waited for the writer included): an upper bound on how long one batch could
delay a write that shared its transaction.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from sealpost.model.retention import DAY, Cutoffs, Purged
from sealpost.store.contracts import RetentionStore
from sealpost.store.errors import StoreError

log = logging.getLogger("sealpost.retention")
HOUR = 3600.0
MAX_BATCHES_PER_ROUND = 100_000  # a bound on one round's loop, far beyond any real backlog
VACUUM_STEP = 256  # free pages returned per transaction (1 MB with 4 KB pages)
MIN_PAUSE, MAX_PAUSE = 0.005, 1.0  # seconds between two purge writes
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RetentionSettings:
    """``[retention]``: ages in days (hours for idempotency keys); 0 keeps for ever."""

    message_days: float = 3.0
    event_days: float = 10.0
    idempotency_hours: float = 24.0
    received_report_days: float = 90.0
    held_days: float = 30.0
    transmission_days: float = 3.0
    interval: float = 300.0
    batch: int = 100
    vacuum_pages: int = 2000

    def cutoffs(self, now: float) -> Cutoffs:
        def before(age: float, unit: float) -> float | None:
            return now - age * unit if age > 0 else None

        return Cutoffs(
            messages=before(self.message_days, DAY),
            events=before(self.event_days, DAY),
            idempotency=before(self.idempotency_hours, HOUR),
            received_reports=before(self.received_report_days, DAY),
            held=before(self.held_days, DAY),
            transmissions=before(self.transmission_days, DAY),
        )


@dataclass(frozen=True, slots=True)
class RoundReport:
    purged: Purged
    batches: int
    pages_returned: int
    longest_batch: float  # seconds


class Purger:
    """Runs rounds until stopped; ``settings`` may be replaced at any time (SIGHUP)."""

    def __init__(
        self,
        store: RetentionStore,
        settings: RetentionSettings,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self.settings = settings
        self._clock = clock
        self.longest_batch = 0.0
        self.purged = Purged()
        self._round_longest = 0.0
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Run a round now (the settings changed)."""
        self._wake.set()

    async def run_round(self) -> RoundReport:
        """Purge batches until one removes nothing; then report what went."""
        settings = self.settings
        cutoffs = settings.cutoffs(self._clock())
        total, batches, pages = Purged(), 0, 0
        self._round_longest = 0.0
        if not cutoffs.any:
            return RoundReport(total, 0, 0, 0.0)
        for _ in range(MAX_BATCHES_PER_ROUND):
            step = await self._timed(self._store.purge_expired(cutoffs, batch=settings.batch))
            batches += 1
            total = total + step
            if settings.vacuum_pages and step.total:
                pages += await self._reclaim(settings.vacuum_pages)
            if step.total == 0:
                break
        self.longest_batch = max(self.longest_batch, self._round_longest)
        self.purged = self.purged + total
        return RoundReport(total, batches, pages, self._round_longest)

    async def _reclaim(self, pages: int) -> int:
        """Give back up to ``pages`` free pages, ``VACUUM_STEP`` per transaction."""
        returned = 0
        while returned < pages:
            step = await self._timed(self._store.reclaim_space(min(VACUUM_STEP, pages - returned)))
            returned += step
            if step < VACUUM_STEP:
                break
        return returned

    async def _timed(self, call: Awaitable[T]) -> T:
        """Await one write, then pause as long as it took: the purge has the store's writer
        at most half the time, and the door's writes get transactions of their own between
        two batches instead of waiting behind the next one."""
        started = time.monotonic()
        result = await call
        took = time.monotonic() - started
        self._round_longest = max(self._round_longest, took)
        await asyncio.sleep(min(max(took, MIN_PAUSE), MAX_PAUSE))
        return result

    async def run(self, stop: asyncio.Event) -> None:
        """Rounds every ``settings.interval`` seconds until ``stop``; a store error is logged
        and the next round tries again."""
        await self._check_file()
        while not stop.is_set():
            try:
                report = await self.run_round()
            except StoreError as exc:
                log.warning("retention purge failed, trying again next round: %s", exc)
            else:
                if report.purged.total:
                    log.info(
                        "retention: purged %s in %d batch(es), longest %.1f ms; "
                        "%d free page(s) returned",
                        _counts(report.purged),
                        report.batches,
                        report.longest_batch * 1000,
                        report.pages_returned,
                    )
            self._wake.clear()
            waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._wake.wait())]
            _, pending = await asyncio.wait(
                waiters, timeout=self.settings.interval, return_when=asyncio.FIRST_COMPLETED
            )
            for task in pending:
                task.cancel()

    async def _check_file(self) -> None:
        """A SQLite file made before schema version 14 never shrinks: say what to do."""
        try:
            facts = await self._store.storage_facts()
        except StoreError:
            return
        if facts.get("auto_vacuum") == "none" and self.settings.vacuum_pages:
            log.warning(
                "retention: the queue database does not give purged space back to the file "
                "system (auto_vacuum is off: the file predates Sealpost's schema version 14); "
                "stop the server once and run `sealpost store vacuum` to switch it on"
            )


def _counts(purged: Purged) -> str:
    parts = [f"{n} {name.replace('_', ' ')}" for name, n in purged.as_dict().items() if n]
    return ", ".join(parts) or "nothing"
