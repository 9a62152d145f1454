"""WAL written for one database between two LSNs, read back with ``pg_waldump``.

Owns the attribution. ``pg_current_wal_lsn()`` only counts the whole server's WAL, and on a
shared server other clients write too. So after a window the harness runs the server's own
``pg_waldump`` over the WAL it wrote and sums the records (their total length, full-page
images included) that touch a relation of the database (``rel TBLSPC/DBOID/REL``, or ``db
DBOID``), plus every other record of the same transactions (their COMMIT records). Records
of no transaction of that database (checkpoints, other databases) are left out.

It needs the server on this machine (its ``data_directory`` readable, which root has) and
the WAL still in ``pg_wal``: a checkpoint recycles the segments before its redo point, within
seconds on a busy server, so ``WalReservation`` holds a *temporary* physical replication slot
(``pg_create_physical_replication_slot(name, true, true)``: WAL reserved from now) on a
session of its own for the window; PostgreSQL drops a temporary slot when its session ends,
so a benchmark killed midway leaves nothing that keeps WAL. Without it (no free slot, no
permission) or without ``pg_waldump`` the figure is ``None`` and the report shows ``n/a``.
"""

from __future__ import annotations

import asyncio
import glob
import os
import re
import subprocess
import threading
from collections import defaultdict
from pathlib import Path

import asyncpg

_RECORD = re.compile(r"len \(rec/tot\):\s*\d+/\s*(\d+), tx:\s*(\d+),")
_DATABASE = re.compile(r"(?:rel \d+/(\d+)/\d+| db (\d+))")


class WalReservation:
    """``with WalReservation(admin_url):`` the server keeps every WAL segment written from
    entry until exit (a temporary replication slot on a session held by a thread);
    ``held`` says whether it worked."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self.name = f"sealpost_bench_wal_{os.getpid()}_{id(self)}"
        self.held = False
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="wal-slot", daemon=True)

    def __enter__(self) -> WalReservation:
        self._thread.start()
        self._ready.wait(30)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)

    def _run(self) -> None:
        asyncio.run(self._hold())

    async def _hold(self) -> None:
        try:
            conn = await asyncpg.connect(self.admin_url, timeout=10)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            self._ready.set()
            return
        try:
            await conn.execute(
                "SELECT pg_create_physical_replication_slot($1, true, true)", self.name
            )
            self.held = True
        except asyncpg.PostgresError:
            pass
        finally:
            self._ready.set()
        try:
            while not self._stop.is_set():
                await asyncio.sleep(0.05)
        finally:
            await conn.close()  # a temporary slot goes with its session


def waldump_binary(server_version_num: int) -> Path | None:
    """Debian's ``pg_waldump`` for the server's major version, if installed."""
    major = server_version_num // 10000
    found = sorted(glob.glob(f"/usr/lib/postgresql/{major}/bin/pg_waldump"))
    return Path(found[-1]) if found else None


def attribute(lines: list[str], db_oid: int) -> int:
    """Bytes of WAL in ``lines`` (pg_waldump's output) that belong to database ``db_oid``."""
    ours = str(db_oid)
    per_tx: dict[str, int] = defaultdict(int)
    touching: set[str] = set()
    direct = 0  # records of the database outside any transaction (tx 0)
    for line in lines:
        record = _RECORD.search(line)
        if record is None:
            continue
        size, tx = int(record.group(1)), record.group(2)
        mine = any(ours in (m.group(1), m.group(2)) for m in _DATABASE.finditer(line))
        if tx == "0":
            direct += size if mine else 0
            continue
        per_tx[tx] += size
        if mine:
            touching.add(tx)
    return direct + sum(per_tx[tx] for tx in touching)


def database_wal_bytes(
    waldump: Path | None, data_directory: str, start: str, end: str, db_oid: int
) -> int | None:
    """WAL of database ``db_oid`` between LSNs ``start`` and ``end``; None if unreadable."""
    if waldump is None or start == end:
        return None if waldump is None else 0
    try:
        done = subprocess.run(
            [str(waldump), "-p", f"{data_directory}/pg_wal", "-s", start, "-e", end],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = done.stdout.splitlines()
    if not lines:
        return None
    return attribute(lines, db_oid)
