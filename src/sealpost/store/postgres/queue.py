"""The queue on PostgreSQL: spool, leases and attempts, the operator's view
(``contracts.queue``) and the wake-up of other nodes (``contracts.wakeups``).

``enqueue_batch`` writes every message of a transmission, its idempotency record and its
documents in ONE transaction (checklist K10). Claims take due messages with
``FOR UPDATE SKIP LOCKED``, so nodes never wait on each other's rows nor lease the same
message twice; each lease carries this node's id and expires, after which another node takes
the message over (security checklist K11). The rows written and read back are built by
``store.queue_rows``, as on SQLite; what is PostgreSQL's own is in ``ops`` and ``sql``.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from functools import partial

import asyncpg

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
from sealpost.store import codec, queue_rows
from sealpost.store.postgres import ops, sql
from sealpost.store.postgres.database import Database


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
        report_mark: bool = False,
    ) -> None:
        new = queue_rows.new_message(
            message_id, message, now, events, state=state, report_mark=report_mark
        )
        op = partial(ops.insert_message, new=new)
        await self._write(op, events=bool(new.events), notify=state == "queued")

    async def enqueue_batch(
        self,
        items: Sequence[Submitted],
        now: float,
        *,
        not_before: float | None = None,
        idempotency: IdempotencyRecord | None = None,
        documents: Sequence[Document] = (),
    ) -> None:
        batch = queue_rows.new_batch(
            items, now, not_before=not_before, idempotency=idempotency, documents=documents
        )
        op = partial(ops.insert_batch, batch=batch)
        await self._write(op, events=batch.has_events, notify=batch.queued)

    # --- IdempotencyStore -------------------------------------------------------------------
    async def get_idempotency(self, key: str) -> IdempotencyRecord | None:
        row = await self._read(lambda c: c.fetchrow(sql.SELECT_IDEMPOTENCY, key))
        return None if row is None else codec.idempotency_record(tuple(row))

    # --- DeliveryQueue ----------------------------------------------------------------------
    async def claim_due(self, now: float, limit: int, lease: float) -> list[Claim]:
        if limit <= 0:
            return []
        op = partial(ops.claim, now=now, limit=limit, until=now + lease, node_id=self.lease_owner)
        leased = await self._write(op)
        return queue_rows.claims(
            (token, now + lease, row, recipients, facts) for token, row, recipients, facts in leased
        )

    async def record_attempt(
        self,
        claim: Claim,
        results: Sequence[RecipientResult],
        next_attempt_at: float,
        events: Sequence[EventRecord] = (),
        tls_tallies: Sequence[TlsTally] = (),
    ) -> None:
        attempt = queue_rows.attempt_write(claim, results, next_attempt_at, events, tls_tallies)
        await self._write(partial(ops.record_attempt, attempt=attempt), events=bool(events))

    async def release(self, claim: Claim) -> None:
        """Drop the lease if it is still ours; a lease already taken over is left alone."""

        async def release(conn: asyncpg.Connection) -> None:
            await conn.execute(sql.RELEASE_LEASE, claim.message.id, claim.token)

        await self._write(release)

    async def release_all_leases(self) -> int:
        """Drop the leases THIS node holds (its ``node_id``, every worker's), its per-domain
        slots too; other nodes' stay, and are taken over by ``claim_due`` once they expire."""

        async def release_node(conn: asyncpg.Connection) -> int:
            await conn.execute(sql.RELEASE_NODE_DOMAIN_SLOTS, self.node_id)
            return ops.changed(await conn.execute(sql.RELEASE_NODE_LEASES, self.node_id))

        released: int = await self._write(release_node)
        return released

    async def release_own_leases(self) -> int:
        """Drop the leases and domain slots of this store's lease owner (one worker, or the
        node when it runs as one process)."""

        async def release_mine(conn: asyncpg.Connection) -> int:
            await conn.execute(sql.RELEASE_OWNER_DOMAIN_SLOTS, self.lease_owner)
            return ops.changed(await conn.execute(sql.RELEASE_OWNER_LEASES, self.lease_owner))

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

    async def list_report_marked(
        self, *, limit: int = 100, after: str | None = None
    ) -> builtins.list[str]:
        rows = await self._read(
            lambda conn: conn.fetch(sql.SELECT_REPORT_MARKED, after or "", max(limit, 0))
        )
        return [row[0] for row in rows]

    async def count(self) -> dict[str, int]:
        rows = await self._read(lambda conn: conn.fetch(sql.COUNT_BY_STATE))
        return queue_rows.state_counts(rows)

    async def retry_now(self, message_id: str, now: float) -> bool:
        async def retry(conn: asyncpg.Connection) -> bool:
            return ops.changed(await conn.execute(sql.RETRY_NOW, now, message_id)) > 0

        changed: bool = await self._write(retry, notify=True)
        return changed

    async def cancel(self, message_id: str) -> bool:
        cancelled: bool = await self._write(partial(ops.cancel, message_id=message_id))
        return cancelled
