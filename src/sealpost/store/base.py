"""The storage contracts every backend honours, and the values they return.

RFC 5321 section 6.1: once we answer ``250`` to the final dot we own the message and "MUST
NOT lose" it, so ``QueueStore.enqueue`` returns only after the message and all of its
recipients are committed and on stable storage (fsync). Every backend passes the one
conformance suite in ``tests/conformance``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from sealpost.model.api_key import ApiKeyRecord
from sealpost.model.document import Document
from sealpost.model.envelope import InboundMessage
from sealpost.model.events import EventQuery, EventRecord
from sealpost.model.idempotency import IdempotencyRecord
from sealpost.model.queue import (
    Claim,
    MessageState,
    MessageSummary,
    RecipientResult,
    StoredMessage,
    Submitted,
)


class StoreError(Exception):
    """The store could not do what was asked (disk full, I/O error, corrupt data)."""


class DuplicateError(StoreError):
    """A message or API key with this id is already stored; nothing was written."""


class LeaseLostError(StoreError):
    """The claim's lease token no longer matches: another worker holds the message now."""


class QueueStore(Protocol):
    """The durable queue. All methods are coroutines; ``enqueue`` is durable on return."""

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def enqueue(
        self,
        message_id: str,
        message: InboundMessage,
        now: float,
        events: Sequence[EventRecord] = (),
    ) -> None:
        """Store the message, its recipients and ``events`` in one transaction, fsynced,
        before returning."""

    async def get(self, message_id: str) -> StoredMessage | None: ...

    async def list(
        self, *, state: MessageState | None = None, limit: int = 100, after: str | None = None
    ) -> list[MessageSummary]:
        """Messages ordered by id (arrival); ``after`` pages past an id."""

    async def count(self) -> dict[str, int]:
        """Number of messages per state."""

    async def claim_due(self, now: float, limit: int, lease: float) -> list[Claim]:
        """Lease up to ``limit`` queued messages whose next attempt is due."""

    async def record_attempt(
        self,
        claim: Claim,
        results: Sequence[RecipientResult],
        next_attempt_at: float,
        events: Sequence[EventRecord] = (),
    ) -> None:
        """Durably record per-recipient outcomes and ``events`` in one transaction and
        release the lease; a message whose recipients are all final becomes ``done``."""

    async def release(self, claim: Claim) -> None:
        """Give a lease back unchanged (shutdown)."""

    async def release_all_leases(self) -> int:
        """Drop every lease (a single node starting up: whatever it held before a crash is
        due again at once, as Postfix moves ``active`` back to ``incoming``); returns how
        many. Not for a store shared by several live nodes."""

    async def cancel(self, message_id: str) -> bool:
        """Cancel a queued message; False when there is no such queued message."""

    async def retry_now(self, message_id: str, now: float) -> bool:
        """Make a queued message due at ``now``; False when there is no such queued message."""


class KeyStore(Protocol):
    async def add_key(self, record: ApiKeyRecord) -> None: ...

    async def find_key(self, key_id: str) -> ApiKeyRecord | None: ...

    async def list_keys(self) -> list[ApiKeyRecord]: ...

    async def revoke_key(self, key_id: str, now: float) -> bool: ...


class EventStore(Protocol):
    async def add_events(self, events: Sequence[EventRecord]) -> None:
        """Durably append events that belong to no queue transaction."""

    async def list_events(
        self,
        *,
        after: int | None = None,
        limit: int = 100,
        types: Sequence[str] | None = None,
        message_id: str | None = None,
    ) -> list[EventRecord]:
        """Events in insertion order, past the cursor ``after``."""


class PolicyStore(Protocol):
    """A small durable map for outbound policy state (the MTA-STS cache, RFC 8461 5.1)."""

    async def get_policy(self, key: str) -> dict[str, Any] | None: ...

    async def put_policy(self, key: str, payload: dict[str, Any]) -> None: ...


class BatchStore(Protocol):
    async def enqueue_batch(
        self,
        items: Sequence[Submitted],
        now: float,
        *,
        not_before: float | None = None,
        idempotency: IdempotencyRecord | None = None,
        documents: Sequence[Document] = (),
    ) -> None:
        """Store every message (due at ``not_before`` or now), the idempotency record and
        the documents in ONE transaction, fsynced; all or nothing. ``DuplicateError`` when
        the idempotency key is already recorded (nothing is written then)."""

    async def get_idempotency(self, key: str) -> IdempotencyRecord | None: ...

    async def search_events(self, query: EventQuery) -> list[EventRecord]: ...

    async def count_events(self, query: EventQuery) -> int:
        """How many events match, ignoring ``after`` and ``limit``."""


class DocumentStore(Protocol):
    async def put_document(self, document: Document) -> None: ...

    async def get_document(self, kind: str, doc_id: str) -> Document | None: ...

    async def list_documents(self, kind: str) -> list[Document]: ...

    async def delete_document(self, kind: str, doc_id: str) -> bool: ...


class Store(QueueStore, KeyStore, EventStore, PolicyStore, BatchStore, DocumentStore, Protocol):
    """What ``open_store`` returns: one backend serving every store contract."""
