"""Group commit on PostgreSQL: one writer task owns one connection and batches every write.

RFC 5321 section 6.1 wants each acknowledged message on stable storage, and each COMMIT
waits for a WAL flush (``synchronous_commit = on``). So, as the SQLite writer does, writes
are not committed one by one: callers hand an operation to the writer task and await a
future. The task takes everything that piled up while its previous COMMIT was running,
applies it in ONE transaction (each operation inside its own SAVEPOINT, so one caller's
error, a duplicate id or a lost lease, does not spoil the others), commits once, and only
then resolves each caller's future. There is no timer: under light load a batch is one
write; under heavy load it is everything that arrived during the last flush.

Two things are done once per batch, outside any savepoint:

- the events lock (``sql.LOCK_EVENTS``), right after BEGIN when any operation of the batch
  appends events: it is held until COMMIT, so event ids are drawn and committed in the same
  order across every node, and a reader following ``event_id`` never skips an event that
  commits later. It is taken before any operation's row locks, never after them: a batch
  that locked a row and then waited for the events lock, while another node holding that
  lock waited for the row, was a deadlock PostgreSQL broke by failing one whole batch;
- ``NOTIFY sealpost_queue`` when an operation queued new mail: PostgreSQL delivers it at
  COMMIT, so a node that wakes on it finds the mail there.

A batch PostgreSQL rolls back to break a deadlock or a serialization conflict (SQLSTATE
class 40: nothing of it is stored) is run again, up to ``RETRIES`` times, before its
callers hear of it. A failure of the transaction itself (connection lost, server shutting
down) rolls the whole batch back and raises ``StoreError`` in every caller of that batch,
never a silent success (security checklist K4); the next batch reconnects. When the
connection breaks during COMMIT the outcome is unknown and the callers are told it failed:
a retried message may then be stored twice, never lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg

from sealpost.store.errors import DuplicateError, StoreError
from sealpost.store.postgres import sql

WriteOp = Callable[[asyncpg.Connection], Awaitable[Any]]
Connect = Callable[[], Awaitable[asyncpg.Connection]]

log = logging.getLogger(__name__)
MAX_BATCH = 1000  # bounds one transaction's size and the latency of its first caller
RETRIES = 3  # a batch rolled back as a deadlock victim is run again this many times
_STOP = object()
_CONNECTION_LOST = (
    asyncpg.PostgresConnectionError,
    asyncpg.OperatorInterventionError,  # admin shutdown, crash recovery
    asyncpg.InterfaceError,
    OSError,
)
_ROLLED_BACK = asyncpg.TransactionRollbackError  # SQLSTATE 40xxx: deadlock, serialization


@dataclass(slots=True)
class _Request:
    op: WriteOp
    future: asyncio.Future[Any]
    events: bool  # appends events: take the events lock first
    notify: bool  # queues mail: NOTIFY the other nodes at COMMIT
    queued_at: float = 0.0  # time.monotonic() when submitted, for the commit observer


class GroupCommitWriter:
    """The writer task. ``commits`` counts successful COMMITs, ``writes`` committed ops."""

    def __init__(self, connect: Connect, *, max_batch: int = MAX_BATCH) -> None:
        self._connect = connect
        self._max_batch = max(1, max_batch)
        self._conn: asyncpg.Connection | None = None
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self.commits = 0
        self.writes = 0
        self.failed_batches = 0
        self.observer: Callable[[float], None] | None = None  # each committed write's wait

    async def start(self) -> None:
        self._conn = await self._connect()
        self._task = asyncio.create_task(self._run(), name="sealpost-store-writer")

    async def submit(self, op: WriteOp, *, events: bool = False, notify: bool = False) -> Any:
        """Run ``op(conn)`` inside the next batch; return its result once it is committed."""
        if self._closed:
            raise StoreError("the queue store is closed")
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Request(op, future, events, notify, time.monotonic()))
        return await future

    async def stop(self) -> None:
        """Finish every write submitted so far, then end the task and close the connection."""
        if not self._closed:
            self._closed = True
            self._queue.put_nowait(_STOP)
        if self._task is not None:
            await self._task
            self._task = None
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close(timeout=5)
            self._conn = None

    # --- writer task ------------------------------------------------------------------------
    async def _run(self) -> None:
        stopping = False
        while not stopping:
            item = await self._queue.get()
            if item is _STOP:
                break
            batch: list[_Request] = [item]
            while len(batch) < self._max_batch and not self._queue.empty():
                item = self._queue.get_nowait()
                if item is _STOP:
                    stopping = True
                    break
                batch.append(item)
            try:
                await self._run_batch(batch)
            except Exception as exc:  # a bug here must not leave callers waiting forever
                log.exception("queue writer batch failed")
                _resolve([(r, None, StoreError(f"queue writer failed: {exc!r}")) for r in batch])
        late = []  # anything behind the stop marker is refused, not left waiting
        while not self._queue.empty():
            item = self._queue.get_nowait()
            if item is not _STOP:
                late.append((item, None, StoreError("the queue store is closed")))
        _resolve(late)

    async def _run_batch(self, batch: list[_Request]) -> None:
        for attempt in range(RETRIES + 1):
            try:
                outcomes = await self._apply(batch)
            except _ROLLED_BACK as exc:
                await self._abandon()
                if attempt < RETRIES:
                    log.info("queue write batch rolled back (%s); running it again", exc)
                    continue
                self._fail(batch, exc)
                return
            except Exception as exc:  # connection lost, server shutting down: the whole batch
                await self._abandon()
                self._fail(batch, exc)
                return
            self.writes += sum(1 for _, _, error in outcomes if error is None)
            _resolve(outcomes)
            return

    def _fail(self, batch: list[_Request], exc: BaseException) -> None:
        self.failed_batches += 1
        error = StoreError(f"queue write failed, nothing from this batch was stored: {exc}")
        _resolve([(request, None, error) for request in batch])

    async def _apply(
        self, batch: list[_Request]
    ) -> list[tuple[_Request, Any, BaseException | None]]:
        """One transaction for the batch; each caller's outcome once it is committed."""
        outcomes: list[tuple[_Request, Any, BaseException | None]] = []
        # Transaction control is sent together with the next statement due anyway (one
        # simple-protocol round trip, not one per BEGIN, SAVEPOINT and RELEASE).
        control = ["BEGIN"]
        if any(request.events for request in batch):
            control.append(sql.LOCK_EVENTS)  # before any row lock (see the module docstring)
        conn = await self._connection()
        notify = False
        for request in batch:
            control.append("SAVEPOINT op")
            await conn.execute("; ".join(control))
            try:
                result = await request.op(conn)
            except (*_CONNECTION_LOST, _ROLLED_BACK):
                raise  # the connection is gone or the transaction aborted: the whole batch
            except Exception as exc:  # this caller's own: a constraint, a stale lease
                control = ["ROLLBACK TO SAVEPOINT op", "RELEASE SAVEPOINT op"]
                outcomes.append((request, None, _as_store_error(exc)))
                continue
            control = ["RELEASE SAVEPOINT op"]
            outcomes.append((request, result, None))
            notify = notify or request.notify
        if any(error is None for _, _, error in outcomes):
            await conn.execute("; ".join([*control, *([sql.NOTIFY_QUEUE] * notify), "COMMIT"]))
            self.commits += 1
            _observe(self.observer, outcomes)
        else:
            await conn.execute("; ".join([*control, "ROLLBACK"]))
        return outcomes

    async def _connection(self) -> asyncpg.Connection:
        if self._conn is None or self._conn.is_closed():
            self._conn = await self._connect()
        return self._conn

    async def _abandon(self) -> None:
        """Roll back what is left; a connection in doubt is dropped and made anew next time."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            if conn.is_in_transaction():
                await conn.execute("ROLLBACK")
            self._conn = conn
        except Exception:
            conn.terminate()


def _observe(
    observer: Callable[[float], None] | None,
    outcomes: list[tuple[_Request, Any, BaseException | None]],
) -> None:
    if observer is None:
        return
    now = time.monotonic()
    try:  # the writes are committed: a failing observer must not turn them into errors
        for request, _, error in outcomes:
            if error is None:
                observer(now - request.queued_at)
    except Exception:
        log.exception("commit observer failed")


def _as_store_error(exc: BaseException) -> StoreError:
    if isinstance(exc, StoreError):
        return exc
    kind = DuplicateError if isinstance(exc, asyncpg.UniqueViolationError) else StoreError
    error = kind(f"queue write rejected: {exc!r}")
    error.__cause__ = exc
    return error


def _resolve(outcomes: list[tuple[_Request, Any, BaseException | None]]) -> None:
    for request, result, error in outcomes:
        if request.future.done():  # the caller was cancelled; the write stands regardless
            continue
        if error is not None:
            request.future.set_exception(error)
        else:
            request.future.set_result(result)
