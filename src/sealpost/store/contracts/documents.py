"""The contract for the API's own small resources, kept as JSON documents by kind and id
(templates, webhook definitions, sending domains, transmissions). A record that must be
queried at scale gets its own typed contract and table instead (see ``webhook_delivery``).

Transmissions are the one kind written per send (a million a day is a million documents):
nothing reads all of them. ``list_scheduled_documents`` reads only those whose payload's
``not_before`` is still ahead, through an index on it (SQLite schema 18, PostgreSQL 16), and
retention (``contracts.retention``) deletes the old ones."""

from __future__ import annotations

from typing import Protocol

from sealpost.model.document import Document


class DocumentStore(Protocol):
    async def put_document(self, document: Document) -> None:
        """Create or replace the document of this kind and id."""

    async def add_document(self, document: Document) -> bool:
        """Create the document unless one of this kind and id exists (then False, nothing
        written): one atomic step, so of two processes or nodes creating the same id at
        once exactly one succeeds."""

    async def get_document(self, kind: str, doc_id: str) -> Document | None: ...

    async def list_documents(self, kind: str) -> list[Document]:
        """Every document of ``kind``, ordered by id."""

    async def list_scheduled_documents(self, kind: str, now: float) -> list[Document]:
        """The documents of ``kind`` whose payload ``not_before`` (epoch seconds) is later
        than ``now``, ordered by id; a document without one is never listed."""

    async def delete_document(self, kind: str, doc_id: str) -> bool:
        """False when there was no such document."""
