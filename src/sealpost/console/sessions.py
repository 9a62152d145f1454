"""Server-side console sessions, kept in the store (documents of kind ``console_session``).

Why records and not a signed cookie: a record can be ended (log-out, idle timeout) and every
node of a cluster sees it through the shared store, with no server secret to distribute or
rotate. The cookie holds only a random 256-bit token; the record's id is the token's
SHA-256, so a reader of the store cannot replay a session. Each record names who logged in
(an API key id or a console user) and carries the session's CSRF token; the grants are read
afresh from the key or user on every request, so a revoked key or deleted user ends its
sessions at once. ``last_seen`` is written at most once a minute (``TOUCH``); a session
unused for the idle timeout is gone. Expired records are swept when someone logs in.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from sealpost.model.document import Document
from sealpost.store.contracts.documents import DocumentStore

KIND = "console_session"
TOUCH = 60.0


@dataclass(frozen=True, slots=True)
class SessionRecord:
    id: str  # sha256 of the cookie's token
    kind: str  # "key" or "user"
    subject: str  # the key id or the user name
    csrf: str
    created_at: float
    last_seen: float


def session_id(token: str) -> str:
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


def _of(document: Document) -> SessionRecord:
    p = document.payload
    return SessionRecord(
        document.id,
        str(p["kind"]),
        str(p["subject"]),
        str(p["csrf"]),
        float(p["created_at"]),
        float(p["last_seen"]),
    )


def _document(record: SessionRecord) -> Document:
    payload = {
        "kind": record.kind,
        "subject": record.subject,
        "csrf": record.csrf,
        "created_at": record.created_at,
        "last_seen": record.last_seen,
    }
    return Document(KIND, record.id, payload, record.last_seen)


class Sessions:
    def __init__(self, store: DocumentStore, idle: float, clock: Callable[[], float]) -> None:
        self.store = store
        self.idle = idle
        self.clock = clock

    async def start(self, kind: str, subject: str) -> tuple[str, SessionRecord]:
        """A new session: the cookie's token (never stored) and its record."""
        now = self.clock()
        await self._sweep(now)
        token = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        record = SessionRecord(session_id(token), kind, subject, csrf, now, now)
        await self.store.put_document(_document(record))
        return token, record

    async def resume(self, token: str | None) -> SessionRecord | None:
        """The live session of this cookie token, its ``last_seen`` refreshed; None when
        there is none or it has been idle too long (it is deleted then)."""
        if not token or len(token) > 100:
            return None
        document = await self.store.get_document(KIND, session_id(token))
        if document is None:
            return None
        record = _of(document)
        now = self.clock()
        if now - record.last_seen > self.idle:
            await self.store.delete_document(KIND, record.id)
            return None
        if now - record.last_seen > TOUCH:
            record = SessionRecord(
                record.id, record.kind, record.subject, record.csrf, record.created_at, now
            )
            await self.store.put_document(_document(record))
        return record

    async def end(self, record: SessionRecord) -> None:
        await self.store.delete_document(KIND, record.id)

    async def _sweep(self, now: float) -> None:
        for document in await self.store.list_documents(KIND):
            if now - float(document.payload.get("last_seen", 0)) > self.idle:
                await self.store.delete_document(KIND, document.id)
