"""Group commit: one writer thread owns the write connection and batches every pending write.

RFC 5321 section 6.1 wants each acknowledged message on stable storage, and an fsync costs
milliseconds. So writes are not committed one by one: callers hand an operation to the writer
thread and await a future. The writer takes everything that piled up while its previous commit
was running, applies it in ONE transaction (each operation inside its own SAVEPOINT, so one
caller's error does not spoil the others), commits with one fsync, and only then resolves each
caller's future with ``loop.call_soon_threadsafe``. There is no timer: under light load a batch
is one write; under heavy load it is everything that arrived during the last fsync.

Several worker processes (``[server] workers``) each have a writer on the same WAL file;
SQLite lets one of them write at a time. The writers take turns through an exclusive
``flock`` on a lock file beside the database (``<db>-writer.lock``), held from ``BEGIN`` to
``COMMIT``: the kernel wakes the next writer the moment the lock is released. (Left to
SQLite alone, a writer that finds the database locked sleeps in its busy handler for up to
100 ms at a time, which showed as a p99 of 140-190 ms with two workers.) ``BEGIN IMMEDIATE``
still waits through the connection's busy timeout (10 s) for any other process (the CLI), and
is tried ``BEGIN_ATTEMPTS`` times before the batch fails: nothing of the batch has run yet,
so trying again is safe, and a 250 still waits for this process's own COMMIT. The writer
thread runs at a higher CPU priority than the rest of its process where the system allows
it (``commit_priority``), so a commit, and the lock it holds, does not wait behind TLS work.

An error that endangers the transaction itself (disk full, I/O error, lost connection) rolls
the whole batch back and raises ``StoreError`` in every caller of that batch: never a silent
success (security checklist K4).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sealpost.store.errors import StoreError
from sealpost.store.sqlite.commit_priority import boost_current_thread

WriteOp = Callable[[sqlite3.Connection], Any]

log = logging.getLogger(__name__)
MAX_BATCH = 1000  # bounds one transaction's size and the latency of its first caller
BEGIN_ATTEMPTS = 3  # each waits up to the busy timeout for another process's write lock
_STOP = object()


@dataclass(slots=True)
class _Request:
    op: WriteOp
    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop
    queued_at: float = 0.0  # time.monotonic() when submitted, for the commit observer


Result = tuple[Any, BaseException | None]  # one op's (result, error)
Outcome = tuple[_Request, Any, BaseException | None]  # (request, result, error)


class GroupCommitWriter:
    """The writer thread. ``commits`` counts successful COMMITs, ``writes`` committed ops."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        name: str = "sealpost-store-writer",
        lock_path: Path | None = None,
    ) -> None:
        self._conn = conn
        self._lock_path = lock_path
        self._lock_fd: int | None = None
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.commits = 0
        self.writes = 0
        self.failed_batches = 0
        self.nice: int | None = None  # the thread's nice value once raised (commit_priority)
        self.native_id: int | None = None
        # Called from this thread with each committed write's wait (``StoreGauges``).
        self.observer: Callable[[float], None] | None = None

    def start(self) -> None:
        if self._lock_path is not None:
            self._lock_fd = open_lock_file(self._lock_path)
        self._thread.start()

    async def submit(self, op: WriteOp) -> Any:
        """Run ``op(conn)`` inside the next batch; return its result once it is committed."""
        if self._closed:
            raise StoreError("the queue store is closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._queue.put(_Request(op, future, loop, time.monotonic()))
        return await future

    def stop(self) -> None:
        """Finish every write submitted so far, then end the thread (blocking)."""
        if not self._closed:
            self._closed = True
            self._queue.put(_STOP)
        if self._thread.is_alive():
            self._thread.join()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    # --- writer thread ----------------------------------------------------------------------
    def _run(self) -> None:
        self.native_id = threading.get_native_id()
        self.nice = boost_current_thread()
        stopping = False
        while not stopping:
            item = self._queue.get()
            if item is _STOP:
                break
            batch: list[_Request] = [item]
            while len(batch) < MAX_BATCH:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stopping = True
                    break
                batch.append(item)
            try:
                self._run_batch(batch)
            except Exception as exc:  # a bug here must not leave callers waiting forever
                log.exception("queue writer batch failed")
                _resolve([(r, None, StoreError(f"queue writer failed: {exc!r}")) for r in batch])
        # Anything that slipped in behind the stop marker is refused, not left waiting.
        late: list[Outcome] = []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not _STOP:
                late.append((item, None, StoreError("the queue store is closed")))
        _resolve(late)

    def _run_batch(self, batch: list[_Request]) -> None:
        try:
            with writer_turn(self._lock_fd):
                results = apply_batch(self._conn, [request.op for request in batch])
        except Exception as exc:  # disk full, I/O error, closed connection: the whole batch
            self.failed_batches += 1
            error = StoreError(f"queue write failed, nothing from this batch was stored: {exc}")
            _resolve([(request, None, error) for request in batch])
            return
        outcomes = [(request, *result) for request, result in zip(batch, results, strict=True)]
        if any(error is None for _, _, error in outcomes):
            self.commits += 1
            _observe(self.observer, outcomes)
        self.writes += sum(1 for _, _, error in outcomes if error is None)
        _resolve(outcomes)


def writer_lock_path(database: Path) -> Path:
    """The lock file the writers of several processes take turns on."""
    return Path(f"{database}-writer.lock")


def open_lock_file(path: Path) -> int:
    return os.open(path, os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o600)


@contextlib.contextmanager
def writer_turn(lock_fd: int | None) -> Iterator[None]:
    """This process's turn at the database's write lock (the lock file, ``None``: no lock
    file, the only writer). The calling thread waits in ``flock`` with the GIL released."""
    if lock_fd is None:
        yield
        return
    fcntl.flock(lock_fd, fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(lock_fd, fcntl.LOCK_UN)


def apply_batch(conn: sqlite3.Connection, ops: Sequence[WriteOp]) -> list[Result]:
    """Run ``ops`` in ONE transaction, each in its own SAVEPOINT, and commit (one fsync).

    Each op's (result, error): a constraint or the op's own exception undoes only that op.
    An error of the transaction itself (I/O error, disk full, lost connection) rolls back
    everything and is raised: no op of the batch is stored. A batch of one needs no
    SAVEPOINT: the transaction is its savepoint (two statements fewer per commit)."""
    results: list[Result] = []
    alone = len(ops) == 1
    try:
        _begin(conn)
        for op in ops:
            if not alone:
                conn.execute("SAVEPOINT op")
            try:
                result = op(conn)
            except sqlite3.IntegrityError as exc:
                _undo(conn, alone)  # a constraint: this caller's alone
                results.append((None, _as_store_error(exc)))
                continue
            except sqlite3.Error:
                raise  # I/O error, disk full, broken connection: the whole batch
            except Exception as exc:
                _undo(conn, alone)  # this caller's own fault (stale lease, a bug)
                results.append((None, _as_store_error(exc)))
                continue
            if not alone:
                conn.execute("RELEASE op")
            results.append((result, None))
        if conn.in_transaction:
            conn.execute("COMMIT" if any(e is None for _, e in results) else "ROLLBACK")
    except BaseException:
        with contextlib.suppress(Exception):  # a broken connection; every caller is told
            if conn.in_transaction:
                conn.execute("ROLLBACK")
        raise
    return results


def _undo(conn: sqlite3.Connection, alone: bool) -> None:
    if alone:
        conn.execute("ROLLBACK")
        return
    conn.execute("ROLLBACK TO op")
    conn.execute("RELEASE op")


def _observe(observer: Callable[[float], None] | None, outcomes: list[Outcome]) -> None:
    if observer is None:
        return
    now = time.monotonic()
    try:  # the writes are committed: a failing observer must not turn them into errors
        for request, _, error in outcomes:
            if error is None:
                observer(now - request.queued_at)
    except Exception:
        log.exception("commit observer failed")


def _begin(conn: sqlite3.Connection) -> None:
    """``BEGIN IMMEDIATE``, waiting again while another process holds the write lock."""
    for attempt in range(1, BEGIN_ATTEMPTS + 1):
        try:
            conn.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as exc:
            code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
            if code != sqlite3.SQLITE_BUSY or attempt == BEGIN_ATTEMPTS:
                raise
            log.warning("queue database busy (another process is writing); waiting again")


def _as_store_error(exc: BaseException) -> StoreError:
    if isinstance(exc, StoreError):
        return exc
    error = StoreError(f"queue write rejected: {exc!r}")
    error.__cause__ = exc
    return error


def _resolve(outcomes: list[Outcome]) -> None:
    """Wake each caller's event loop once per batch (one self-pipe write, not one per caller)."""
    by_loop: dict[asyncio.AbstractEventLoop, list[Outcome]] = {}
    for outcome in outcomes:
        by_loop.setdefault(outcome[0].loop, []).append(outcome)
    for loop, batch in by_loop.items():
        with contextlib.suppress(RuntimeError):  # that loop is closed: nobody waits any more
            loop.call_soon_threadsafe(_deliver, batch)


def _deliver(outcomes: list[Outcome]) -> None:
    for request, result, error in outcomes:
        if request.future.done():  # the caller was cancelled; the write stands regardless
            continue
        if error is not None:
            request.future.set_exception(error)
        else:
            request.future.set_result(result)
