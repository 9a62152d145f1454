"""The PostgreSQL side of the cluster cases: a scratch database per run, and what the server
spent on it.

Owns two things. ``ScratchDatabase``: ``sealpost_bench_<pid>_<n>`` created on the server at
``--pg-url`` (default ``postgresql://postgres@127.0.0.1:5432/postgres``) and dropped ``WITH
(FORCE)`` afterwards, whatever happened. ``PgMonitor``: over one measurement window,

- the CPU (user + system) of the **backends serving that database**, found by their process
  title (``postgres: ... <user> <database> <client> <state>``, PostgreSQL's default
  ``update_process_title``) under the postmaster, sampled every ``interval`` seconds: a
  backend that exits between samples loses at most its last interval (the nodes' connections
  live for the whole window);
- the CPU of the **whole server** (the postmaster's tree with its reaped children, so
  walwriter, checkpointer, autovacuum and every backend): on a shared server this includes
  every other client, so it is reported apart;
- the **WAL** written: server-wide (``pg_wal_lsn_diff`` of ``pg_current_wal_lsn()`` before
  and after), and that database's share of it (``bench.pg_wal``: ``pg_waldump`` over the
  window, records of the database's transactions);
- the peak number of backends on the database (the nodes' connections).

The process figures need the server on this machine (psutil reads ``/proc``); for a remote
server they are ``None`` and only the WAL is reported.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import threading
import time
from dataclasses import dataclass
from types import TracebackType

import asyncpg
import psutil

from bench.pg_wal import WalReservation, database_wal_bytes, waldump_binary
from bench.resources import tree_cpu_seconds

DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
_serial = itertools.count(1)


def with_database(url: str, name: str) -> str:
    """``url`` pointing at database ``name`` instead."""
    return url.rsplit("/", 1)[0] + "/" + name


async def _admin(url: str, sql: str) -> object:
    conn = await asyncpg.connect(url, timeout=10)
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


def admin_value(url: str, sql: str) -> object:
    """One value of ``sql`` on ``url`` (outside any transaction: CREATE DATABASE works)."""
    return asyncio.run(_admin(url, sql))


class ScratchDatabase:
    """``with ScratchDatabase(admin_url) as db:`` then ``db.url``; dropped on exit."""

    def __init__(self, admin_url: str = DEFAULT_PG_URL) -> None:
        self.admin_url = admin_url
        self.name = f"sealpost_bench_{os.getpid()}_{next(_serial)}"
        self.url = with_database(admin_url, self.name)

    def __enter__(self) -> ScratchDatabase:
        admin_value(self.admin_url, f'CREATE DATABASE "{self.name}"')
        return self

    def __exit__(self, *exc: object) -> None:
        admin_value(self.admin_url, f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    def value(self, sql: str) -> object:
        """One value of ``sql`` on the scratch database."""
        return admin_value(self.url, sql)


@dataclass(frozen=True)
class PgUsage:
    """What the PostgreSQL server spent during one window (None: not measurable here)."""

    backend_cpu_seconds: float | None  # backends of the scratch database
    server_cpu_seconds: float | None  # the whole server, every client included
    wal_bytes: int  # server-wide
    peak_backends: int | None  # connections to the scratch database
    db_wal_bytes: int | None = None  # the scratch database's transactions (pg_waldump)

    def to_dict(self) -> dict[str, object]:
        return {
            "pg_backend_cpu_s": _round(self.backend_cpu_seconds),
            "pg_server_cpu_s": _round(self.server_cpu_seconds),
            "pg_wal_bytes": self.wal_bytes,
            "pg_db_wal_bytes": self.db_wal_bytes,
            "pg_peak_backends": self.peak_backends,
        }


def postmaster_pid(url: str) -> int | None:
    """The postmaster's pid when the server runs on this machine, else None (asked while
    the backend that answers is still alive: its parent is the postmaster)."""

    async def find() -> int | None:
        conn = await asyncpg.connect(url, timeout=10)
        try:
            backend = int(await conn.fetchval("SELECT pg_backend_pid()"))
            try:
                parent = psutil.Process(backend).parent()
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                return None
            return parent.pid if parent is not None and "postgres" in parent.name() else None
        finally:
            await conn.close()

    return asyncio.run(find())


def wal_lsn(url: str) -> str:
    return str(admin_value(url, "SELECT pg_current_wal_lsn()::text"))


def wal_bytes_between(url: str, before: str, after: str) -> int:
    sql = f"SELECT pg_wal_lsn_diff('{after}'::pg_lsn, '{before}'::pg_lsn)::bigint"
    return int(str(admin_value(url, sql)))


class PgMonitor:
    """``with PgMonitor(db) as monitor: ...`` then ``monitor.usage``."""

    def __init__(self, db: ScratchDatabase, interval: float = 0.25) -> None:
        self.db = db
        self.interval = interval
        self.usage: PgUsage | None = None
        self._master = postmaster_pid(db.admin_url)
        self._waldump = None
        self._data_directory = ""
        self._oid = 0
        self._reservation: WalReservation | None = None
        if self._master is not None:
            version = int(str(admin_value(db.admin_url, "SHOW server_version_num")))
            self._oid = int(
                str(db.value("SELECT oid FROM pg_database WHERE datname = current_database()"))
            )
            try:  # a superuser (or pg_read_all_settings) may read it
                self._data_directory = str(admin_value(db.admin_url, "SHOW data_directory"))
                self._waldump = waldump_binary(version)
            except asyncpg.PostgresError:
                self._waldump = None  # no WAL attribution: reported as n/a
        self._first: dict[int, float] = {}  # backend pid -> CPU at its first sample
        self._last: dict[int, float] = {}
        self._peak = 0
        self._since = 0.0
        self._server_start = 0.0
        self._lsn = ""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pg-monitor", daemon=True)

    def __enter__(self) -> PgMonitor:
        if self._waldump is not None:  # keep the window's WAL until pg_waldump has read it
            self._reservation = WalReservation(self.db.admin_url).__enter__()
        self._lsn = wal_lsn(self.db.admin_url)
        self._since = time.time()
        if self._master is not None:
            self._server_start = tree_cpu_seconds(self._master)
            self._sample(first=True)
            self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        backend = server = None
        if self._master is not None:
            self._stop.set()
            self._thread.join(5)
            self._sample()
            backend = sum(self._last[pid] - self._first[pid] for pid in self._last)
            server = max(0.0, tree_cpu_seconds(self._master) - self._server_start)
        end = wal_lsn(self.db.admin_url)
        wal = wal_bytes_between(self.db.admin_url, self._lsn, end)
        peak = self._peak if self._master is not None else None
        db_wal = database_wal_bytes(self._waldump, self._data_directory, self._lsn, end, self._oid)
        self.usage = PgUsage(backend, server, wal, peak, db_wal)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def _sample(self, first: bool = False) -> None:
        assert self._master is not None
        needle = f" {self.db.name} "
        count = 0
        try:
            children = psutil.Process(self._master).children()
        except psutil.NoSuchProcess:
            return
        for proc in children:
            with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                if needle not in " ".join(proc.cmdline()) + " ":
                    continue
                times = proc.cpu_times()
                cpu = times.user + times.system
                count += 1
                if proc.pid not in self._first:  # born in the window: counted from birth
                    born_before = first or proc.create_time() < self._since
                    self._first[proc.pid] = cpu if born_before else 0.0
                self._last[proc.pid] = cpu
        self._peak = max(self._peak, count)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
