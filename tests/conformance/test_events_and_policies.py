"""Conformance of the EventStore and PolicyStore halves of every backend.

Events ride in the same transaction as the queue change they describe: an enqueue that is
refused stores none of its events, and an attempt recorded under a lost lease stores none.
"""

from __future__ import annotations

import pytest

from sealpost.model.events import EventRecord
from sealpost.model.queue import RecipientResult
from sealpost.store.errors import LeaseLostError, StoreError
from tests.conformance.test_queue_store import message

T0 = 1_700_000_000.0


def event(kind: str, mid: str, rcpt: str | None = "u@example.test", **fields) -> EventRecord:
    return EventRecord(kind, mid, T0, {"type": kind, **fields}, rcpt)


def test_events_are_stored_with_the_enqueue_and_listed_in_order(run):
    async def scenario(store):
        await store.enqueue("m1", message(), T0, [event("injection", "m1", msg_size="42")])
        await store.enqueue("m2", message(), T0, [event("injection", "m2")])
        await store.add_events([event("policy_rejection", "m3", tls={"offered": False})])
        everything = await store.list_events()
        assert [(e.type, e.message_id) for e in everything] == [
            ("injection", "m1"),
            ("injection", "m2"),
            ("policy_rejection", "m3"),
        ]
        ids = [e.event_id for e in everything]
        assert ids == sorted(ids) and len(set(ids)) == 3
        assert everything[0].fields["msg_size"] == "42"
        assert everything[2].fields["tls"] == {"offered": False}
        assert everything[0].rcpt_to == "u@example.test"
        page = await store.list_events(after=ids[0], limit=1)
        assert [e.message_id for e in page] == ["m2"]
        assert [e.message_id for e in await store.list_events(types=["policy_rejection"])] == ["m3"]
        assert [e.type for e in await store.list_events(message_id="m2")] == ["injection"]
        assert await store.list_events(after=ids[-1]) == []

    run(scenario)


def test_refused_enqueue_stores_none_of_its_events(run):
    async def scenario(store):
        await store.enqueue("m1", message(), T0, [event("injection", "m1")])
        with pytest.raises(StoreError):
            await store.enqueue("m1", message(), T0, [event("injection", "m1")])
        assert len(await store.list_events()) == 1

    run(scenario)


def test_attempt_events_commit_with_the_attempt_and_not_under_a_lost_lease(run):
    async def scenario(store):
        msg = message("a@example.test", "b@example.test")
        await store.enqueue("m1", msg, T0)
        [claim] = await store.claim_due(T0, 10, 60)
        await store.record_attempt(
            claim,
            [RecipientResult("a@example.test", "delivered", "250 ok")],
            T0 + 300,
            [event("delivery", "m1", "a@example.test", outbound_tls="1")],
        )
        with pytest.raises(LeaseLostError):
            await store.record_attempt(claim, [], T0 + 600, [event("delay", "m1")])
        kinds = [e.type for e in await store.list_events(message_id="m1")]
        assert kinds == ["delivery"]

    run(scenario)


def test_policies_round_trip_and_overwrite(run):
    async def scenario(store):
        assert await store.get_policy("mta-sts:example.test") is None
        await store.put_policy("mta-sts:example.test", {"id": "1", "max_age": 86400})
        await store.put_policy("mta-sts:example.test", {"id": "2", "max_age": 600})
        assert await store.get_policy("mta-sts:example.test") == {"id": "2", "max_age": 600}

    run(scenario)
