"""The SQLite store's write and read operations, each run on a connection inside a transaction.

Every function here is handed a connection by ``writer`` (writes, inside the batch
transaction and the operation's SAVEPOINT) or by the read pool (reads, inside one snapshot).
Per-recipient outcomes are written in place in the same transaction as the message's attempt
count and lease release (security checklist K6).
"""

from __future__ import annotations

import secrets
import sqlite3

from sealpost.model.queue import MessageState, StoredRecipient
from sealpost.store import codec
from sealpost.store.attempts import apply_results, state_after
from sealpost.store.claim_facts import CLAIM_ROUNDS, ClaimFacts
from sealpost.store.errors import DuplicateError, LeaseLostError
from sealpost.store.queue_rows import AttemptWrite, NewBatch, NewMessage, recipient_updates
from sealpost.store.sqlite import admin_sql, sql


def insert_message(conn: sqlite3.Connection, *, new: NewMessage) -> None:
    try:
        conn.execute(sql.INSERT_MESSAGE, new.row)
    except sqlite3.IntegrityError as exc:
        raise DuplicateError(f"message {new.row[0]} already exists") from exc
    conn.executemany(sql.INSERT_RECIPIENT, new.recipients)
    if new.report_mark:
        conn.execute(sql.INSERT_REPORT_MARK, (new.row[0],))
    insert_events(conn, rows=new.events)


def insert_batch(conn: sqlite3.Connection, *, batch: NewBatch) -> None:
    """A transmission: every message, its idempotency record and its documents, all or
    nothing (checklist K10). ``DuplicateError`` when the idempotency key is taken."""
    if batch.idempotency is not None:
        try:
            conn.execute(sql.INSERT_IDEMPOTENCY, batch.idempotency)
        except sqlite3.IntegrityError as exc:
            key = batch.idempotency[0]
            raise DuplicateError(f"idempotency key {key!r} already used") from exc
    for new in batch.messages:
        insert_message(conn, new=new)
    if batch.documents:
        conn.executemany(sql.UPSERT_DOCUMENT, batch.documents)


def insert_events(conn: sqlite3.Connection, *, rows: tuple[codec.MessageRow, ...]) -> None:
    if rows:
        conn.executemany(sql.INSERT_EVENT, rows)


def select_message(
    conn: sqlite3.Connection, *, message_id: str
) -> tuple[codec.MessageRow, list[codec.MessageRow]] | None:
    row = conn.execute(sql.SELECT_MESSAGE, (message_id,)).fetchone()
    if row is None:
        return None
    return row, conn.execute(sql.SELECT_RECIPIENTS, (message_id,)).fetchall()


def claim(
    conn: sqlite3.Connection, *, now: float, limit: int, until: float, owner: str = ""
) -> list[tuple[str, float, codec.MessageRow, list[codec.MessageRow], ClaimFacts]]:
    """Lease up to ``limit`` due messages, each token starting with ``owner`` (a worker's
    prefix, so that worker's leases can be released alone). Under a suspension
    (``model.queue_admin``) a message whose queued recipients are all at suspended domains
    is parked instead, without an attempt, and the walk goes on (at most ``CLAIM_ROUNDS``
    times) for others."""
    suspended = {
        s.domain: s.park_until(now)
        for s in map(codec.suspension, conn.execute(admin_sql.SELECT_SUSPENSIONS, (now,)))
    }
    leased: list[tuple[str, float, codec.MessageRow, list[codec.MessageRow], ClaimFacts]] = []
    for _ in range(CLAIM_ROUNDS if suspended else 1):
        rowids = [row[0] for row in conn.execute(sql.SELECT_DUE, (now, now, limit - len(leased)))]
        for rowid in rowids:
            token = owner + secrets.token_hex(16)
            message_id, mark = conn.execute(sql.SET_LEASE, (token, until, rowid)).fetchone()
            facts = ClaimFacts(bounce=mark == "bounce")
            if suspended and not facts.bounce:
                queued_at = conn.execute(admin_sql.SELECT_QUEUED_DOMAINS, (message_id,))
                facts = ClaimFacts.of({row[0] for row in queued_at}, suspended)
                if facts.parked:  # lease dropped, no attempt counted
                    conn.execute(admin_sql.PARK_ROWID, (facts.suspended_until, rowid))
                    continue
            selected = select_message(conn, message_id=message_id)
            assert selected is not None  # same transaction as the SELECT_DUE above
            leased.append((token, until, *selected, facts))
        if len(rowids) == 0 or len(leased) >= limit:
            break
    return leased


def record_attempt(conn: sqlite3.Connection, *, attempt: AttemptWrite) -> None:
    message_id = attempt.message_id
    row = conn.execute(sql.SELECT_LEASE, (message_id,)).fetchone()
    if row is None or row[1] != attempt.token:
        raise LeaseLostError(f"lease on {message_id} was lost")
    state: MessageState = row[0]
    before = [StoredRecipient(*r) for r in conn.execute(sql.SELECT_RECIPIENTS, (message_id,))]
    after = apply_results(before, attempt.results)
    conn.executemany(sql.UPDATE_RECIPIENT, recipient_updates(message_id, before, after))
    finish = (state_after(state, after), attempt.next_attempt_at, message_id)
    conn.execute(sql.FINISH_ATTEMPT, finish)
    insert_events(conn, rows=attempt.events)
    if attempt.tallies:  # TLS-RPT counts, in the attempt's own transaction
        conn.executemany(sql.UPSERT_TLS_TALLY, attempt.tallies)


def cancel(conn: sqlite3.Connection, *, message_id: str) -> bool:
    if conn.execute(sql.CANCEL_MESSAGE, (message_id,)).rowcount == 0:
        return False
    conn.execute(sql.CANCEL_RECIPIENTS, (message_id,))
    return True


def insert_key(conn: sqlite3.Connection, *, row: codec.MessageRow) -> None:
    try:
        conn.execute(sql.INSERT_KEY, row)
    except sqlite3.IntegrityError as exc:
        raise DuplicateError(f"API key id {row[0]} already exists") from exc


def put_webhook_state(
    conn: sqlite3.Connection, *, state: codec.MessageRow, statuses: list[codec.MessageRow]
) -> None:
    """The webhook's row and its whole history, replaced in one transaction. The history is
    short (``WorkerSettings.status_limit`` entries at most), so it is rewritten, not diffed."""
    conn.execute(sql.UPSERT_WEBHOOK_STATE, state)
    conn.execute(sql.DELETE_BATCH_STATUS, (state[0],))
    conn.executemany(sql.INSERT_BATCH_STATUS, statuses)


def select_webhook_state(
    conn: sqlite3.Connection, *, webhook_id: str
) -> tuple[codec.MessageRow, list[codec.MessageRow]] | None:
    row = conn.execute(sql.SELECT_WEBHOOK_STATE, (webhook_id,)).fetchone()
    if row is None:
        return None
    return row, conn.execute(sql.SELECT_BATCH_STATUS, (webhook_id,)).fetchall()


def delete_webhook_state(conn: sqlite3.Connection, *, webhook_id: str) -> bool:
    conn.execute(sql.DELETE_BATCH_STATUS, (webhook_id,))
    return conn.execute(sql.DELETE_WEBHOOK_STATE, (webhook_id,)).rowcount > 0
