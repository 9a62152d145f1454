"""The retention purger (``retention.purger``) on the memory store: ages become cutoffs (0:
kept for ever), a round runs bounded batches until nothing expired is left, and ``run``
purges at once, then again when woken with new settings, until stopped."""

from __future__ import annotations

import asyncio

from sealpost.model.events import EventQuery, EventRecord
from sealpost.model.retention import DAY, Cutoffs
from sealpost.retention.purger import Purger, RetentionSettings
from sealpost.store.memory.store import MemoryStore

NOW = 1_700_000_000.0


def test_ages_become_cutoffs_and_zero_keeps_for_ever():
    cut = RetentionSettings(message_days=3, event_days=0, idempotency_hours=24).cutoffs(NOW)
    assert cut == Cutoffs(
        messages=NOW - 3 * DAY,
        events=None,
        idempotency=NOW - DAY,
        received_reports=NOW - 90 * DAY,
        held=NOW - 30 * DAY,
        transmissions=NOW - 3 * DAY,
    )
    none = RetentionSettings(0, 0, 0, 0, 0, 0).cutoffs(NOW)
    assert not none.any


def events(store: MemoryStore, ages_in_days: list[float]) -> None:
    asyncio.run(
        store.add_events([EventRecord("delivery", "m", NOW - a * DAY, {}) for a in ages_in_days])
    )


def test_a_round_runs_small_batches_until_nothing_is_left():
    store = MemoryStore()
    events(store, [11.0] * 25 + [1.0] * 3)
    purger = Purger(store, RetentionSettings(batch=10), clock=lambda: NOW)
    report = asyncio.run(purger.run_round())
    assert report.purged.events == 25
    assert report.batches == 4  # 10 + 10 + 5, then one that finds nothing
    assert asyncio.run(store.count_events(EventQuery())) == 3
    assert purger.longest_batch >= 0.0 and purger.purged.events == 25


def test_run_purges_then_follows_new_settings_until_stopped():
    async def main() -> int:
        store = MemoryStore()
        await store.add_events([EventRecord("delivery", "m", NOW - 5 * DAY, {})])
        purger = Purger(store, RetentionSettings(interval=3600), clock=lambda: NOW)
        stop = asyncio.Event()
        task = asyncio.create_task(purger.run(stop))
        for _ in range(100):  # the first round keeps the 5-day-old event (10 days)
            await asyncio.sleep(0.01)
        assert await store.count_events(EventQuery()) == 1
        purger.settings = RetentionSettings(event_days=1, interval=3600)
        purger.wake()
        for _ in range(500):
            if await store.count_events(EventQuery()) == 0:
                break
            await asyncio.sleep(0.01)
        stop.set()
        await asyncio.wait_for(task, 5)
        return await store.count_events(EventQuery())

    assert asyncio.run(main()) == 0
