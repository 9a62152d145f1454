"""The StoreGauges contract (what the metrics read of the store), run against every backend."""

from __future__ import annotations

from sealpost.model.ids import new_message_id
from sealpost.model.queue import RecipientResult
from sealpost.model.queue_depth import QueueDepth
from tests.conformance.test_queue_store import T0, message


def test_queue_depth_counts_waiting_states_and_the_oldest_queued(run):
    async def scenario(store):
        assert await store.queue_depth() == QueueDepth(0, 0, None)
        first, second, third, held, done = (new_message_id(T0 + i) for i in range(5))
        await store.enqueue(first, message("x@example.test"), T0)
        await store.enqueue(second, message("x@example.test"), T0 + 1)
        await store.enqueue(third, message("x@example.test"), T0 + 2)
        await store.enqueue(held, message("x@example.test"), T0 + 3, state="held")
        await store.enqueue(done, message("x@example.test"), T0 + 4)
        await store.cancel(second)
        claims = await store.claim_due(T0 + 10, 10, 60)
        [claim] = [c for c in claims if c.message.id == done]
        for other in claims:
            if other is not claim:
                await store.release(other)
        await store.record_attempt(claim, [RecipientResult("x@example.test", "delivered")], T0)
        depth = await store.queue_depth()
        assert depth == QueueDepth(queued=2, held=1, oldest_queued_at=T0)
        assert depth.oldest_age(T0 + 30) == 30
        await store.cancel(first)  # the oldest leaves: the next one is the oldest
        assert (await store.queue_depth()).oldest_queued_at == T0 + 2

    run(scenario)


def test_commit_observer_sees_each_committed_write(run):
    async def scenario(store):
        waits: list[float] = []
        store.observe_commits(waits.append)
        await store.enqueue(new_message_id(T0), message("x@example.test"), T0)
        await store.enqueue(new_message_id(T0 + 1), message("x@example.test"), T0)
        store.observe_commits(None)
        await store.enqueue(new_message_id(T0 + 2), message("x@example.test"), T0)
        return type(store).__name__, waits

    backend, waits = run(scenario)
    # SQL backends commit (and time) each write; memory commits nothing and reports nothing.
    assert len(waits) == (0 if backend == "MemoryStore" else 2)
    assert all(0 <= w < 60 for w in waits)
