"""One SQLite database file: its connections, the writer thread and the read pool.

RFC 5321 section 6.1: a write returns only after it is committed and fsynced (WAL +
``synchronous=FULL``), so after our ``250`` the message survives a crash, ``kill -9`` or
power loss. All writes go through one writer thread that commits many callers' writes with
one fsync (``writer``); reads use a small pool of read connections in worker threads, so the
event loop never waits on disk. The one exception is ``_read_now``: a point lookup on the hot
path of an API call or an AUTH (a key by id, a few recipients' suppressions: small, hot
pages), cheaper than the hop to a thread and back, runs on the loop's own connection, and
goes to the pool whenever SQLite is busy, so the loop never waits on a lock. Several server
processes may open the same file (``[server] workers``): WAL lets their readers run beside
one writer, and each process's writer takes SQLite's write lock in turn (``writer``); new
mail then goes to the one queue writer, in the supervisor (``share_writer``, ``_write_mail``:
``shared_writer``, ``writer_client``). The store's concerns (``queue``, ``events``,
``records``, ...) are classes over this one, each running its operations through ``_write``
(``_write_mail`` for new mail) and ``_read``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any, Self, TypeVar

from sealpost.store.change_bell import ChangeBell
from sealpost.store.errors import DamagedStore, DuplicateError, StoreError
from sealpost.store.file_modes import create_private_file, make_private_dirs
from sealpost.store.local_changes import LocalChanges
from sealpost.store.local_wakeups import LocalWakeups
from sealpost.store.sqlite import holders, integrity, schema, sql
from sealpost.store.sqlite.shared_writer import OPERATIONS
from sealpost.store.sqlite.writer import GroupCommitWriter, writer_lock_path
from sealpost.store.sqlite.writer_client import WriterClient, WriterLost, WriterUnavailable

T = TypeVar("T")


class Database:
    """The database file at ``path``: ``open`` creates and migrates it, ``close`` lets go."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        readers: int = 2,
        quick_check: bool = False,
        worker: int | None = None,
    ) -> None:
        self.path = Path(path)
        # A worker's leases carry its seat (``w1.``), so a restarted worker releases its
        # predecessor's alone (``release_own_leases``); one process needs no prefix.
        self.lease_prefix = "" if worker is None else f"w{worker}."
        self.quick_check = quick_check  # the server's start: ``integrity.check_at_open``
        self._reader_count = max(1, readers)
        self._conn: sqlite3.Connection | None = None
        self._writer: GroupCommitWriter | None = None
        self._shared: WriterClient | None = None  # new mail to the queue writer, if any
        self._commit_observer: Callable[[float], None] | None = None  # StoreGauges
        self._readers: queue.SimpleQueue[sqlite3.Connection] = queue.SimpleQueue()
        self._inline: sqlite3.Connection | None = None  # _read_now's, on the loop's thread
        self._executor: ThreadPoolExecutor | None = None
        self._open_lock = asyncio.Lock()
        self._mail_queued = LocalWakeups()  # QueueWakeups: enqueue and retry_now notify
        self._config_changes = LocalChanges()  # ConfigChanges: this process's setting writes
        self.migrated: tuple[int, int] = (0, 0)
        self._holder_fd: int | None = None  # the shared open lock (``holders``)

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
            except sqlite3.DatabaseError as exc:
                if _damaged(exc):
                    raise DamagedStore(self.path, [str(exc)]) from exc
                raise StoreError(f"cannot open queue database {self.path}: {exc}") from exc
            except sqlite3.Error as exc:
                raise StoreError(f"cannot open queue database {self.path}: {exc}") from exc
            except OSError as exc:
                raise StoreError(f"cannot create queue database {self.path}: {exc}") from exc
            self._conn = conn
            self._executor = ThreadPoolExecutor(self._reader_count, "sealpost-store-read")
            self._writer = GroupCommitWriter(conn, lock_path=writer_lock_path(self.path))
            self._writer.observer = self._commit_observer
            self._writer.start()

    async def migrate(self) -> tuple[int, int]:
        """The schema versions found and reached by ``open``, which always migrates: only one
        process writes a SQLite file, and its migration holds the write lock."""
        if self._writer is None:
            raise StoreError("the queue store is not open")
        return self.migrated

    def share_writer(self, socket_path: str) -> None:
        """New mail goes to the queue writer at ``socket_path`` (``shared_writer``)
        while it is there; everything else, and new mail when it is not, through ours."""
        self._shared = WriterClient(socket_path)
        self._shared.observer = self._commit_observer

    def share_changes(self, bell: ChangeBell, seat: int) -> None:
        """Settings written here ring ``bell``; those the other workers write end this
        process's ``wait_for_config_change`` (``store.change_bell``)."""
        self._config_changes.share(bell, seat)

    async def close(self) -> None:
        """Finish pending writes, then close every connection; idempotent."""
        if self._shared is not None:
            self._shared.close()
        writer, self._writer = self._writer, None
        if writer is None:
            return
        await asyncio.to_thread(self._close_sync, writer)

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def _open_sync(self) -> sqlite3.Connection:
        created = make_private_dirs(self.path.parent)
        self._holder_fd = holders.hold_shared(self.path)  # store restore waits for us to close
        is_new = not self.path.exists()
        try:
            if is_new:
                create_private_file(self.path)  # SQLite gives -wal and -shm the same mode
            pragmas = sql.WRITER_PRAGMAS
            conn = _connect(self.path, sql.NEW_FILE_PRAGMAS + pragmas if is_new else pragmas)
        except BaseException:
            holders.release(self._holder_fd)
            self._holder_fd = None
            raise
        try:
            mode = conn.execute(sql.JOURNAL_MODE).fetchone()[0]
            if str(mode).lower() != "wal":
                raise StoreError(f"{self.path}: the file system refused WAL mode ({mode})")
            if self.quick_check and not is_new:
                integrity.check_at_open(conn, self.path)  # DamagedStore: never run on it
            self.migrated = schema.migrate(conn)
            if is_new:
                _fsync_dir(self.path.parent)
            for directory in created:
                _fsync_dir(directory.parent)
            for _ in range(self._reader_count):
                self._readers.put(_connect(self.path, sql.READER_PRAGMAS))
            self._inline = _connect(self.path, sql.INLINE_READER_PRAGMAS)
        except BaseException:
            conn.close()
            self._close_readers()
            holders.release(self._holder_fd)
            self._holder_fd = None
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
        holders.release(self._holder_fd)
        self._holder_fd = None

    def _close_readers(self) -> None:
        inline, self._inline = self._inline, None
        if inline is not None:
            inline.close()
        while True:
            try:
                self._readers.get_nowait().close()
            except queue.Empty:
                return

    # --- plumbing ---------------------------------------------------------------------------
    async def _write(self, op: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``op`` in the writer's next batch; its result once that batch is committed."""
        if self._writer is None:
            raise StoreError("the queue store is not open")
        result: T = await self._writer.submit(op)
        return result

    async def _write_mail(self, name: str, **kwargs: Any) -> None:
        """New mail (``shared_writer.OPERATIONS``): through the queue writer if this
        process has one, else, or while it is gone, as ``_write``."""
        if self._shared is not None:
            try:
                await self._shared.submit(name, kwargs)
                return
            except WriterUnavailable:
                pass  # nothing was sent: our own writer commits it
            except WriterLost:
                if name != "insert_message":
                    raise  # a transmission: the API's caller retries with its key
                # The same message under the same id, written once whoever commits it: a
                # duplicate id means the writer did (synced: WAL, synchronous=FULL).
                with contextlib.suppress(DuplicateError):
                    await self._write(partial(OPERATIONS[name], **kwargs))
                return
        await self._write(partial(OPERATIONS[name], **kwargs))

    async def _read(self, op: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``op`` on a read connection, inside one snapshot."""
        if self._executor is None:
            raise StoreError("the queue store is not open")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._read_sync, op)

    async def _read_now(self, op: Callable[[sqlite3.Connection], T]) -> T:
        """``_read`` for a point lookup, run at once on the loop's thread (py-spy, the API
        case: the hop to the pool and back was 15% of a worker's loop, the two reads of a
        call 2%). SQLite busy (a WAL recovery, a lock): the pool's reader waits instead."""
        conn = self._inline
        if conn is None:
            return await self._read(op)
        try:
            return _in_snapshot(conn, op)
        except sqlite3.OperationalError as exc:
            if getattr(exc, "sqlite_errorcode", 0) & 0xFF in (
                sqlite3.SQLITE_BUSY,
                sqlite3.SQLITE_LOCKED,
            ):
                return await self._read(op)
            raise StoreError(f"queue read failed: {exc}") from exc
        except sqlite3.Error as exc:
            raise StoreError(f"queue read failed: {exc}") from exc

    def _read_sync(self, op: Callable[[sqlite3.Connection], T]) -> T:
        conn = self._readers.get()
        try:
            return _in_snapshot(conn, op)
        except sqlite3.Error as exc:
            raise StoreError(f"queue read failed: {exc}") from exc
        finally:
            self._readers.put(conn)


def _in_snapshot(conn: sqlite3.Connection, op: Callable[[sqlite3.Connection], T]) -> T:
    """``op`` in one read transaction: one snapshot for every SELECT it runs."""
    conn.execute("BEGIN")
    try:
        return op(conn)
    finally:
        if conn.in_transaction:
            conn.execute("ROLLBACK")


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


def _damaged(exc: sqlite3.DatabaseError) -> bool:
    """SQLite's words for a file that is not a sound database."""
    text = str(exc).lower()
    return "malformed" in text or "not a database" in text or "corrupt" in text


def _fsync_dir(directory: Path) -> None:
    """Make a new directory entry durable (a file's own fsync does not cover its name)."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
