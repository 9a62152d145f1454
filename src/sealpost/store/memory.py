"""In-memory QueueStore and KeyStore: for tests and ``url = "memory://"``.

Same contract as the durable backends (the conformance suite runs against both), except that
nothing survives the process: RFC 5321 section 6.1 durability is NOT provided, so this backend
is for tests and throw-away development servers only.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from sealpost.model.api_key import ApiKeyRecord
from sealpost.model.envelope import InboundMessage
from sealpost.model.events import EventRecord
from sealpost.model.queue import (
    Claim,
    MessageState,
    MessageSummary,
    RecipientResult,
    StoredMessage,
    StoredRecipient,
)
from sealpost.store.attempts import apply_results, cancelled, state_after
from sealpost.store.errors import DuplicateError, LeaseLostError, StoreError
from sealpost.store.memory_api import MemoryApiMixin


@dataclass(slots=True)
class _Entry:
    """One queued message plus its lease, which ``StoredMessage`` does not show."""

    stored: StoredMessage
    lease_token: str | None = None
    lease_until: float | None = None


class MemoryQueueStore:
    """The queue in a dict; every method completes without yielding, so calls never interleave."""

    def __init__(self) -> None:
        self._messages: dict[str, _Entry] = {}
        self._events: list[EventRecord] = []

    def _append(self, events: Sequence[EventRecord]) -> None:
        for event in events:
            self._events.append(replace(event, event_id=len(self._events) + 1))

    async def add_events(self, events: Sequence[EventRecord]) -> None:
        self._append(events)

    async def list_events(
        self,
        *,
        after: int | None = None,
        limit: int = 100,
        types: Sequence[str] | None = None,
        message_id: str | None = None,
    ) -> list[EventRecord]:
        start = after or 0  # event ids are 1-based list positions
        found = [
            e
            for e in self._events[start:]
            if (not types or e.type in types) and (message_id is None or e.message_id == message_id)
        ]
        return found[: max(limit, 0)]

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def __aenter__(self) -> MemoryQueueStore:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def enqueue(
        self,
        message_id: str,
        message: InboundMessage,
        now: float,
        events: Sequence[EventRecord] = (),
    ) -> None:
        if not message.envelope.recipients:
            raise StoreError("a message needs at least one recipient")
        if message_id in self._messages:
            raise DuplicateError(f"message {message_id} already exists")
        recipients = tuple(StoredRecipient(a, "queued") for a in message.envelope.recipients)
        stored = StoredMessage(
            id=message_id,
            message=message,
            created_at=now,
            state="queued",
            next_attempt_at=now,
            attempts=0,
            recipients=recipients,
        )
        self._messages[message_id] = _Entry(stored)
        self._append(events)

    async def get(self, message_id: str) -> StoredMessage | None:
        entry = self._messages.get(message_id)
        return None if entry is None else entry.stored

    async def list(
        self, *, state: MessageState | None = None, limit: int = 100, after: str | None = None
    ) -> list[MessageSummary]:
        rows: list[MessageSummary] = []
        for message_id in sorted(self._messages):
            if len(rows) >= limit:
                break
            if after is not None and message_id <= after:
                continue
            stored = self._messages[message_id].stored
            if state is not None and stored.state != state:
                continue
            rows.append(_summary(stored))
        return rows

    async def count(self) -> dict[str, int]:
        counts = {"queued": 0, "done": 0, "cancelled": 0}
        for entry in self._messages.values():
            counts[entry.stored.state] += 1
        return counts

    async def claim_due(self, now: float, limit: int, lease: float) -> list[Claim]:
        due = [
            entry
            for entry in self._messages.values()
            if entry.stored.state == "queued"
            and entry.stored.next_attempt_at <= now
            and (entry.lease_until is None or entry.lease_until < now)
        ]
        due.sort(key=lambda e: (e.stored.next_attempt_at, e.stored.id))
        claims: list[Claim] = []
        for entry in due[: max(limit, 0)]:
            entry.lease_token = secrets.token_hex(16)
            entry.lease_until = now + lease
            claims.append(Claim(entry.stored, entry.lease_token, entry.lease_until))
        return claims

    async def record_attempt(
        self,
        claim: Claim,
        results: Sequence[RecipientResult],
        next_attempt_at: float,
        events: Sequence[EventRecord] = (),
    ) -> None:
        entry = self._leased(claim)
        stored = entry.stored
        recipients = apply_results(stored.recipients, results)
        entry.stored = replace(
            stored,
            recipients=recipients,
            state=state_after(stored.state, recipients),
            attempts=stored.attempts + 1,
            next_attempt_at=next_attempt_at,
        )
        entry.lease_token = entry.lease_until = None
        self._append(events)

    async def release(self, claim: Claim) -> None:
        """Drop the lease if it is still ours; a lease already taken over is left alone."""
        entry = self._messages.get(claim.message.id)
        if entry is not None and entry.lease_token == claim.token:
            entry.lease_token = entry.lease_until = None

    async def release_all_leases(self) -> int:
        held = [e for e in self._messages.values() if e.lease_token is not None]
        for entry in held:
            entry.lease_token = entry.lease_until = None
        return len(held)

    async def retry_now(self, message_id: str, now: float) -> bool:
        entry = self._messages.get(message_id)
        if entry is None or entry.stored.state != "queued":
            return False
        entry.stored = replace(entry.stored, next_attempt_at=now)
        return True

    async def cancel(self, message_id: str) -> bool:
        entry = self._messages.get(message_id)
        if entry is None or entry.stored.state != "queued":
            return False
        stored = entry.stored
        entry.stored = replace(stored, state="cancelled", recipients=cancelled(stored.recipients))
        return True

    def _leased(self, claim: Claim) -> _Entry:
        entry = self._messages.get(claim.message.id)
        if entry is None or entry.lease_token != claim.token:
            raise LeaseLostError(f"lease on {claim.message.id} was lost")
        return entry


class MemoryKeyStore:
    """API key records in a dict."""

    def __init__(self) -> None:
        self._keys: dict[str, ApiKeyRecord] = {}

    async def add_key(self, record: ApiKeyRecord) -> None:
        if record.id in self._keys:
            raise DuplicateError(f"API key id {record.id} already exists")
        self._keys[record.id] = record

    async def find_key(self, key_id: str) -> ApiKeyRecord | None:
        return self._keys.get(key_id)

    async def list_keys(self) -> list[ApiKeyRecord]:
        return sorted(self._keys.values(), key=lambda r: (r.created_at, r.id))

    async def revoke_key(self, key_id: str, now: float) -> bool:
        record = self._keys.get(key_id)
        if record is None or not record.active:
            return False
        self._keys[key_id] = replace(record, revoked_at=now)
        return True


class MemoryStore(MemoryQueueStore, MemoryKeyStore, MemoryApiMixin):
    """Queue, keys, events and policies: what ``open_store("memory://")`` returns."""

    def __init__(self) -> None:
        MemoryQueueStore.__init__(self)
        MemoryKeyStore.__init__(self)
        self._init_api()
        self._policies: dict[str, dict[str, Any]] = {}

    async def get_policy(self, key: str) -> dict[str, Any] | None:
        payload = self._policies.get(key)
        return None if payload is None else dict(payload)

    async def put_policy(self, key: str, payload: dict[str, Any]) -> None:
        self._policies[key] = dict(payload)


def _summary(stored: StoredMessage) -> MessageSummary:
    session = stored.message.session
    return MessageSummary(
        id=stored.id,
        mail_from=stored.message.envelope.mail_from,
        recipient_count=len(stored.recipients),
        size=stored.size,
        created_at=stored.created_at,
        state=stored.state,
        next_attempt_at=stored.next_attempt_at,
        attempts=stored.attempts,
        listener=session.listener,
        tls_version=session.tls.version if session.tls else None,
    )
