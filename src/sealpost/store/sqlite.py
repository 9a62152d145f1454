"""The default durable backend: queue and API keys in one SQLite file (WAL, group commit).

RFC 5321 section 6.1: ``enqueue`` returns only after the message and its recipients are
committed and fsynced (WAL + ``synchronous=FULL``), so after our ``250`` the message survives a
crash, ``kill -9`` or power loss. All writes go through one writer thread that commits many
callers' writes with one fsync (``sqlite_writer``); reads use a small pool of read connections
in worker threads, so the event loop never waits on disk. Leases make claims safe: a crashed
worker's messages are claimable again once their lease expires (security checklist K11).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import queue
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from sealpost.model.api_key import ApiKeyRecord
from sealpost.model.envelope import InboundMessage
from sealpost.model.events import EventRecord
from sealpost.model.queue import Claim, MessageState, MessageSummary, RecipientResult, StoredMessage
from sealpost.store import sqlite_codec as codec
from sealpost.store import sqlite_ops as ops
from sealpost.store import sqlite_schema as sql
from sealpost.store.errors import StoreError
from sealpost.store.file_modes import create_private_file, make_private_dirs
from sealpost.store.sqlite_api import SqliteApiMixin
from sealpost.store.sqlite_writer import GroupCommitWriter

T = TypeVar("T")
log = logging.getLogger(__name__)


class SqliteQueueStore(SqliteApiMixin):
    """QueueStore and KeyStore on one SQLite database file at ``path``."""

    def __init__(self, path: str | os.PathLike[str], *, readers: int = 2) -> None:
        self.path = Path(path)
        self._reader_count = max(1, readers)
        self._conn: sqlite3.Connection | None = None
        self._writer: GroupCommitWriter | None = None
        self._readers: queue.SimpleQueue[sqlite3.Connection] = queue.SimpleQueue()
        self._executor: ThreadPoolExecutor | None = None
        self._open_lock = asyncio.Lock()

    @property
    def commits(self) -> int:
        """Transactions committed (each one fsync); far fewer than writes under load."""
        return self._writer.commits if self._writer else 0

    @property
    def writes(self) -> int:
        """Write operations committed (enqueues, attempts, leases, keys)."""
        return self._writer.writes if self._writer else 0

    # --- lifecycle --------------------------------------------------------------------------
    async def open(self) -> None:
        """Create the directory and file if missing, migrate the schema; idempotent."""
        async with self._open_lock:
            if self._writer is not None:
                return
            try:
                conn = await asyncio.to_thread(self._open_sync)
            except sqlite3.Error as exc:
                raise StoreError(f"cannot open queue database {self.path}: {exc}") from exc
            except OSError as exc:
                raise StoreError(f"cannot create queue database {self.path}: {exc}") from exc
            self._conn = conn
            self._executor = ThreadPoolExecutor(self._reader_count, "sealpost-store-read")
            self._writer = GroupCommitWriter(conn)
            self._writer.start()

    async def close(self) -> None:
        """Finish pending writes, then close every connection; idempotent."""
        writer, self._writer = self._writer, None
        if writer is None:
            return
        await asyncio.to_thread(self._close_sync, writer)

    async def __aenter__(self) -> SqliteQueueStore:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def _open_sync(self) -> sqlite3.Connection:
        created = make_private_dirs(self.path.parent)
        is_new = not self.path.exists()
        if is_new:
            create_private_file(self.path)  # SQLite gives -wal and -shm the same mode
        conn = _connect(self.path, sql.WRITER_PRAGMAS)
        try:
            mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
            if str(mode).lower() != "wal":
                raise StoreError(f"{self.path}: the file system refused WAL mode ({mode})")
            sql.migrate(conn)
            if is_new:
                _fsync_dir(self.path.parent)
            for directory in created:
                _fsync_dir(directory.parent)
            for _ in range(self._reader_count):
                self._readers.put(_connect(self.path, sql.READER_PRAGMAS))
        except BaseException:
            conn.close()
            self._close_readers()
            raise
        return conn

    def _close_sync(self, writer: GroupCommitWriter) -> None:
        writer.stop()
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        self._close_readers()
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _close_readers(self) -> None:
        while True:
            try:
                self._readers.get_nowait().close()
            except queue.Empty:
                return

    # --- plumbing ---------------------------------------------------------------------------
    async def _write(self, op: Callable[[sqlite3.Connection], T]) -> T:
        if self._writer is None:
            raise StoreError("the queue store is not open")
        result: T = await self._writer.submit(op)
        return result

    async def _read(self, op: Callable[[sqlite3.Connection], T]) -> T:
        if self._executor is None:
            raise StoreError("the queue store is not open")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._read_sync, op)

    def _read_sync(self, op: Callable[[sqlite3.Connection], T]) -> T:
        conn = self._readers.get()
        try:
            conn.execute("BEGIN")  # one snapshot for every SELECT of this read
            try:
                return op(conn)
            finally:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
        except sqlite3.Error as exc:
            raise StoreError(f"queue read failed: {exc}") from exc
        finally:
            self._readers.put(conn)

    # --- QueueStore -------------------------------------------------------------------------
    async def enqueue(
        self,
        message_id: str,
        message: InboundMessage,
        now: float,
        events: Sequence[EventRecord] = (),
    ) -> None:
        if not message.envelope.recipients:
            raise StoreError("a message needs at least one recipient")
        row = codec.message_row(message_id, message, now)
        recipients = codec.recipient_rows(message_id, message)
        event_rows = tuple(codec.event_row(e) for e in events)
        await self._write(
            partial(ops.insert_message, row=row, recipients=recipients, events=event_rows)
        )

    async def get(self, message_id: str) -> StoredMessage | None:
        rows = await self._read(partial(ops.select_message, message_id=message_id))
        return None if rows is None else codec.stored_message(*rows)

    async def list(
        self, *, state: MessageState | None = None, limit: int = 100, after: str | None = None
    ) -> list[MessageSummary]:
        query = sql.list_query(state=state is not None, after=after is not None)
        params = [p for p in (state, after) if p is not None] + [max(limit, 0)]
        rows = await self._read(lambda conn: conn.execute(query, params).fetchall())
        return [codec.summary(row) for row in rows]

    async def count(self) -> dict[str, int]:
        rows = await self._read(lambda conn: conn.execute(sql.COUNT_BY_STATE).fetchall())
        counts = {"queued": 0, "done": 0, "cancelled": 0}
        counts.update({state: n for state, n in rows})
        return counts

    async def claim_due(self, now: float, limit: int, lease: float) -> list[Claim]:
        if limit <= 0:
            return []
        leased = await self._write(partial(ops.claim, now=now, limit=limit, until=now + lease))
        claims: list[Claim] = []
        for token, until, row, recipients in leased:
            try:
                claims.append(Claim(codec.stored_message(row, recipients), token, until))
            except StoreError as exc:  # stays leased, so it cannot block the queue head
                log.error("skipping unreadable queued message: %s", exc)
        return claims

    async def record_attempt(
        self,
        claim: Claim,
        results: Sequence[RecipientResult],
        next_attempt_at: float,
        events: Sequence[EventRecord] = (),
    ) -> None:
        op = partial(
            ops.record_attempt,
            message_id=claim.message.id,
            token=claim.token,
            results=tuple(results),
            next_attempt_at=next_attempt_at,
            events=tuple(codec.event_row(e) for e in events),
        )
        await self._write(op)

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

    async def retry_now(self, message_id: str, now: float) -> bool:
        def retry(conn: sqlite3.Connection) -> bool:
            return conn.execute(sql.RETRY_NOW, (now, message_id)).rowcount > 0

        changed: bool = await self._write(retry)
        return changed

    async def cancel(self, message_id: str) -> bool:
        cancelled: bool = await self._write(partial(ops.cancel, message_id=message_id))
        return cancelled

    # --- EventStore and PolicyStore ----------------------------------------------------------
    async def add_events(self, events: Sequence[EventRecord]) -> None:
        rows = tuple(codec.event_row(e) for e in events)
        if rows:
            await self._write(partial(ops.insert_events, rows=rows))

    async def list_events(
        self,
        *,
        after: int | None = None,
        limit: int = 100,
        types: Sequence[str] | None = None,
        message_id: str | None = None,
    ) -> list[EventRecord]:
        wanted = tuple(types or ())
        query = sql.events_query(
            after=after is not None, types=len(wanted), message=message_id is not None
        )
        params: list[object] = [after] if after is not None else []
        params += [*wanted, *([message_id] if message_id is not None else []), max(limit, 0)]
        rows = await self._read(lambda conn: conn.execute(query, params).fetchall())
        return [codec.event_record(row) for row in rows]

    async def get_policy(self, key: str) -> dict[str, Any] | None:
        row = await self._read(lambda conn: conn.execute(sql.SELECT_POLICY, (key,)).fetchone())
        return None if row is None else json.loads(row[0])

    async def put_policy(self, key: str, payload: dict[str, Any]) -> None:
        text = json.dumps(payload, separators=(",", ":"))

        def put(conn: sqlite3.Connection) -> None:
            conn.execute(sql.UPSERT_POLICY, (key, text))

        await self._write(put)

    # --- KeyStore ---------------------------------------------------------------------------
    async def add_key(self, record: ApiKeyRecord) -> None:
        await self._write(partial(ops.insert_key, row=codec.key_row(record)))

    async def find_key(self, key_id: str) -> ApiKeyRecord | None:
        row = await self._read(lambda conn: conn.execute(sql.SELECT_KEY, (key_id,)).fetchone())
        return None if row is None else codec.key_record(row)

    async def list_keys(self) -> list[ApiKeyRecord]:
        rows = await self._read(lambda conn: conn.execute(sql.SELECT_KEYS).fetchall())
        return [codec.key_record(row) for row in rows]

    async def revoke_key(self, key_id: str, now: float) -> bool:
        def revoke(conn: sqlite3.Connection) -> bool:
            return conn.execute(sql.REVOKE_KEY, (now, key_id)).rowcount > 0

        revoked: bool = await self._write(revoke)
        return revoked


# --- files ------------------------------------------------------------------------------------
def _connect(path: Path, pragmas: Sequence[str]) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10.0)
    try:
        for pragma in pragmas:
            conn.execute(pragma)
    except BaseException:
        conn.close()
        raise
    return conn


def _fsync_dir(directory: Path) -> None:
    """Make a new directory entry durable (a file's own fsync does not cover its name)."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
