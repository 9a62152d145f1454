"""The memory backend's half of the API contracts (batch enqueue with idempotency,
documents, event search): same semantics as ``sqlite_api``, for tests and ``memory://``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from sealpost.model.document import Document
from sealpost.model.events import EventQuery, EventRecord
from sealpost.model.idempotency import IdempotencyRecord
from sealpost.model.queue import Submitted
from sealpost.store.errors import DuplicateError, StoreError

DELAY_NOTICE = "delay_notice"  # the document kind behind DelayNotices


def _matches(event: EventRecord, q: EventQuery) -> bool:
    f = event.fields
    checks = (
        (q.types, event.type),
        (q.message_ids, event.message_id),
        ([r.lower() for r in q.recipients], event.rcpt_to),
        (q.transmission_ids, f.get("transmission_id")),
        (q.campaign_ids, f.get("campaign_id")),
    )
    if any(wanted and value not in wanted for wanted, value in checks):
        return False
    if q.from_time is not None and event.timestamp < q.from_time:
        return False
    return q.to_time is None or event.timestamp <= q.to_time


class MemoryApiMixin:
    """Needs ``_messages``, ``_events``, ``enqueue`` and ``_append`` of MemoryQueueStore."""

    _events: list[EventRecord]
    _messages: dict[str, Any]

    def _init_api(self) -> None:
        self._idempotency: dict[str, IdempotencyRecord] = {}
        self._documents: dict[tuple[str, str], Document] = {}

    async def enqueue_batch(
        self,
        items: Sequence[Submitted],
        now: float,
        *,
        not_before: float | None = None,
        idempotency: IdempotencyRecord | None = None,
        documents: Sequence[Document] = (),
    ) -> None:
        if idempotency is not None and idempotency.key in self._idempotency:
            raise DuplicateError(f"idempotency key {idempotency.key!r} already used")
        ids = [item.message_id for item in items]
        if any(not item.message.envelope.recipients for item in items):
            raise StoreError("a message needs at least one recipient")
        if len(set(ids)) != len(ids) or any(i in self._messages for i in ids):
            raise DuplicateError("a message id of the batch already exists")
        for item in items:  # checks passed: nothing below can fail half way
            await self.enqueue(item.message_id, item.message, now, item.events)  # type: ignore[attr-defined]
            if not_before is not None:
                entry = self._messages[item.message_id]
                entry.stored = replace(entry.stored, next_attempt_at=not_before)
        if idempotency is not None:
            self._idempotency[idempotency.key] = idempotency
        for document in documents:
            self._documents[(document.kind, document.id)] = replace(
                document, updated_at=document.updated_at or now
            )

    async def get_idempotency(self, key: str) -> IdempotencyRecord | None:
        return self._idempotency.get(key)

    async def search_events(self, query: EventQuery) -> list[EventRecord]:
        start = query.after or 0
        found = [e for e in self._events[start:] if _matches(e, query)]
        return found[: max(query.limit, 0)]

    async def count_events(self, query: EventQuery) -> int:
        return sum(1 for e in self._events if _matches(e, query))

    async def put_document(self, document: Document) -> None:
        self._documents[(document.kind, document.id)] = document

    async def get_document(self, kind: str, doc_id: str) -> Document | None:
        return self._documents.get((kind, doc_id))

    async def list_documents(self, kind: str) -> list[Document]:
        return sorted((d for (k, _), d in self._documents.items() if k == kind), key=lambda d: d.id)

    async def delete_document(self, kind: str, doc_id: str) -> bool:
        return self._documents.pop((kind, doc_id), None) is not None

    async def delay_notice_sent(self, message_id: str) -> bool:
        return (DELAY_NOTICE, message_id) in self._documents

    async def record_delay_notice(self, message_id: str, sent_at: float) -> None:
        await self.put_document(Document(DELAY_NOTICE, message_id, {"sent_at": sent_at}, sent_at))
