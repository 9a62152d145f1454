"""Small records in memory: API keys, the policy cache, the API's documents (and the
``ConfigChanges`` over them) and the delay notices (kept as ``delay_notice`` documents, as
the SQLite backend keeps them)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sealpost.model.api_key import ApiKeyRecord
from sealpost.model.document import Document
from sealpost.store.contracts.config_changes import CONFIG_KINDS, Fingerprint
from sealpost.store.errors import DuplicateError
from sealpost.store.local_changes import LocalChanges

DELAY_NOTICE = "delay_notice"  # the document kind behind DelayNotices


class MemoryRecords:
    """``KeyStore``, ``PolicyStore``, ``DocumentStore``, ``ConfigChanges`` and
    ``DelayNotices`` in dicts."""

    def __init__(self) -> None:
        self._keys: dict[str, ApiKeyRecord] = {}
        self._policies: dict[str, dict[str, Any]] = {}
        self._documents: dict[tuple[str, str], Document] = {}
        self._config_changes = LocalChanges()

    # --- KeyStore ---------------------------------------------------------------------------
    async def add_key(self, record: ApiKeyRecord) -> None:
        if record.id in self._keys:
            raise DuplicateError(f"API key id {record.id} already exists")
        self._keys[record.id] = record

    async def find_key(self, key_id: str) -> ApiKeyRecord | None:
        return self._keys.get(key_id)

    async def list_keys(self) -> list[ApiKeyRecord]:
        return sorted(self._keys.values(), key=lambda r: (r.created_at, r.id))

    async def revoke_key(self, key_id: str, now: float) -> bool:
        record = self._keys.get(key_id)
        if record is None or not record.active:
            return False
        self._keys[key_id] = replace(record, revoked_at=now)
        return True

    # --- PolicyStore ------------------------------------------------------------------------
    async def get_policy(self, key: str) -> dict[str, Any] | None:
        payload = self._policies.get(key)
        return None if payload is None else dict(payload)

    async def put_policy(self, key: str, payload: dict[str, Any]) -> None:
        self._policies[key] = dict(payload)

    # --- DocumentStore ----------------------------------------------------------------------
    async def put_document(self, document: Document) -> None:
        self._documents[(document.kind, document.id)] = document
        self._config_changes.noted(document.kind)

    async def add_document(self, document: Document) -> bool:
        if (document.kind, document.id) in self._documents:
            return False
        await self.put_document(document)
        return True

    async def get_document(self, kind: str, doc_id: str) -> Document | None:
        return self._documents.get((kind, doc_id))

    async def list_documents(self, kind: str) -> list[Document]:
        return sorted((d for (k, _), d in self._documents.items() if k == kind), key=lambda d: d.id)

    async def list_scheduled_documents(self, kind: str, now: float) -> list[Document]:
        return [
            d
            for d in await self.list_documents(kind)
            if d.payload.get("not_before") is not None and float(d.payload["not_before"]) > now
        ]

    async def delete_document(self, kind: str, doc_id: str) -> bool:
        if self._documents.pop((kind, doc_id), None) is None:
            return False
        self._config_changes.noted(kind)
        return True

    # --- ConfigChanges ----------------------------------------------------------------------
    async def config_fingerprints(self) -> dict[str, Fingerprint]:
        found = dict.fromkeys(CONFIG_KINDS, Fingerprint(0, 0))
        for (kind, _), document in self._documents.items():
            if kind in found:
                count, stamps = found[kind]
                found[kind] = Fingerprint(count + 1, stamps + int(document.updated_at * 1000))
        return found

    async def wait_for_config_change(self, timeout: float) -> frozenset[str]:
        return await self._config_changes.wait(timeout)

    # --- DelayNotices -----------------------------------------------------------------------
    async def delay_notice_sent(self, message_id: str) -> bool:
        return (DELAY_NOTICE, message_id) in self._documents

    async def record_delay_notice(self, message_id: str, sent_at: float) -> None:
        await self.put_document(Document(DELAY_NOTICE, message_id, {"sent_at": sent_at}, sent_at))
