"""One PostgreSQL database shared by every node: its connections, the writer and the migrations.

Writes go through one writer task per node over its own connection (``writer``: group
commit, ``synchronous_commit = on``, so a write returns only once its COMMIT is on disk, RFC
5321 section 6.1). Reads use a small ``asyncpg`` pool, each read inside one read-only
REPEATABLE READ transaction (one snapshot for a message and its recipients). ``wakeups``
owns the LISTEN connection. ``open`` migrates the schema under the advisory lock (``schema``)
unless told not to, then refuses a schema newer than this code.

Each node has an id (``node_id``, default ``hostname:pid``) that its leases carry, so a node
that starts gives back only its own leases, never those of a node still working.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Awaitable, Callable
from typing import Any, Self, TypeVar

import asyncpg

from sealpost.store.errors import StoreError
from sealpost.store.postgres import schema, sql
from sealpost.store.postgres.wakeups import QueueListener
from sealpost.store.postgres.writer import MAX_BATCH, GroupCommitWriter, WriteOp

T = TypeVar("T")
ReadOp = Callable[[asyncpg.Connection], Awaitable[T]]
_CONNECT_TIMEOUT = 10.0


def default_node_id() -> str:
    """``hostname:pid``: unique among live processes, new at every start."""
    return f"{socket.gethostname()}:{os.getpid()}"


class Database:
    """The database at ``url`` (``postgresql://user@host:5432/db``)."""

    def __init__(
        self,
        url: str,
        *,
        node_id: str | None = None,
        readers: int = 4,
        migrate: bool = True,
        max_batch: int = MAX_BATCH,
        worker: int | None = None,
    ) -> None:
        self.url = url
        self.node_id = node_id or default_node_id()
        # What the queue leases and domain slots carry: the node, and the worker's seat
        # when the node runs several (``node/1``; a node id never holds a ``/``).
        self.lease_owner = self.node_id if worker is None else f"{self.node_id}/{worker}"
        self._readers = max(1, readers)
        self._migrate_on_open = migrate
        self._max_batch = max_batch
        self._pool: asyncpg.Pool | None = None
        self._writer: GroupCommitWriter | None = None
        self._commit_observer: Callable[[float], None] | None = None  # StoreGauges
        self._listener: QueueListener | None = None
        self._open_lock = asyncio.Lock()
        self.migrated: tuple[int, int] = (0, 0)

    @property
    def commits(self) -> int:
        """Transactions committed (each one WAL flush); far fewer than writes under load."""
        return self._writer.commits if self._writer else 0

    @property
    def writes(self) -> int:
        """Write operations committed (enqueues, attempts, leases, keys)."""
        return self._writer.writes if self._writer else 0

    # --- lifecycle --------------------------------------------------------------------------
    async def open(self) -> None:
        """Connect, migrate when allowed, start the writer; idempotent."""
        async with self._open_lock:
            if self._writer is not None:
                return
            try:
                await self._open()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                await self._close()
                raise StoreError(f"cannot open queue database {self._where}: {exc}") from exc
            except BaseException:
                await self._close()
                raise

    async def _open(self) -> None:
        conn = await self._connect()
        try:
            if self._migrate_on_open:
                self.migrated = await schema.migrate(conn)
            else:
                version = await schema.current_version(conn)
                self.migrated = (version, version)
        finally:
            await conn.close()
        version = self.migrated[1]
        if version != schema.NEWEST:
            raise StoreError(
                f"queue database {self._where} is at schema version {version}, this Sealpost "
                f"needs {schema.NEWEST}: run `sealpost store migrate`"
            )
        self._pool = await asyncpg.create_pool(
            self.url, min_size=1, max_size=self._readers, timeout=_CONNECT_TIMEOUT
        )
        writer = GroupCommitWriter(self._connect_writer, max_batch=self._max_batch)
        writer.observer = self._commit_observer
        await writer.start()
        self._writer = writer
        self._listener = QueueListener(self._connect)

    async def migrate(self) -> tuple[int, int]:
        """``Lifecycle.migrate``: bring the schema up to date now; (found at open, now)."""
        conn = await self._connect()
        try:
            _, now = await schema.migrate(conn)
        finally:
            await conn.close()
        self.migrated = (self.migrated[0], now)
        return self.migrated

    async def close(self) -> None:
        """Finish pending writes, then close every connection; idempotent."""
        async with self._open_lock:
            await self._close()

    async def _close(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            await writer.stop()
        listener, self._listener = self._listener, None
        if listener is not None:
            await listener.close()
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # --- plumbing ---------------------------------------------------------------------------
    async def _connect(self) -> asyncpg.Connection:
        conn: asyncpg.Connection = await asyncpg.connect(self.url, timeout=_CONNECT_TIMEOUT)
        return conn

    async def _connect_writer(self) -> asyncpg.Connection:
        conn = await self._connect()
        await conn.execute(sql.DURABLE_SESSION)
        return conn

    async def _write(self, op: WriteOp, *, events: bool = False, notify: bool = False) -> Any:
        """Run ``op`` in the writer's next batch; its result once that batch is committed."""
        if self._writer is None:
            raise StoreError("the queue store is not open")
        return await self._writer.submit(op, events=events, notify=notify)

    async def _read(self, op: ReadOp[T]) -> T:
        """Run ``op`` on a pooled connection, inside one read-only snapshot."""
        if self._pool is None:
            raise StoreError("the queue store is not open")
        try:
            async with (
                self._pool.acquire() as conn,
                conn.transaction(isolation="repeatable_read", readonly=True),
            ):
                return await op(conn)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise StoreError(f"queue read failed: {exc}") from exc

    async def wait_for_mail(self, timeout: float) -> bool:
        """``QueueWakeups``: True once any node queued mail since the previous call."""
        return await self._hear(lambda listener: listener.wait(timeout), "new mail")

    async def wait_for_config_change(self, timeout: float) -> frozenset[str]:
        """``ConfigChanges``: the setting kinds any node wrote since the previous call."""
        return await self._hear(lambda listener: listener.wait_config(timeout), "setting changes")

    async def _hear(self, wait: Callable[[QueueListener], Awaitable[T]], what: str) -> T:
        """Run ``wait`` on the LISTEN connection; a lost database is a ``StoreError``."""
        if self._listener is None:
            raise StoreError("the queue store is not open")
        try:
            return await wait(self._listener)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise StoreError(f"cannot listen for {what}: {exc}") from exc

    @property
    def _where(self) -> str:
        """The URL without its password, for messages."""
        head, sep, tail = self.url.partition("://")
        if not sep or "@" not in tail:
            return self.url
        credentials, _, host = tail.rpartition("@")
        return f"{head}://{credentials.split(':', 1)[0]}@{host}"
