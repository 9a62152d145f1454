"""Small records on PostgreSQL: API keys (``contracts.keys``), the MTA-STS policy cache
(``contracts.policies``, shared by every node: a policy one node learned applies on all), the
API's documents (``contracts.documents``; a write of a setting among them sends
``NOTIFY sealpost_config`` with its kind in the same transaction, so every node hears of it
at COMMIT: ``contracts.config_changes``) and the delay notices (``contracts.delay_notices``,
kept as ``delay_notice`` documents, as on SQLite)."""

from __future__ import annotations

import json
from typing import Any

import asyncpg

from sealpost.model.api_key import ApiKeyRecord
from sealpost.model.document import Document
from sealpost.store import codec
from sealpost.store.contracts.config_changes import CONFIG_KINDS, Fingerprint
from sealpost.store.errors import DuplicateError
from sealpost.store.postgres import ops, sql
from sealpost.store.postgres.database import Database

DELAY_NOTICE = "delay_notice"  # the document kind behind DelayNotices


class PostgresRecords(Database):
    """``KeyStore``, ``PolicyStore``, ``DocumentStore``, ``ConfigChanges`` and
    ``DelayNotices``."""

    # --- KeyStore ---------------------------------------------------------------------------
    async def add_key(self, record: ApiKeyRecord) -> None:
        row = codec.key_row(record)

        async def insert(conn: asyncpg.Connection) -> None:
            try:
                await conn.execute(sql.INSERT_KEY, *row)
            except asyncpg.UniqueViolationError as exc:
                raise DuplicateError(f"API key id {record.id} already exists") from exc

        await self._write(insert)

    async def find_key(self, key_id: str) -> ApiKeyRecord | None:
        row = await self._read(lambda conn: conn.fetchrow(sql.SELECT_KEY, key_id))
        return None if row is None else codec.key_record(tuple(row))

    async def list_keys(self) -> list[ApiKeyRecord]:
        rows = await self._read(lambda conn: conn.fetch(sql.SELECT_KEYS))
        return [codec.key_record(tuple(row)) for row in rows]

    async def revoke_key(self, key_id: str, now: float) -> bool:
        async def revoke(conn: asyncpg.Connection) -> bool:
            return ops.changed(await conn.execute(sql.REVOKE_KEY, now, key_id)) > 0

        revoked: bool = await self._write(revoke)
        return revoked

    # --- PolicyStore ------------------------------------------------------------------------
    async def get_policy(self, key: str) -> dict[str, Any] | None:
        payload = await self._read(lambda conn: conn.fetchval(sql.SELECT_POLICY, key))
        return None if payload is None else json.loads(payload)

    async def put_policy(self, key: str, payload: dict[str, Any]) -> None:
        text = json.dumps(payload, separators=(",", ":"))
        await self._write(lambda conn: conn.execute(sql.UPSERT_POLICY, key, text))

    # --- DocumentStore ----------------------------------------------------------------------
    async def put_document(self, document: Document) -> None:
        row = codec.document_row(document, document.updated_at)

        async def put(conn: asyncpg.Connection) -> None:
            await conn.execute(sql.UPSERT_DOCUMENT, *row)
            if document.kind in CONFIG_KINDS:
                await conn.execute(sql.NOTIFY_CONFIG, document.kind)

        await self._write(put)

    async def add_document(self, document: Document) -> bool:
        row = codec.document_row(document, document.updated_at)

        async def add(conn: asyncpg.Connection) -> bool:
            added = ops.changed(await conn.execute(sql.INSERT_DOCUMENT, *row)) > 0
            if added and document.kind in CONFIG_KINDS:
                await conn.execute(sql.NOTIFY_CONFIG, document.kind)
            return added

        done: bool = await self._write(add)
        return done

    async def get_document(self, kind: str, doc_id: str) -> Document | None:
        row = await self._read(lambda conn: conn.fetchrow(sql.SELECT_DOCUMENT, kind, doc_id))
        return None if row is None else codec.document(tuple(row))

    async def list_documents(self, kind: str) -> list[Document]:
        rows = await self._read(lambda conn: conn.fetch(sql.SELECT_DOCUMENTS, kind))
        return [codec.document(tuple(row)) for row in rows]

    async def list_scheduled_documents(self, kind: str, now: float) -> list[Document]:
        rows = await self._read(lambda conn: conn.fetch(sql.SELECT_SCHEDULED_DOCUMENTS, kind, now))
        return [codec.document(tuple(row)) for row in rows]

    async def delete_document(self, kind: str, doc_id: str) -> bool:
        async def delete(conn: asyncpg.Connection) -> bool:
            gone = ops.changed(await conn.execute(sql.DELETE_DOCUMENT, kind, doc_id)) > 0
            if gone and kind in CONFIG_KINDS:
                await conn.execute(sql.NOTIFY_CONFIG, kind)
            return gone

        deleted: bool = await self._write(delete)
        return deleted

    # --- ConfigChanges ----------------------------------------------------------------------
    async def config_fingerprints(self) -> dict[str, Fingerprint]:
        kinds = sorted(CONFIG_KINDS)
        rows = await self._read(lambda conn: conn.fetch(sql.CONFIG_FINGERPRINTS, kinds))
        found = dict.fromkeys(CONFIG_KINDS, Fingerprint(0, 0))
        found.update((r[0], Fingerprint(int(r[1]), int(r[2] or 0))) for r in rows)
        return found

    # --- DelayNotices -----------------------------------------------------------------------
    async def delay_notice_sent(self, message_id: str) -> bool:
        found = await self._read(
            lambda conn: conn.fetchval(sql.DOCUMENT_EXISTS, DELAY_NOTICE, message_id)
        )
        return found is not None

    async def record_delay_notice(self, message_id: str, sent_at: float) -> None:
        await self.put_document(Document(DELAY_NOTICE, message_id, {"sent_at": sent_at}, sent_at))
