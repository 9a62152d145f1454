"""Conformance of the TLS-RPT marks on held mail (``Spool.enqueue``'s ``report_mark``,
``QueueControl.list_report_marked``): the mark is written with the message, all or nothing,
and only marked messages that are still held are listed, by id, past a cursor."""

from __future__ import annotations

import pytest

from sealpost.model.queue import Submitted
from sealpost.store.errors import DuplicateError
from tests.conformance.test_queue_store import T0, message


def test_only_marked_held_messages_are_listed_by_id_past_a_cursor(run):
    async def scenario(store):
        await store.enqueue("m1", message("a@x.test"), T0, state="held", report_mark=True)
        await store.enqueue("m2", message("b@x.test"), T0, state="held")
        await store.enqueue("m3", message("c@x.test"), T0, state="held", report_mark=True)
        await store.enqueue("m4", message("d@x.test"), T0, report_mark=True)  # queued
        assert await store.list_report_marked() == ["m1", "m3"]
        assert await store.list_report_marked(after="m1") == ["m3"]
        assert await store.list_report_marked(limit=1) == ["m1"]
        assert await store.list_report_marked(after="m3") == []
        assert await store.retry_now("m1", T0 + 1)  # released: no longer held
        assert await store.list_report_marked() == ["m3"]

    run(scenario)


def test_a_batch_writes_its_marks_with_its_messages_all_or_nothing(run):
    async def scenario(store):
        items = [
            Submitted("b1", message("a@x.test"), state="held", report_mark=True),
            Submitted("b2", message("b@x.test"), state="held"),
        ]
        await store.enqueue_batch(items, T0)
        assert await store.list_report_marked() == ["b1"]
        with pytest.raises(DuplicateError):
            await store.enqueue_batch(
                [
                    Submitted("b3", message("c@x.test"), state="held", report_mark=True),
                    Submitted("b1", message("d@x.test"), state="held", report_mark=True),
                ],
                T0,
            )
        assert await store.list_report_marked() == ["b1"]

    run(scenario)
