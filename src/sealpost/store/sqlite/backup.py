"""``store backup`` and ``store restore`` of a SQLite queue.

Backup: SQLite's online backup API (``sqlite3_backup``) copies the live file in one step
inside one read transaction. In WAL mode a reader never blocks the writer, so the server
goes on acknowledging mail while the copy runs; the copy is the queue as of the moment its
read transaction began (every message acknowledged before that is in it). The same
transaction counts the rows of each table first; the copy is then checked with
``integrity_check`` and counted again, and the two counts must match. It is written to
``DEST.partial``, fsynced and renamed, so ``DEST`` is whole or absent.

Restore: only while no process has the queue open (``holders``: the exclusive lock is taken
without waiting, and held until the new file is in place). The backup is checked first; the
current file and its ``-wal``/``-shm`` are moved aside, not deleted
(``queue.db.before-restore-<UTC time>``), and the backup is copied in (fsynced) under the
configured name, private (0600).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

from sealpost.store.errors import StoreError
from sealpost.store.file_modes import create_private_file
from sealpost.store.sqlite import holders
from sealpost.store.sqlite.integrity import integrity_check


@dataclass(slots=True)
class BackupReport:
    source: Path
    target: Path
    bytes: int = 0
    seconds: float = 0.0
    counts: dict[str, tuple[int, int]] = field(default_factory=dict)  # table: (source, copy)
    problems: list[str] = field(default_factory=list)
    aside: list[Path] = field(default_factory=list)  # restore: where the old files went

    @property
    def ok(self) -> bool:
        return not self.problems and all(a == b for a, b in self.counts.values())


def tables(conn: sqlite3.Connection) -> list[str]:
    rows = conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
        "ORDER BY name"
    ).fetchall()
    return [row[0] for row in rows]


def count_rows(conn: sqlite3.Connection) -> dict[str, int]:
    return {t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables(conn)}


def backup(source: Path, target: Path) -> BackupReport:
    """A verified copy of the live queue ``source`` at ``target`` (which must not exist)."""
    if not source.is_file():
        raise StoreError(f"{source}: no such queue database")
    if target.exists():
        raise StoreError(f"{target} exists: back up to a new file")
    if not target.parent.is_dir():
        raise StoreError(f"{target.parent}: no such directory")
    partial = Path(f"{target}.partial")
    partial.unlink(missing_ok=True)
    report = BackupReport(source, target)
    started = time.monotonic()
    src = sqlite3.connect(source, isolation_level=None, timeout=10.0)
    try:
        src.execute("PRAGMA busy_timeout=10000")
        create_private_file(partial)
        dst = sqlite3.connect(partial, isolation_level=None)
        try:
            src.execute("BEGIN")  # one snapshot: the counts and the copy see the same queue
            before = count_rows(src)
            src.backup(dst)  # one step, inside the read transaction: no restart under load
            src.execute("ROLLBACK")
            dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
        finally:
            dst.close()
    except sqlite3.Error as exc:
        partial.unlink(missing_ok=True)
        raise StoreError(f"backup of {source} failed: {exc}") from exc
    finally:
        src.close()
    _fsync(partial)
    os.replace(partial, target)
    _fsync_dir(target.parent)
    report.seconds = time.monotonic() - started
    report.bytes = target.stat().st_size
    _verify(report, before)
    return report


def restore(backup_file: Path, database: Path) -> BackupReport:
    """Put ``backup_file`` in place of ``database`` (no process may have it open)."""
    report = BackupReport(backup_file, database)
    report.problems = integrity_check(backup_file)
    if report.problems:
        raise StoreError(f"{backup_file} fails its integrity check: {report.problems[0]}")
    database.parent.mkdir(parents=True, exist_ok=True)
    held = holders.try_exclusive(database)
    if held is None:
        raise StoreError(
            f"{database} is open in another process (a running sealpost server or command): "
            "stop the server (every node using this file) before a restore"
        )
    try:
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        aside = Path(f"{database}.before-restore-{stamp}")
        for suffix in ("", "-wal", "-shm"):
            current = Path(f"{database}{suffix}")
            if current.exists():
                moved = Path(f"{aside}{suffix}")
                os.replace(current, moved)
                report.aside.append(moved)
        partial = Path(f"{database}.partial")
        partial.unlink(missing_ok=True)
        create_private_file(partial)
        with open(backup_file, "rb") as src, open(partial, "r+b") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
            dst.flush()
            os.fsync(dst.fileno())
        os.replace(partial, database)
        _fsync_dir(database.parent)
    finally:
        holders.release(held)
    report.bytes = database.stat().st_size
    conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        counts = count_rows(conn)
    finally:
        conn.close()
    report.counts = {t: (n, n) for t, n in counts.items()}
    return report


def _verify(report: BackupReport, before: dict[str, int]) -> None:
    report.problems = integrity_check(report.target)
    if report.problems:
        return
    conn = sqlite3.connect(f"file:{report.target}?mode=ro", uri=True)
    try:
        after = count_rows(conn)
    finally:
        conn.close()
    report.counts = {t: (before.get(t, -1), after.get(t, -1)) for t in sorted({*before, *after})}


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
