"""The queue on SQLite: spool (single and batch enqueue with its idempotency record),
leases and attempts, and the operator's view (``contracts.queue``).

``enqueue_batch`` writes every message of a transmission, its idempotency record and its
documents in ONE transaction, so a crash between the spool write and the HTTP response can
never leave a key without its messages or messages without their key (checklist K10).
Leases make claims safe: a crashed worker's messages are claimable again once their lease
expires (security checklist K11). The rows written and read back are built by
``store.queue_rows``, as on PostgreSQL; what is SQLite's own is in ``ops`` and ``sql``.
"""

from __future__ import annotations

import builtins
import sqlite3
from collections.abc import Sequence
from functools import partial

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
from sealpost.store.sqlite import ops, sql
from sealpost.store.sqlite.database import Database


class SqliteQueue(Database):
    """``Spool``, ``DeliveryQueue``, ``QueueControl``, ``IdempotencyStore`` and
    ``QueueWakeups`` (in this process: one node per SQLite file)."""

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
        await self._write_mail("insert_message", new=new)
        if state == "queued":
            self._mail_queued.notify()

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
        await self._write_mail("insert_batch", batch=batch)
        if batch.queued:
            self._mail_queued.notify()

    # --- QueueWakeups -----------------------------------------------------------------------
    async def wait_for_mail(self, timeout: float) -> bool:
        return await self._mail_queued.wait(timeout)

    # --- IdempotencyStore -------------------------------------------------------------------
    async def get_idempotency(self, key: str) -> IdempotencyRecord | None:
        row = await self._read(lambda c: c.execute(sql.SELECT_IDEMPOTENCY, (key,)).fetchone())
        return None if row is None else codec.idempotency_record(row)

    # --- DeliveryQueue ----------------------------------------------------------------------
    async def claim_due(self, now: float, limit: int, lease: float) -> list[Claim]:
        if limit <= 0:
            return []
        until = now + lease
        leased = await self._write(
            partial(ops.claim, now=now, limit=limit, until=until, owner=self.lease_prefix)
        )
        return queue_rows.claims(leased)

    async def record_attempt(
        self,
        claim: Claim,
        results: Sequence[RecipientResult],
        next_attempt_at: float,
        events: Sequence[EventRecord] = (),
        tls_tallies: Sequence[TlsTally] = (),
    ) -> None:
        attempt = queue_rows.attempt_write(claim, results, next_attempt_at, events, tls_tallies)
        await self._write(partial(ops.record_attempt, attempt=attempt))

    async def release(self, claim: Claim) -> None:
        """Drop the lease if it is still ours; a lease already taken over is left alone."""
        params = (claim.message.id, claim.token)

        def release(conn: sqlite3.Connection) -> None:
            conn.execute(sql.RELEASE_LEASE, params)

        await self._write(release)

    async def release_all_leases(self) -> int:
        def release_all(conn: sqlite3.Connection) -> int:
            return conn.execute(sql.RELEASE_ALL_LEASES).rowcount

        released: int = await self._write(release_all)
        return released

    async def release_own_leases(self) -> int:
        if not self.lease_prefix:  # one process: every lease on the file is its own
            return await self.release_all_leases()
        prefix = self.lease_prefix

        def release_mine(conn: sqlite3.Connection) -> int:
            return conn.execute(sql.RELEASE_PREFIXED_LEASES, (prefix,)).rowcount

        released: int = await self._write(release_mine)
        return released

    # --- QueueControl -----------------------------------------------------------------------
    async def get(self, message_id: str) -> StoredMessage | None:
        rows = await self._read(partial(ops.select_message, message_id=message_id))
        return None if rows is None else codec.stored_message(*rows)

    async def list(
        self, *, state: MessageState | None = None, limit: int = 100, after: str | None = None
    ) -> builtins.list[MessageSummary]:
        query = sql.list_query(state=state is not None, after=after is not None)
        params = [p for p in (state, after) if p is not None] + [max(limit, 0)]
        rows = await self._read(lambda conn: conn.execute(query, params).fetchall())
        return [codec.summary(row) for row in rows]

    async def list_report_marked(
        self, *, limit: int = 100, after: str | None = None
    ) -> builtins.list[str]:
        rows = await self._read(
            lambda conn: conn.execute(
                sql.SELECT_REPORT_MARKED, (after or "", max(limit, 0))
            ).fetchall()
        )
        return [row[0] for row in rows]

    async def count(self) -> dict[str, int]:
        rows = await self._read(lambda conn: conn.execute(sql.COUNT_BY_STATE).fetchall())
        return queue_rows.state_counts(rows)

    async def retry_now(self, message_id: str, now: float) -> bool:
        def retry(conn: sqlite3.Connection) -> bool:
            return conn.execute(sql.RETRY_NOW, (now, message_id)).rowcount > 0

        changed: bool = await self._write(retry)
        if changed:
            self._mail_queued.notify()
        return changed

    async def cancel(self, message_id: str) -> bool:
        cancelled: bool = await self._write(partial(ops.cancel, message_id=message_id))
        return cancelled
