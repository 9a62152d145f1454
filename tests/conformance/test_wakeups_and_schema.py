"""The QueueWakeups contract and ``migrate``, run against every backend."""

from __future__ import annotations

import asyncio

from sealpost.model.queue import Submitted
from tests.conformance.test_queue_store import T0, message


def test_enqueue_wakes_a_waiter_once(run):
    async def scenario(store):
        assert await store.wait_for_mail(0.05) is False  # nothing queued yet
        waiter = asyncio.create_task(store.wait_for_mail(10))
        await asyncio.sleep(0.05)
        assert not waiter.done()
        await store.enqueue("m1", message(), T0)
        assert await asyncio.wait_for(waiter, 5) is True
        assert await store.wait_for_mail(0.05) is False  # consumed

    run(scenario)


def test_mail_queued_while_nobody_waits_is_not_missed(run):
    async def scenario(store):
        await store.wait_for_mail(0)  # the waiter exists (PostgreSQL: listening)
        await store.enqueue_batch([Submitted("m1", message())], T0)
        assert await store.wait_for_mail(5) is True
        await store.enqueue("m2", message(), T0)
        await store.enqueue("m3", message(), T0)
        assert await store.wait_for_mail(5) is True
        # Two enqueues wake at most twice: one flag, but on PostgreSQL the second COMMIT's
        # notification may arrive after the first wake-up consumed the flag.
        extra = 0
        while await store.wait_for_mail(0.2):
            extra += 1
            assert extra <= 1, "more wake-ups than enqueues"

    run(scenario)


def test_held_mail_wakes_nobody_until_it_is_released(run):
    async def scenario(store):
        await store.wait_for_mail(0)
        await store.enqueue("m1", message(), T0, state="held")
        await store.enqueue_batch([Submitted("m2", message(), state="held")], T0)
        assert await store.wait_for_mail(0.2) is False
        assert await store.retry_now("m1", T0)
        assert await store.wait_for_mail(5) is True

    run(scenario)


def test_migrate_on_an_open_store_is_current_and_idempotent(run):
    async def scenario(store):
        found, now = await store.migrate()
        assert found <= now
        assert await store.migrate() == (found, now)
        await store.enqueue("m1", message(), T0)  # still usable
        assert (await store.get("m1")) is not None

    run(scenario)
