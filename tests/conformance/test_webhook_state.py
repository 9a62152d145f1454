"""Conformance of the WebhookStateStore half of every backend: a webhook's delivery state
(cursor, pending batch, batch status history) comes back exactly as it was put, a put
replaces the whole state, and a webhook's state can be listed and forgotten."""

from __future__ import annotations

from dataclasses import replace

from sealpost.model.webhook_delivery import BatchStatus, DeliveryState, FailureCode, PendingBatch

T0 = 1_700_000_000.0

STATE = DeliveryState(
    "w1",
    since=1.0,
    cursor=7,
    pending=PendingBatch("b1", 9, 2, 1, 3.0, 13.0),
    last_failure=3.0,
    history=(BatchStatus("b1", 3.0, 1, 503, FailureCode.HTTP_STATUS, 12),),
)


def test_state_round_trips(run):
    async def scenario(store):
        assert await store.get_webhook_state("w1") is None
        await store.put_webhook_state(STATE, T0)
        assert await store.get_webhook_state("w1") == STATE
        fresh = DeliveryState("w2", since=T0)  # no cursor, nothing pending, no history
        await store.put_webhook_state(fresh, T0)
        assert await store.get_webhook_state("w2") == fresh

    run(scenario)


def test_put_replaces_the_state_and_its_history(run):
    async def scenario(store):
        await store.put_webhook_state(STATE, T0)
        ok = BatchStatus("b1", 20.0, 2, 200, None, 5)
        dropped = BatchStatus("b2", 30.0, 9, None, FailureCode.DROPPED, 0)
        later = replace(STATE, cursor=9, pending=None, last_successful=20.0, history=(ok, dropped))
        await store.put_webhook_state(later, T0 + 1)
        assert await store.get_webhook_state("w1") == later
        shorter = replace(later, history=(dropped,))
        await store.put_webhook_state(shorter, T0 + 2)
        assert (await store.get_webhook_state("w1")).history == (dropped,)

    run(scenario)


def test_states_are_listed_and_forgotten_one_webhook_at_a_time(run):
    async def scenario(store):
        for webhook_id in ("w2", "w1", "w3"):
            await store.put_webhook_state(replace(STATE, webhook_id=webhook_id), T0)
        assert await store.webhook_state_ids() == ["w1", "w2", "w3"]
        assert await store.delete_webhook_state("w2") is True
        assert await store.delete_webhook_state("w2") is False
        assert await store.get_webhook_state("w2") is None
        assert await store.webhook_state_ids() == ["w1", "w3"]
        assert (await store.get_webhook_state("w1")).history == STATE.history
        # A state of its own, not a document: the documents API never sees it.
        assert await store.list_documents("webhook_state") == []

    run(scenario)


def test_this_node_takes_renews_and_releases_a_webhook_lease(run):
    """On every backend the only node asking gets the lease, keeps it by renewing it, and
    gets it again after giving it back; forgetting a webhook's state drops its lease."""

    async def scenario(store):
        assert await store.lease_webhook("w1", T0, 60) is True
        assert await store.lease_webhook("w1", T0 + 30, 60) is True, "renewed by its holder"
        assert await store.lease_webhook("w2", T0, 60) is True, "one lease per webhook"
        await store.release_webhook("w1")
        await store.release_webhook("w1")  # giving back a lease not held is harmless
        assert await store.lease_webhook("w1", T0 + 31, 60) is True
        await store.put_webhook_state(STATE, T0)
        assert await store.delete_webhook_state("w1") is True
        assert await store.lease_webhook("w1", T0 + 32, 60) is True

    run(scenario)
