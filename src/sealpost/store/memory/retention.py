"""Retention and erasure in memory (``contracts.retention``): the same rules as the SQL
backends over the dicts; there is no file to give space back to."""

from __future__ import annotations

from sealpost.model.retention import Cutoffs, Purged, transmission_expired
from sealpost.model.suppression import SuppressionType, recipient_key
from sealpost.store.memory.queue import MemoryQueue
from sealpost.store.memory.received_reports import MemoryReceivedReports
from sealpost.store.memory.suppressions import MemorySuppressions

FINAL = ("done", "cancelled")


class MemoryRetention(MemoryQueue, MemoryReceivedReports, MemorySuppressions):
    """``RetentionStore``."""

    async def purge_expired(self, cutoffs: Cutoffs, *, batch: int) -> Purged:
        if not cutoffs.any or batch <= 0:
            return Purged()
        messages = 0
        if cutoffs.messages is not None:
            for state in FINAL:
                ids = [
                    m
                    for m, e in self._messages.items()
                    if e.stored.state == state and e.stored.next_attempt_at < cutoffs.messages
                ][:batch]
                self._drop_messages(ids)
                messages += len(ids)
        if cutoffs.held is not None:
            ids = [
                m
                for m, e in self._messages.items()
                if e.stored.state == "held"
                and e.admin_mark is None
                and e.stored.created_at < cutoffs.held
            ][:batch]
            self._drop_messages(ids)
            messages += len(ids)
        events = 0
        if cutoffs.events is not None:
            for i, event in enumerate(self._events):
                if events >= batch:
                    break
                if event is not None and event.timestamp < cutoffs.events:
                    self._events[i] = None
                    events += 1
        idempotency = 0
        if cutoffs.idempotency is not None:
            keys = [k for k, r in self._idempotency.items() if r.created_at < cutoffs.idempotency]
            for key in keys[:batch]:
                del self._idempotency[key]
            idempotency = len(keys[:batch])
        reports = 0
        if cutoffs.received_reports is not None:
            old = [r for r in self._reports.values() if r.received_at < cutoffs.received_reports][
                :batch
            ]
            for report in old:
                del self._reports[report.id]
                self._by_sender.pop((report.organization, report.report_id), None)
            reports = len(old)
        transmissions = 0
        if cutoffs.transmissions is not None:
            cutoff = cutoffs.transmissions
            old_records = sorted(
                (d for (kind, _), d in self._documents.items() if kind == "transmission"),
                key=lambda d: d.updated_at,
            )
            gone = [
                d for d in old_records if transmission_expired(d.payload, d.updated_at, cutoff)
            ][:batch]
            for document in gone:
                del self._documents[(document.kind, document.id)]
            transmissions = len(gone)
        return Purged(
            messages=messages,
            events=events,
            idempotency=idempotency,
            received_reports=reports,
            transmissions=transmissions,
        )

    def _drop_messages(self, ids: list[str]) -> None:
        for message_id in ids:
            self._messages.pop(message_id, None)
            self._report_marks.discard(message_id)
            self._documents.pop(("delay_notice", message_id), None)

    async def reclaim_space(self, pages: int) -> int:
        return 0

    async def storage_facts(self) -> dict[str, int | str]:
        return {}

    async def erase_recipient(self, address: str, *, dry_run: bool = False) -> Purged:
        key = recipient_key(address)
        messages = [
            (m, e.stored.state)
            for m, e in self._messages.items()
            if any(r.address.lower() == key for r in e.stored.recipients)
        ]
        events = [i for i, e in enumerate(self._events) if e is not None and e.rcpt_to == key]
        entries = [t for t in SuppressionType if (key, t.value) in self._suppressions]
        found = Purged(
            messages=len(messages),
            events=len(events),
            suppressions=len(entries),
            queued_messages=sum(1 for _, state in messages if state not in FINAL),
        )
        if not dry_run:
            self._drop_messages([m for m, _ in messages])
            for i in events:
                self._events[i] = None
            for t in entries:
                del self._suppressions[(key, t.value)]
        return found
