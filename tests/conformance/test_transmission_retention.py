"""Transmission records (documents of kind ``transmission``, one per POST
/api/v1/transmissions) on every backend: retention removes the old ones in bounded batches
but never one still scheduled after the cutoff (a cancelled one goes), nor a document of
another kind; ``list_scheduled_documents`` reads only those whose ``not_before`` is ahead."""

from __future__ import annotations

from typing import Any

from sealpost.model.document import Document
from sealpost.model.retention import DAY, Cutoffs, Purged

T0 = 1_700_000_000.0
KIND = "transmission"


def record(tid: str, updated_at: float, not_before: float | None, **extra: Any) -> Document:
    payload = {"id": tid, "state": "Success", "not_before": not_before, **extra}
    return Document(KIND, tid, payload, updated_at)


def test_old_records_go_in_bounded_batches_and_scheduled_ones_stay(run):
    async def scenario(store):
        cut = T0 + 10 * DAY
        for i in range(5):  # sent at once, long ago
            await store.put_document(record(f"old{i}", T0 + i, None))
        await store.put_document(record("started", T0, T0 + DAY))  # started before the cutoff
        await store.put_document(record("waiting", T0, T0 + 30 * DAY))  # scheduled: stays
        await store.put_document(
            record("cancelled", T0 + 1, T0 + 30 * DAY, state="Canceled")  # cancelled long ago
        )
        await store.put_document(record("recent", T0 + 20 * DAY, None))
        await store.put_document(Document("template", "tpl", {"not_before": None}, T0))

        cutoffs = Cutoffs(transmissions=cut)
        first = await store.purge_expired(cutoffs, batch=2)
        assert first == Purged(transmissions=2), "one batch removes at most `batch` records"
        total = first
        for _ in range(10):
            step = await store.purge_expired(cutoffs, batch=2)
            assert step.transmissions <= 2
            total = total + step
            if step.total == 0:
                break
        assert total == Purged(transmissions=7)
        left = [d.id for d in await store.list_documents(KIND)]
        assert left == ["recent", "waiting"]
        assert await store.get_document("template", "tpl") is not None
        assert await store.purge_expired(Cutoffs(), batch=100) == Purged()
        # Once its start is older than the cutoff, the scheduled one ages like the rest.
        later = Cutoffs(transmissions=T0 + 31 * DAY)
        assert await store.purge_expired(later, batch=100) == Purged(transmissions=2)

    run(scenario)


def test_only_records_scheduled_after_now_are_listed(run):
    async def scenario(store):
        now = T0 + DAY
        await store.put_document(record("1", T0, None))
        await store.put_document(record("2", T0, now + 60))
        await store.put_document(record("3", T0, now - 60))
        await store.put_document(record("4", T0, now + 1.5, state="Canceled"))
        await store.put_document(record("5", T0, now))  # due now: started
        await store.put_document(Document("template", "9", {"not_before": now + 60}, T0))
        listed = await store.list_scheduled_documents(KIND, now)
        assert [d.id for d in listed] == ["2", "4"]
        assert listed[0].payload["not_before"] == now + 60
        assert await store.list_scheduled_documents(KIND, now + 3600) == []

    run(scenario)
