"""Small records on SQLite: API keys (``contracts.keys``), the MTA-STS policy cache
(``contracts.policies``), the API's documents (``contracts.documents``) and the changes to
the settings among them (``contracts.config_changes``: this process's writes are noted at
once, other processes' show in the fingerprints), and the delay notices
(``contracts.delay_notices``, kept as ``delay_notice`` documents)."""

from __future__ import annotations

import json
import sqlite3
from functools import partial
from typing import Any

from sealpost.model.api_key import ApiKeyRecord
from sealpost.model.document import Document
from sealpost.store import codec
from sealpost.store.contracts.config_changes import CONFIG_KINDS, Fingerprint
from sealpost.store.sqlite import ops, sql
from sealpost.store.sqlite.database import Database

DELAY_NOTICE = "delay_notice"  # the document kind behind DelayNotices


class SqliteRecords(Database):
    """``KeyStore``, ``PolicyStore``, ``DocumentStore``, ``ConfigChanges`` and
    ``DelayNotices``."""

    # --- KeyStore ---------------------------------------------------------------------------
    async def add_key(self, record: ApiKeyRecord) -> None:
        await self._write(partial(ops.insert_key, row=codec.key_row(record)))

    async def find_key(self, key_id: str) -> ApiKeyRecord | None:
        row = await self._read_now(lambda c: c.execute(sql.SELECT_KEY, (key_id,)).fetchone())
        return None if row is None else codec.key_record(row)

    async def list_keys(self) -> list[ApiKeyRecord]:
        rows = await self._read(lambda conn: conn.execute(sql.SELECT_KEYS).fetchall())
        return [codec.key_record(row) for row in rows]

    async def revoke_key(self, key_id: str, now: float) -> bool:
        def revoke(conn: sqlite3.Connection) -> bool:
            return conn.execute(sql.REVOKE_KEY, (now, key_id)).rowcount > 0

        revoked: bool = await self._write(revoke)
        return revoked

    # --- PolicyStore ------------------------------------------------------------------------
    async def get_policy(self, key: str) -> dict[str, Any] | None:
        row = await self._read(lambda conn: conn.execute(sql.SELECT_POLICY, (key,)).fetchone())
        return None if row is None else json.loads(row[0])

    async def put_policy(self, key: str, payload: dict[str, Any]) -> None:
        text = json.dumps(payload, separators=(",", ":"))

        def put(conn: sqlite3.Connection) -> None:
            conn.execute(sql.UPSERT_POLICY, (key, text))

        await self._write(put)

    # --- DocumentStore ----------------------------------------------------------------------
    async def put_document(self, document: Document) -> None:
        params = codec.document_row(document, document.updated_at)
        await self._write(lambda c: c.execute(sql.UPSERT_DOCUMENT, params))
        self._config_changes.noted(document.kind)

    async def add_document(self, document: Document) -> bool:
        params = codec.document_row(document, document.updated_at)
        added: bool = await self._write(
            lambda c: c.execute(sql.INSERT_DOCUMENT, params).rowcount > 0
        )
        if added:
            self._config_changes.noted(document.kind)
        return added

    async def get_document(self, kind: str, doc_id: str) -> Document | None:
        row = await self._read(lambda c: c.execute(sql.SELECT_DOCUMENT, (kind, doc_id)).fetchone())
        return None if row is None else codec.document(row)

    async def list_documents(self, kind: str) -> list[Document]:
        rows = await self._read(lambda c: c.execute(sql.SELECT_DOCUMENTS, (kind,)).fetchall())
        return [codec.document(row) for row in rows]

    async def list_scheduled_documents(self, kind: str, now: float) -> list[Document]:
        rows = await self._read(
            lambda c: c.execute(sql.SELECT_SCHEDULED_DOCUMENTS, (kind, now)).fetchall()
        )
        return sorted((codec.document(row) for row in rows), key=lambda d: d.id)

    async def delete_document(self, kind: str, doc_id: str) -> bool:
        deleted: bool = await self._write(
            lambda c: c.execute(sql.DELETE_DOCUMENT, (kind, doc_id)).rowcount > 0
        )
        if deleted:
            self._config_changes.noted(kind)
        return deleted

    # --- ConfigChanges ----------------------------------------------------------------------
    async def config_fingerprints(self) -> dict[str, Fingerprint]:
        kinds = json.dumps(sorted(CONFIG_KINDS))
        rows = await self._read(lambda c: c.execute(sql.CONFIG_FINGERPRINTS, (kinds,)).fetchall())
        found = dict.fromkeys(CONFIG_KINDS, Fingerprint(0, 0))
        found.update((kind, Fingerprint(count, stamps or 0)) for kind, count, stamps in rows)
        return found

    async def wait_for_config_change(self, timeout: float) -> frozenset[str]:
        return await self._config_changes.wait(timeout)

    # --- DelayNotices -----------------------------------------------------------------------
    async def delay_notice_sent(self, message_id: str) -> bool:
        params = (DELAY_NOTICE, message_id)
        row = await self._read(lambda c: c.execute(sql.DOCUMENT_EXISTS, params).fetchone())
        return row is not None

    async def record_delay_notice(self, message_id: str, sent_at: float) -> None:
        await self.put_document(Document(DELAY_NOTICE, message_id, {"sent_at": sent_at}, sent_at))
