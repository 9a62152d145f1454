"""The PostgreSQL store's multi-statement operations, each run on a connection in a transaction.

Every function here is handed a connection by ``writer`` (writes, inside the batch
transaction and the operation's SAVEPOINT) or by ``Database._read`` (reads, inside one
snapshot). Per-recipient outcomes are written in place in the same transaction as the
message's attempt count and lease release (security checklist K6).
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from sealpost.model.queue import MessageState, StoredRecipient
from sealpost.store import codec
from sealpost.store.attempts import apply_results, state_after
from sealpost.store.claim_facts import CLAIM_ROUNDS, ClaimFacts
from sealpost.store.errors import DuplicateError, LeaseLostError
from sealpost.store.postgres import admin_sql, sql
from sealpost.store.queue_rows import AttemptWrite, NewBatch, NewMessage, recipient_updates


async def insert_message(conn: asyncpg.Connection, *, new: NewMessage) -> None:
    try:
        await conn.execute(sql.INSERT_MESSAGE, *new.row)
    except asyncpg.UniqueViolationError as exc:
        raise DuplicateError(f"message {new.row[0]} already exists") from exc
    await conn.executemany(sql.INSERT_RECIPIENT, new.recipients)
    if new.report_mark:
        await conn.execute(sql.INSERT_REPORT_MARK, new.row[0])
    await insert_events(conn, rows=new.events)


async def insert_batch(conn: asyncpg.Connection, *, batch: NewBatch) -> None:
    """A transmission: every message, its idempotency record and its documents, all or
    nothing (checklist K10). ``DuplicateError`` when the idempotency key is taken."""
    if batch.idempotency is not None:
        try:
            await conn.execute(sql.INSERT_IDEMPOTENCY, *batch.idempotency)
        except asyncpg.UniqueViolationError as exc:
            key = batch.idempotency[0]
            raise DuplicateError(f"idempotency key {key!r} already used") from exc
    try:
        await conn.executemany(sql.INSERT_MESSAGE, [new.row for new in batch.messages])
    except asyncpg.UniqueViolationError as exc:
        raise DuplicateError("a message id of the batch already exists") from exc
    await conn.executemany(sql.INSERT_RECIPIENT, [r for m in batch.messages for r in m.recipients])
    marked = [(m.row[0],) for m in batch.messages if m.report_mark]
    if marked:
        await conn.executemany(sql.INSERT_REPORT_MARK, marked)
    await insert_events(conn, rows=[e for m in batch.messages for e in m.events])
    if batch.documents:
        await conn.executemany(sql.UPSERT_DOCUMENT, batch.documents)


async def insert_events(conn: asyncpg.Connection, *, rows: Sequence[codec.MessageRow]) -> None:
    if rows:
        await conn.executemany(sql.INSERT_EVENT, rows)


async def select_message(
    conn: asyncpg.Connection, *, message_id: str
) -> tuple[codec.MessageRow, list[codec.MessageRow]] | None:
    row = await conn.fetchrow(sql.SELECT_MESSAGE, message_id)
    if row is None:
        return None
    return tuple(row), [tuple(r) for r in await conn.fetch(sql.SELECT_RECIPIENTS, message_id)]


async def claim(
    conn: asyncpg.Connection, *, now: float, limit: int, until: float, node_id: str
) -> list[tuple[str, codec.MessageRow, list[codec.MessageRow], ClaimFacts]]:
    """Lease up to ``limit`` due messages for ``node_id``: (token, message row, recipient
    rows, facts) in due order. Under a suspension (``model.queue_admin``) a message whose
    queued recipients are all at suspended domains is parked instead (lease dropped, due at
    the suspension's end, no attempt counted), and the claim goes on for others."""
    suspended = {
        s.domain: s.park_until(now)
        for s in map(codec.suspension, await conn.fetch(admin_sql.SELECT_SUSPENSIONS, now))
    }
    kept: list[tuple[asyncpg.Record, ClaimFacts]] = []
    for _ in range(CLAIM_ROUNDS if suspended else 1):
        leased = await conn.fetch(sql.CLAIM_DUE, now, limit - len(kept), until, node_id)
        domains: dict[str, set[str]] = {row["id"]: set() for row in leased}
        if suspended and leased:
            for mid, domain in await conn.fetch(admin_sql.SELECT_QUEUED_DOMAINS, list(domains)):
                domains[mid].add(domain)
        for row in leased:
            facts = ClaimFacts(bounce=row["admin_mark"] == "bounce")
            if suspended and not facts.bounce:
                facts = ClaimFacts.of(domains[row["id"]], suspended)
                if facts.parked:
                    await conn.execute(admin_sql.PARK_CLAIMED, row["id"], facts.suspended_until)
                    continue
            kept.append((row, facts))
        if not leased or len(kept) >= limit:
            break
    if not kept:
        return []
    ids = [row["id"] for row, _ in kept]
    recipients: dict[str, list[codec.MessageRow]] = {mid: [] for mid in ids}
    for r in await conn.fetch(sql.SELECT_RECIPIENTS_OF, ids):
        recipients[r[0]].append(tuple(r)[1:])
    kept.sort(key=lambda pair: (pair[0]["next_attempt_at"], pair[0]["id"]))
    width = 1 + len(sql.MESSAGE_COLUMNS.split(","))
    return [(row[0], tuple(row)[1:width], recipients[row["id"]], facts) for row, facts in kept]


async def record_attempt(conn: asyncpg.Connection, *, attempt: AttemptWrite) -> None:
    message_id = attempt.message_id
    row = await conn.fetchrow(sql.SELECT_LEASE, message_id)
    if row is None or row[1] != attempt.token:
        raise LeaseLostError(f"lease on {message_id} was lost")
    state: MessageState = row[0]
    before = [StoredRecipient(*r) for r in await conn.fetch(sql.SELECT_RECIPIENTS, message_id)]
    after = apply_results(before, attempt.results)
    changed = recipient_updates(message_id, before, after)
    if changed:
        await conn.executemany(sql.UPDATE_RECIPIENT, changed)
    finish = (state_after(state, after), attempt.next_attempt_at, message_id)
    await conn.execute(sql.FINISH_ATTEMPT, *finish)
    await insert_events(conn, rows=attempt.events)
    if attempt.tallies:  # TLS-RPT counts, in the attempt's own transaction (sorted by key)
        await conn.executemany(sql.UPSERT_TLS_TALLY, attempt.tallies)


async def cancel(conn: asyncpg.Connection, *, message_id: str) -> bool:
    if not changed(await conn.execute(sql.CANCEL_MESSAGE, message_id)):
        return False
    await conn.execute(sql.CANCEL_RECIPIENTS, message_id)
    return True


async def put_webhook_state(
    conn: asyncpg.Connection, *, state: codec.MessageRow, statuses: list[codec.MessageRow]
) -> None:
    """The webhook's row and its whole history, replaced in one transaction."""
    await conn.execute(sql.UPSERT_WEBHOOK_STATE, *state)
    await conn.execute(sql.DELETE_BATCH_STATUS, state[0])
    if statuses:
        await conn.executemany(sql.INSERT_BATCH_STATUS, statuses)


async def select_webhook_state(
    conn: asyncpg.Connection, *, webhook_id: str
) -> tuple[codec.MessageRow, list[codec.MessageRow]] | None:
    row = await conn.fetchrow(sql.SELECT_WEBHOOK_STATE, webhook_id)
    if row is None:
        return None
    statuses = await conn.fetch(sql.SELECT_BATCH_STATUS, webhook_id)
    return tuple(row), [tuple(s) for s in statuses]


async def delete_webhook_state(conn: asyncpg.Connection, *, webhook_id: str) -> bool:
    await conn.execute(sql.DELETE_BATCH_STATUS, webhook_id)
    await conn.execute(sql.DELETE_WEBHOOK_LEASE, webhook_id)
    return changed(await conn.execute(sql.DELETE_WEBHOOK_STATE, webhook_id)) > 0


async def lease_webhook(
    conn: asyncpg.Connection, *, webhook_id: str, node: str, now: float, until: float
) -> bool:
    """Take, renew or take over the lease; True when ``node`` holds it after this."""
    holder = await conn.fetchval(sql.LEASE_WEBHOOK, webhook_id, node, until, now)
    return holder is not None


def changed(status: str) -> int:
    """Rows touched, from a command tag such as ``UPDATE 3`` or ``DELETE 0``."""
    return int(status.rsplit(" ", 1)[-1])
