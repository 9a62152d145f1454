"""The durable queue's contracts, one per kind of caller.

RFC 5321 section 6.1: once we answer ``250`` to the final dot we own the message and "MUST
NOT lose" it, so ``Spool.enqueue`` and ``Spool.enqueue_batch`` return only after the
messages and all of their recipients are committed and on stable storage (fsync).

- ``Spool``: the submission door puts mail in (with the ``Idempotency-Key`` record of an API
  transmission in the same transaction: checklist K10).
- ``DeliveryQueue``: the dispatcher leases due mail and records each attempt (K6, K11).
- ``QueueControl``: the operator (CLI, API) looks at, cancels, retries and releases mail.

A message is stored ``queued`` (the dispatcher's) or ``held`` (mail that stays here: never
claimed until ``retry_now`` releases it); see ``model.queue``.
- ``IdempotencyStore``: the API finds what a repeated ``Idempotency-Key`` produced.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import Protocol

from sealpost.model.document import Document
from sealpost.model.envelope import InboundMessage
from sealpost.model.events import EventRecord
from sealpost.model.idempotency import IdempotencyRecord
from sealpost.model.queue import (
    Claim,
    InitialState,
    MessageState,
    MessageSummary,
    RecipientResult,
    StoredMessage,
    Submitted,
)
from sealpost.model.tlsrpt_report import TlsTally


class Spool(Protocol):
    """Where new mail goes in; both methods are durable on return."""

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
        """Store the message (in ``state``), its recipients and ``events`` in one
        transaction, fsynced, before returning. ``report_mark``: the door found the marks of
        a TLS-RPT report on it (``submission.report_mark``); the mark is committed in the
        same transaction and ``QueueControl.list_report_marked`` finds it."""

    async def enqueue_batch(
        self,
        items: Sequence[Submitted],
        now: float,
        *,
        not_before: float | None = None,
        idempotency: IdempotencyRecord | None = None,
        documents: Sequence[Document] = (),
    ) -> None:
        """Store every message (each in its ``Submitted.state``, with its ``report_mark``, due
        at ``not_before`` or now), the idempotency record and the documents in ONE
        transaction, fsynced; all or
        nothing. ``DuplicateError`` when the idempotency key is already recorded (nothing is
        written then)."""


class DeliveryQueue(Protocol):
    """Leases on due mail and the record of each delivery attempt."""

    async def claim_due(self, now: float, limit: int, lease: float) -> list[Claim]:
        """Lease up to ``limit`` queued messages whose next attempt is due (never a held
        one), oldest due first; a message whose lease expired (its holder crashed) counts
        as not leased."""

    async def record_attempt(
        self,
        claim: Claim,
        results: Sequence[RecipientResult],
        next_attempt_at: float,
        events: Sequence[EventRecord] = (),
        tls_tallies: Sequence[TlsTally] = (),
    ) -> None:
        """Durably record per-recipient outcomes, ``events`` and the attempt's TLS-RPT
        ``tls_tallies`` (summed as ``TlsReportStore.add_tls_tallies`` does) in one
        transaction and release the lease; a message whose recipients are all final becomes
        ``done``. ``LeaseLostError`` when the lease was taken over (nothing is written then)."""

    async def release(self, claim: Claim) -> None:
        """Give a lease back unchanged (shutdown)."""

    async def release_all_leases(self) -> int:
        """Drop every lease THIS node holds, every worker's (a node starting up: whatever it
        held before a crash is due again at once, as Postfix moves ``active`` back to
        ``incoming``); returns how many. On a single-node backend every lease is this
        node's; on PostgreSQL only those carrying this node's id: another node's leases
        stay until they expire, and ``claim_due`` then takes them over."""

    async def release_own_leases(self) -> int:
        """Drop the leases of this store's lease owner only (``open_store(worker=...)``: one
        worker of the node, whose seat a restarted worker takes; without a worker, the whole
        node, as ``release_all_leases``); returns how many. The other workers' leases stay."""


class QueueControl(Protocol):
    """What an operator does to queued mail."""

    async def get(self, message_id: str) -> StoredMessage | None: ...

    async def list(
        self, *, state: MessageState | None = None, limit: int = 100, after: str | None = None
    ) -> builtins.list[MessageSummary]:
        """Messages ordered by id (arrival); ``after`` pages past an id."""

    async def list_report_marked(
        self, *, limit: int = 100, after: str | None = None
    ) -> builtins.list[str]:
        """Ids of the ``held`` messages stored with ``report_mark`` (the TLS-RPT intake's
        reading list), ordered by id, past ``after``, at most ``limit``; a marked message
        that is no longer held is left out."""

    async def count(self) -> dict[str, int]:
        """Number of messages per state, every state named (0 when none)."""

    async def cancel(self, message_id: str) -> bool:
        """Cancel a queued or held message; False when there is no such message."""

    async def retry_now(self, message_id: str, now: float) -> bool:
        """Make a queued message due at ``now``, or release a held one (``queued``, due at
        ``now``); False when there is no such queued or held message."""


class IdempotencyStore(Protocol):
    """The records ``Spool.enqueue_batch`` commits with the messages they created."""

    async def get_idempotency(self, key: str) -> IdempotencyRecord | None: ...


class QueueStore(Spool, DeliveryQueue, QueueControl, IdempotencyStore, Protocol):
    """The whole queue, as a backend provides it."""
