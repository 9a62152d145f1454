"""Conformance of the API half of every backend: batch enqueue (all or nothing, with its
Idempotency-Key in the same transaction: checklist K10), scheduling, documents and event
search, delay notices."""

from __future__ import annotations

import pytest

from sealpost.model.document import Document
from sealpost.model.events import EventQuery, EventRecord
from sealpost.model.idempotency import IdempotencyRecord
from sealpost.model.queue import Submitted
from sealpost.store.errors import DuplicateError
from tests.conformance.test_queue_store import T0, message


def event(kind: str, mid: str, rcpt: str, ts: float = T0, **fields) -> EventRecord:
    return EventRecord(kind, mid, ts, {"type": kind, **fields}, rcpt)


def test_batch_with_idempotency_is_all_or_nothing(run):
    async def scenario(store):
        key = IdempotencyRecord("k1", "hash-a", {"results": {"id": "7"}}, T0)
        items = [
            Submitted("m1", message("a@x.test"), [event("injection", "m1", "a@x.test")]),
            Submitted("m2", message("b@x.test")),
        ]
        await store.enqueue_batch(
            items,
            T0,
            idempotency=key,
            documents=[Document("transmission", "7", {"ids": ["m1", "m2"]})],
        )
        assert (await store.get_idempotency("k1")).response == {"results": {"id": "7"}}
        assert (await store.get_document("transmission", "7")).payload["ids"] == ["m1", "m2"]
        # The same key again: refused, nothing of the second batch written.
        again = [Submitted("m3", message("c@x.test"))]
        with pytest.raises(DuplicateError):
            await store.enqueue_batch(again, T0, idempotency=IdempotencyRecord("k1", "h", {}, T0))
        assert await store.get("m3") is None
        # A duplicate message id inside a batch: nothing written either.
        with pytest.raises(DuplicateError):
            await store.enqueue_batch(
                [Submitted("m4", message()), Submitted("m1", message())],
                T0,
                idempotency=IdempotencyRecord("k2", "h", {}, T0),
            )
        assert await store.get("m4") is None and await store.get_idempotency("k2") is None

    run(scenario)


def test_batch_stores_each_message_in_its_state(run):
    async def scenario(store):
        items = [
            Submitted("m1", message("a@x.test"), [event("injection", "m1", "a@x.test")], "held"),
            Submitted("m2", message("b@x.test")),
        ]
        await store.enqueue_batch(items, T0, not_before=T0 + 60)
        assert [(await store.get(m)).state for m in ("m1", "m2")] == ["held", "queued"]
        assert [(await store.get(m)).next_attempt_at for m in ("m1", "m2")] == [T0 + 60] * 2
        [claim] = await store.claim_due(T0 + 10_000, 10, 60)
        assert claim.message.id == "m2"
        [injection] = await store.list_events(limit=10)
        assert (injection.type, injection.message_id) == ("injection", "m1")

    run(scenario)


def test_batch_can_be_scheduled(run):
    async def scenario(store):
        await store.enqueue_batch([Submitted("m1", message())], T0, not_before=T0 + 3600)
        assert await store.claim_due(T0 + 10, 10, 60) == []
        assert len(await store.claim_due(T0 + 3600, 10, 60)) == 1

    run(scenario)


def test_documents_crud(run):
    async def scenario(store):
        await store.put_document(Document("webhook", "b", {"name": "two"}, T0))
        await store.put_document(Document("webhook", "a", {"name": "one"}, T0))
        await store.put_document(Document("template", "a", {"name": "tpl"}, T0))
        await store.put_document(Document("webhook", "a", {"name": "one v2"}, T0 + 1))
        assert [d.id for d in await store.list_documents("webhook")] == ["a", "b"]
        assert (await store.get_document("webhook", "a")).payload == {"name": "one v2"}
        assert await store.delete_document("webhook", "a")
        assert not await store.delete_document("webhook", "a")
        assert await store.get_document("webhook", "a") is None
        assert [d.id for d in await store.list_documents("template")] == ["a"]

    run(scenario)


def test_delay_notices_are_remembered_per_message(run):
    async def scenario(store):
        assert not await store.delay_notice_sent("m1")
        await store.record_delay_notice("m1", T0)
        assert await store.delay_notice_sent("m1")
        assert not await store.delay_notice_sent("m2")
        await store.record_delay_notice("m1", T0 + 60)  # again: still one notice, no error
        assert await store.delay_notice_sent("m1")

    run(scenario)


def test_event_search_filters_and_counts(run):
    async def scenario(store):
        await store.add_events(
            [
                event("injection", "m1", "a@x.test", T0, transmission_id="7", campaign_id="c1"),
                event("delivery", "m1", "a@x.test", T0 + 10, transmission_id="7", campaign_id="c1"),
                event("bounce", "m2", "b@x.test", T0 + 20, transmission_id="8", campaign_id="c2"),
            ]
        )
        q = EventQuery(types=["delivery", "bounce"])
        assert [e.type for e in await store.search_events(q)] == ["delivery", "bounce"]
        assert await store.count_events(q) == 2
        assert [
            e.message_id for e in await store.search_events(EventQuery(transmission_ids=["8"]))
        ] == ["m2"]
        assert [
            e.type
            for e in await store.search_events(EventQuery(campaign_ids=["c1"], from_time=T0 + 5))
        ] == ["delivery"]
        assert [
            e.type
            for e in await store.search_events(EventQuery(recipients=["A@X.test"], to_time=T0 + 5))
        ] == ["injection"]
        first = await store.search_events(EventQuery(limit=1))
        rest = await store.search_events(EventQuery(after=first[0].event_id))
        assert len(rest) == 2 and await store.count_events(EventQuery(limit=1)) == 3

    run(scenario)


def test_a_document_is_added_once_even_by_concurrent_creators(run):
    """``add_document`` is one atomic step: of two creators of one id (two workers' API, two
    nodes) exactly one succeeds, and the loser writes nothing."""

    async def scenario(store):
        import asyncio

        tries = [Document("sending_domain", "x.test", {"n": n}, T0) for n in range(4)]
        added = await asyncio.gather(*(store.add_document(d) for d in tries))
        assert sorted(added) == [False, False, False, True]
        winner = added.index(True)
        assert (await store.get_document("sending_domain", "x.test")).payload == {"n": winner}
        await store.put_document(Document("template", "t", {"v": 1}, T0))
        assert not await store.add_document(Document("template", "t", {"v": 2}, T0 + 1))
        assert (await store.get_document("template", "t")).payload == {"v": 1}
        assert await store.add_document(Document("template", "u", {"v": 3}, T0))

    run(scenario)
