"""The contract for retention and erasure (``model.retention``).

``purge_expired`` removes at most ``batch`` rows of each kind per call, in one short
transaction, so the write lock is held briefly and the door's fsync-before-250 never waits
behind a big delete; the caller (``retention.purger``) calls again until a call removes
nothing. Transmission records are found through the index on ``documents (kind,
updated_at)`` (SQLite schema 18, PostgreSQL 16); one still scheduled is skipped, never
removed (``model.retention.transmission_expired``). ``reclaim_space`` gives freed pages
back to the file system where the backend needs telling (SQLite ``PRAGMA
incremental_vacuum``); PostgreSQL's autovacuum does it alone.
``erase_recipient`` removes every message, event and suppression entry that names one
address (lower-cased whole, as events and the suppression list store it).
"""

from __future__ import annotations

from typing import Protocol

from sealpost.model.retention import Cutoffs, Purged


class RetentionStore(Protocol):
    async def purge_expired(self, cutoffs: Cutoffs, *, batch: int) -> Purged:
        """Delete at most ``batch`` expired rows of each kind, in one transaction. Messages
        still queued or held, and messages under a lease, are never removed, nor a
        transmission that starts after the cutoff and was not cancelled."""

    async def reclaim_space(self, pages: int) -> int:
        """Return up to ``pages`` free pages to the file system; the pages returned (0 when
        the backend has nothing to do or the file was not made for it)."""

    async def storage_facts(self) -> dict[str, int | str]:
        """What the operator needs to see about space: for SQLite the page size, page and
        free-page counts and the auto_vacuum mode; empty elsewhere."""

    async def erase_recipient(self, address: str, *, dry_run: bool = False) -> Purged:
        """Remove every message with ``address`` among its recipients (whatever its state),
        every event whose recipient is ``address``, and its suppression entries; with
        ``dry_run`` count them only. Done in batches, never one long transaction."""
