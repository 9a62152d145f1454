"""Is the queue file sound? SQLite's own checks, and the refusal to run on a damaged file.

At every open the server runs ``PRAGMA quick_check`` (the b-trees and their pages, without
matching each index to its table), stopped after ``QUICK_CHECK_SECONDS`` by a progress
handler so that a very large queue does not hold the start for minutes: then it says so in
the log and names ``sealpost store check``, which runs the full ``PRAGMA integrity_check``
(indexes included) on a read-only connection, beside a running server if need be.

A damaged file is never repaired behind the operator's back (a "repair" that drops what
it cannot read would lose acknowledged mail in silence): ``DamagedStore`` names the file,
the problem and the ways back, a backup (``store restore``) or ``store salvage``, which
copies what can still be read into a new file and says what was lost, as Postfix moves an
unreadable queue file to its ``corrupt`` directory rather than guess.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from pathlib import Path

from sealpost.store.errors import DamagedStore, StoreError

log = logging.getLogger("sealpost")

QUICK_CHECK_SECONDS = 5.0
MAX_PROBLEMS = 100  # integrity_check(N) stops after N problems


def quick_check(conn: sqlite3.Connection, seconds: float = QUICK_CHECK_SECONDS) -> list[str] | None:
    """``PRAGMA quick_check`` within ``seconds``: its problems ([] when sound), or ``None``
    when it was stopped for time."""
    deadline = time.monotonic() + seconds
    conn.set_progress_handler(lambda: int(time.monotonic() > deadline), 10_000)
    try:
        rows = conn.execute(f"PRAGMA quick_check({MAX_PROBLEMS})").fetchall()
    except sqlite3.OperationalError as exc:
        if "interrupt" in str(exc).lower():
            return None
        raise
    finally:
        conn.set_progress_handler(None, 0)
    return _problems(rows)


def check_at_open(conn: sqlite3.Connection, path: Path) -> None:
    """The start's quick check: raises ``DamagedStore``, logs when stopped for time."""
    try:
        problems = quick_check(conn, QUICK_CHECK_SECONDS)
    except sqlite3.DatabaseError as exc:  # "database disk image is malformed", ...
        raise DamagedStore(path, [str(exc)]) from exc
    if problems is None:
        size = path.stat().st_size if path.exists() else 0
        log.warning(
            "integrity: the quick check of %s (%d MB) stopped after %g s so that the start "
            "is not held up; run `sealpost store check` for the full check",
            path,
            size // 1_000_000,
            QUICK_CHECK_SECONDS,
        )
    elif problems:
        raise DamagedStore(path, problems)


def integrity_check(path: Path) -> list[str]:
    """The full ``PRAGMA integrity_check`` of ``path``, read-only; [] when sound."""
    if not path.is_file():
        raise StoreError(f"{path}: no such queue database")
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10.0)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open {path}: {exc}") from exc
    try:
        return _problems(conn.execute(f"PRAGMA integrity_check({MAX_PROBLEMS})").fetchall())
    except sqlite3.DatabaseError as exc:
        return [str(exc)]
    finally:
        conn.close()


def _problems(rows: list[tuple[str]]) -> list[str]:
    found = [str(row[0]) for row in rows]
    return [] if found == ["ok"] else found
