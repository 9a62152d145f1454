"""SQLite operations behind the HTTP API: batch enqueue with idempotency, documents, and
event search. A mixin of ``SqliteQueueStore`` (it uses the store's writer and read pool).

``enqueue_batch`` writes every message of a transmission, its idempotency record and its
documents in ONE transaction, so a crash between the spool write and the HTTP response can
never leave a key without its messages or messages without their key (checklist K10).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from sealpost.model.document import Document
from sealpost.model.events import EventQuery, EventRecord
from sealpost.model.idempotency import IdempotencyRecord
from sealpost.model.queue import Submitted
from sealpost.store import sqlite_codec as codec
from sealpost.store.errors import DuplicateError, StoreError
from sealpost.store.sqlite_ops import insert_message

T = TypeVar("T")

INSERT_IDEMPOTENCY = (
    "INSERT INTO idempotency (key, fingerprint, response, created_at) VALUES (?, ?, ?, ?)"
)
SELECT_IDEMPOTENCY = "SELECT key, fingerprint, response, created_at FROM idempotency WHERE key = ?"
UPSERT_DOCUMENT = """INSERT INTO documents (kind, id, payload, updated_at) VALUES (?, ?, ?, ?)
    ON CONFLICT (kind, id) DO UPDATE SET payload = excluded.payload,
    updated_at = excluded.updated_at"""
SELECT_DOCUMENT = "SELECT kind, id, payload, updated_at FROM documents WHERE kind = ? AND id = ?"
SELECT_DOCUMENTS = "SELECT kind, id, payload, updated_at FROM documents WHERE kind = ? ORDER BY id"
DELETE_DOCUMENT = "DELETE FROM documents WHERE kind = ? AND id = ?"
EVENT_COLUMNS = "event_id, type, message_id, rcpt_to, timestamp, fields"

DELAY_NOTICE = "delay_notice"  # the document kind behind DelayNotices


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


def _document(row: tuple[Any, ...]) -> Document:
    kind, doc_id, payload, updated_at = row
    return Document(kind, doc_id, json.loads(payload), updated_at)


def _where(query: EventQuery, *, paged: bool) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []

    def any_of(column: str, values: Sequence[str]) -> None:
        if values:
            clauses.append(f"{column} IN ({', '.join('?' * len(values))})")
            params.extend(values)

    any_of("type", query.types)
    any_of("message_id", query.message_ids)
    any_of("rcpt_to", [r.lower() for r in query.recipients])
    any_of("json_extract(fields, '$.transmission_id')", query.transmission_ids)
    any_of("json_extract(fields, '$.campaign_id')", query.campaign_ids)
    if query.from_time is not None:
        clauses.append("timestamp >= ?")
        params.append(query.from_time)
    if query.to_time is not None:
        clauses.append("timestamp <= ?")
        params.append(query.to_time)
    if paged and query.after is not None:
        clauses.append("event_id > ?")
        params.append(query.after)
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


class SqliteApiMixin:
    """Needs ``_write(op)`` and ``_read(op)`` from the store it is mixed into."""

    _write: Callable[..., Any]
    _read: Callable[..., Any]

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
        rows = []
        for item in items:
            if not item.message.envelope.recipients:
                raise StoreError("a message needs at least one recipient")
            row = list(codec.message_row(item.message_id, item.message, now))
            row[2] = due  # next_attempt_at
            rows.append(
                (
                    tuple(row),
                    codec.recipient_rows(item.message_id, item.message),
                    tuple(codec.event_row(e) for e in item.events),
                )
            )
        docs = [(d.kind, d.id, _json(d.payload), d.updated_at or now) for d in documents]
        key_row = None
        if idempotency is not None:
            key_row = (
                idempotency.key,
                idempotency.fingerprint,
                _json(idempotency.response),
                idempotency.created_at,
            )

        def write(conn: sqlite3.Connection) -> None:
            if key_row is not None:
                try:
                    conn.execute(INSERT_IDEMPOTENCY, key_row)
                except sqlite3.IntegrityError as exc:
                    raise DuplicateError(f"idempotency key {key_row[0]!r} already used") from exc
            for row, recipients, events in rows:
                insert_message(conn, row=row, recipients=recipients, events=events)
            if docs:
                conn.executemany(UPSERT_DOCUMENT, docs)

        await self._write(write)

    async def get_idempotency(self, key: str) -> IdempotencyRecord | None:
        row = await self._read(lambda c: c.execute(SELECT_IDEMPOTENCY, (key,)).fetchone())
        if row is None:
            return None
        return IdempotencyRecord(row[0], row[1], json.loads(row[2]), row[3])

    async def search_events(self, query: EventQuery) -> list[EventRecord]:
        where, params = _where(query, paged=True)
        sql = f"SELECT {EVENT_COLUMNS} FROM events{where} ORDER BY event_id LIMIT ?"
        rows = await self._read(lambda c: c.execute(sql, [*params, max(query.limit, 0)]).fetchall())
        return [codec.event_record(row) for row in rows]

    async def count_events(self, query: EventQuery) -> int:
        where, params = _where(query, paged=False)
        row = await self._read(
            lambda c: c.execute(f"SELECT count(*) FROM events{where}", params).fetchone()
        )
        return int(row[0])

    async def put_document(self, document: Document) -> None:
        params = (document.kind, document.id, _json(document.payload), document.updated_at)
        await self._write(lambda c: c.execute(UPSERT_DOCUMENT, params))

    async def get_document(self, kind: str, doc_id: str) -> Document | None:
        row = await self._read(lambda c: c.execute(SELECT_DOCUMENT, (kind, doc_id)).fetchone())
        return None if row is None else _document(row)

    async def list_documents(self, kind: str) -> list[Document]:
        rows = await self._read(lambda c: c.execute(SELECT_DOCUMENTS, (kind,)).fetchall())
        return [_document(row) for row in rows]

    async def delete_document(self, kind: str, doc_id: str) -> bool:
        deleted: bool = await self._write(
            lambda c: c.execute(DELETE_DOCUMENT, (kind, doc_id)).rowcount > 0
        )
        return deleted

    async def delay_notice_sent(self, message_id: str) -> bool:
        return await self.get_document(DELAY_NOTICE, message_id) is not None

    async def record_delay_notice(self, message_id: str, sent_at: float) -> None:
        await self.put_document(Document(DELAY_NOTICE, message_id, {"sent_at": sent_at}, sent_at))
