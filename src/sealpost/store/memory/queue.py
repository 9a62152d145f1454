"""The queue in memory (``contracts.queue``): same semantics as ``store.sqlite.queue``.

Every method completes without yielding, so calls never interleave: a batch is checked in
full before anything is written, which makes it all or nothing as a transaction would. The
queue writes the events and documents of its changes, so it sits on the event stream and
the records.
"""

from __future__ import annotations

import builtins
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, replace

from sealpost.model.document import Document
from sealpost.model.envelope import InboundMessage
from sealpost.model.events import EventRecord
from sealpost.model.idempotency import IdempotencyRecord
from sealpost.model.queue import (
    MESSAGE_STATES,
    Claim,
    InitialState,
    MessageState,
    MessageSummary,
    RecipientResult,
    StoredMessage,
    StoredRecipient,
    Submitted,
)
from sealpost.model.queue_admin import Suspension
from sealpost.model.tlsrpt_report import TlsTally
from sealpost.store.attempts import apply_results, cancelled, state_after
from sealpost.store.claim_facts import ClaimFacts
from sealpost.store.codec import claim as codec_claim
from sealpost.store.errors import DuplicateError, LeaseLostError, StoreError
from sealpost.store.local_wakeups import LocalWakeups
from sealpost.store.memory.events import MemoryEvents
from sealpost.store.memory.records import MemoryRecords
from sealpost.store.memory.tls_reports import MemoryTlsReports


@dataclass(slots=True)
class _Entry:
    """One queued message plus its lease, which ``StoredMessage`` does not show."""

    stored: StoredMessage
    lease_token: str | None = None
    lease_until: float | None = None
    admin_mark: str | None = None  # 'hold' or 'bounce' (model.queue_admin)


class MemoryQueue(MemoryEvents, MemoryRecords, MemoryTlsReports):
    """``Spool``, ``DeliveryQueue``, ``QueueControl``, ``IdempotencyStore`` in dicts, and
    ``QueueWakeups`` on an ``asyncio.Event``; it sits on the TLS-RPT tallies too, which
    ``record_attempt`` adds to (``memory.tls_reports``)."""

    def __init__(self) -> None:
        MemoryEvents.__init__(self)
        MemoryRecords.__init__(self)
        MemoryTlsReports.__init__(self)
        self._messages: dict[str, _Entry] = {}
        self._report_marks: set[str] = set()  # held mail that may be a TLS-RPT report
        self._idempotency: dict[str, IdempotencyRecord] = {}
        self._suspensions: dict[str, Suspension] = {}
        self._mail_queued = LocalWakeups()  # QueueWakeups: enqueue and retry_now notify

    # --- Spool ------------------------------------------------------------------------------
    async def enqueue(
        self,
        message_id: str,
        message: InboundMessage,
        now: float,
        events: Sequence[EventRecord] = (),
        *,
        state: InitialState = "queued",
        report_mark: bool = False,
    ) -> None:
        if not message.envelope.recipients:
            raise StoreError("a message needs at least one recipient")
        if message_id in self._messages:
            raise DuplicateError(f"message {message_id} already exists")
        self._insert(message_id, message, now, now, events, state, report_mark)

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
        due = now if not_before is None else not_before
        for item in items:  # checks passed: nothing below can fail half way
            self._insert(
                item.message_id, item.message, now, due, item.events, item.state, item.report_mark
            )
        if idempotency is not None:
            self._idempotency[idempotency.key] = idempotency
        for document in documents:
            self._documents[(document.kind, document.id)] = replace(
                document, updated_at=document.updated_at or now
            )

    def _insert(
        self,
        message_id: str,
        message: InboundMessage,
        now: float,
        due: float,
        events: Sequence[EventRecord],
        state: InitialState,
        report_mark: bool = False,
    ) -> None:
        recipients = tuple(StoredRecipient(a, "queued") for a in message.envelope.recipients)
        stored = StoredMessage(
            id=message_id,
            message=message,
            created_at=now,
            state=state,
            next_attempt_at=due,
            attempts=0,
            recipients=recipients,
        )
        self._messages[message_id] = _Entry(stored)
        if report_mark:
            self._report_marks.add(message_id)
        self._append(events)
        if state == "queued":
            self._mail_queued.notify()

    # --- QueueWakeups -----------------------------------------------------------------------
    async def wait_for_mail(self, timeout: float) -> bool:
        return await self._mail_queued.wait(timeout)

    # --- IdempotencyStore -------------------------------------------------------------------
    async def get_idempotency(self, key: str) -> IdempotencyRecord | None:
        return self._idempotency.get(key)

    # --- DeliveryQueue ----------------------------------------------------------------------
    async def claim_due(self, now: float, limit: int, lease: float) -> list[Claim]:
        due = [
            entry
            for entry in self._messages.values()
            if entry.stored.state == "queued"
            and entry.stored.next_attempt_at <= now
            and (entry.lease_until is None or entry.lease_until < now)
        ]
        due.sort(key=lambda e: (e.stored.next_attempt_at, e.stored.id))
        suspended = {
            s.domain: s.park_until(now)
            for s in self._suspensions.values()
            if s.until is None or s.until > now
        }
        claims: list[Claim] = []
        for entry in due:
            if len(claims) >= max(limit, 0):
                break
            facts = ClaimFacts(bounce=entry.admin_mark == "bounce")
            if suspended and not facts.bounce:
                queued_at = {
                    r.address.rpartition("@")[2].lower()
                    for r in entry.stored.recipients
                    if r.status == "queued"
                }
                facts = ClaimFacts.of(queued_at, suspended)
                if facts.parked:  # no attempt counted: it waits for the suspension's end
                    entry.stored = replace(entry.stored, next_attempt_at=facts.suspended_until)
                    continue
            entry.lease_token = secrets.token_hex(16)
            entry.lease_until = now + lease
            claims.append(codec_claim(entry.stored, entry.lease_token, entry.lease_until, facts))
        return claims

    async def record_attempt(
        self,
        claim: Claim,
        results: Sequence[RecipientResult],
        next_attempt_at: float,
        events: Sequence[EventRecord] = (),
        tls_tallies: Sequence[TlsTally] = (),
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
        self._add_tallies(tls_tallies)

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

    async def release_own_leases(self) -> int:
        return await self.release_all_leases()  # one process's memory: one owner

    def _leased(self, claim: Claim) -> _Entry:
        entry = self._messages.get(claim.message.id)
        if entry is None or entry.lease_token != claim.token:
            raise LeaseLostError(f"lease on {claim.message.id} was lost")
        return entry

    # --- QueueControl -----------------------------------------------------------------------
    async def get(self, message_id: str) -> StoredMessage | None:
        entry = self._messages.get(message_id)
        return None if entry is None else entry.stored

    async def list(
        self, *, state: MessageState | None = None, limit: int = 100, after: str | None = None
    ) -> builtins.list[MessageSummary]:
        rows: builtins.list[MessageSummary] = []
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

    async def list_report_marked(
        self, *, limit: int = 100, after: str | None = None
    ) -> builtins.list[str]:
        marked = sorted(
            m
            for m in self._report_marks
            if (after is None or m > after) and self._messages[m].stored.state == "held"
        )
        return marked[: max(limit, 0)]

    async def count(self) -> dict[str, int]:
        counts = dict.fromkeys(MESSAGE_STATES, 0)
        for entry in self._messages.values():
            counts[entry.stored.state] += 1
        return counts

    async def retry_now(self, message_id: str, now: float) -> bool:
        entry = self._messages.get(message_id)
        if entry is None or entry.stored.state not in ("queued", "held"):
            return False
        entry.stored = replace(entry.stored, state="queued", next_attempt_at=now)
        self._mail_queued.notify()
        return True

    async def cancel(self, message_id: str) -> bool:
        entry = self._messages.get(message_id)
        if entry is None or entry.stored.state not in ("queued", "held"):
            return False
        stored = entry.stored
        entry.stored = replace(stored, state="cancelled", recipients=cancelled(stored.recipients))
        return True


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
