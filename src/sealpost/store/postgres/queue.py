"""The queue on PostgreSQL: spool, leases and attempts, the operator's view
(``contracts.queue``) and the wake-up of other nodes (``contracts.wakeups``).

``enqueue_batch`` writes every message of a transmission, its idempotency record and its
documents in ONE transaction (checklist K10). Claims take due messages with
``FOR UPDATE SKIP LOCKED``, so nodes never wait on each other's rows nor lease the same
message twice; each lease carries this node's id and expires, after which another node takes
the message over (security checklist K11).
"""

from __future__ import annotations

import builtins
import logging
from collections.abc import Sequence
from functools import partial

import asyncpg

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
    Submitted,
)
from sealpost.store import codec
from sealpost.store.errors import StoreError
from sealpost.store.postgres import ops, sql
from sealpost.store.postgres.database import Database

log = logging.getLogger("sealpost.store.postgres")


class PostgresQueue(Database):
    """``Spool``, ``DeliveryQueue``, ``QueueControl``, ``IdempotencyStore``."""

    # --- Spool ------------------------------------------------------------------------------
    async def enqueue(
        self,
        message_id: str,
        message: InboundMessage,
        now: float,
        events: Sequence[EventRecord] = (),
        *,
        state: InitialState = "queued",
    ) -> None:
        if not message.envelope.recipients:
            raise StoreError("a message needs at least one recipient")
        op = partial(
            ops.insert_message,
            row=codec.message_row(message_id, message, now, state=state),
            recipients=codec.recipient_rows(message_id, message),
            events=tuple(codec.event_row(e) for e in events),
        )
        await self._write(op, events=bool(events), notify=state == "queued")

    async def enqueue_batch(
        self,
        items: Sequence[Submitted],
        now: float,
        *,
        not_before: float | None = None,
        idempotency: IdempotencyRecord | None = None,
        documents: Sequence[Document] = (),
    ) -> None:
        due = now if not_before is None else not_before
        messages: list[ops.MessageRows] = []
        for item in items:
            if not item.message.envelope.recipients:
                raise StoreError("a message needs at least one recipient")
            row = codec.message_row(item.message_id, item.message, now, due=due, state=item.state)
            messages.append(
                (
                    row,
                    codec.recipient_rows(item.message_id, item.message),
                    tuple(codec.event_row(e) for e in item.events),
                )
            )
        op = partial(
            ops.insert_batch,
            messages=messages,
            idempotency=None if idempotency is None else codec.idempotency_row(idempotency),
            documents=[codec.document_row(d, d.updated_at or now) for d in documents],
        )
        has_events = any(item.events for item in items)
        queued = any(item.state == "queued" for item in items)
        await self._write(op, events=has_events, notify=queued)

    # --- IdempotencyStore -------------------------------------------------------------------
    async def get_idempotency(self, key: str) -> IdempotencyRecord | None:
        row = await self._read(lambda c: c.fetchrow(sql.SELECT_IDEMPOTENCY, key))
        return None if row is None else codec.idempotency_record(tuple(row))

    # --- DeliveryQueue ----------------------------------------------------------------------
    async def claim_due(self, now: float, limit: int, lease: float) -> list[Claim]:
        if limit <= 0:
            return []
        op = partial(ops.claim, now=now, limit=limit, until=now + lease, node_id=self.node_id)
        leased = await self._write(op)
        claims: list[Claim] = []
        for token, row, recipients, facts in leased:
            try:
                stored = codec.stored_message(row, recipients)
                claims.append(codec.claim(stored, token, now + lease, facts))
            except StoreError as exc:  # stays leased, so it cannot block the queue head
                log.error("skipping unreadable queued message: %s", exc)
        return claims

    async def record_attempt(
        self,
        claim: Claim,
        results: Sequence[RecipientResult],
        next_attempt_at: float,
        events: Sequence[EventRecord] = (),
    ) -> None:
        op = partial(
            ops.record_attempt,
            message_id=claim.message.id,
            token=claim.token,
            results=tuple(results),
            next_attempt_at=next_attempt_at,
            events=tuple(codec.event_row(e) for e in events),
        )
        await self._write(op, events=bool(events))

    async def release(self, claim: Claim) -> None:
        """Drop the lease if it is still ours; a lease already taken over is left alone."""

        async def release(conn: asyncpg.Connection) -> None:
            await conn.execute(sql.RELEASE_LEASE, claim.message.id, claim.token)

        await self._write(release)

    async def release_all_leases(self) -> int:
        """Drop the leases THIS node holds (its ``node_id``), its per-domain slots too; other
        nodes' stay, and are taken over by ``claim_due`` once they expire."""

        async def release_mine(conn: asyncpg.Connection) -> int:
            await conn.execute(sql.RELEASE_NODE_DOMAIN_SLOTS, self.node_id)
            return ops.changed(await conn.execute(sql.RELEASE_NODE_LEASES, self.node_id))

        released: int = await self._write(release_mine)
        return released

    # --- QueueControl -----------------------------------------------------------------------
    async def get(self, message_id: str) -> StoredMessage | None:
        rows = await self._read(partial(ops.select_message, message_id=message_id))
        return None if rows is None else codec.stored_message(*rows)

    async def list(
        self, *, state: MessageState | None = None, limit: int = 100, after: str | None = None
    ) -> builtins.list[MessageSummary]:
        query, params = sql.list_query(state=state, after=after, limit=max(limit, 0))
        rows = await self._read(lambda conn: conn.fetch(query, *params))
        return [codec.summary(tuple(row)) for row in rows]

    async def count(self) -> dict[str, int]:
        rows = await self._read(lambda conn: conn.fetch(sql.COUNT_BY_STATE))
        counts = dict.fromkeys(MESSAGE_STATES, 0)
        counts.update({state: n for state, n in rows})
        return counts

    async def retry_now(self, message_id: str, now: float) -> bool:
        async def retry(conn: asyncpg.Connection) -> bool:
            return ops.changed(await conn.execute(sql.RETRY_NOW, now, message_id)) > 0

        changed: bool = await self._write(retry, notify=True)
        return changed

    async def cancel(self, message_id: str) -> bool:
        cancelled: bool = await self._write(partial(ops.cancel, message_id=message_id))
        return cancelled
