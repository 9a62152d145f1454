"""``store salvage``: copy what can still be read of a damaged queue file into a new one.

The new file gets the current schema (``Database.open``), then every table is read from the
damaged file on a read-only connection and written to the new one. Tables with a rowid are
read in rowid order, a row at a time once a read fails: where a page cannot be read the
salvage jumps over rowids (1, 2, 4, ... further) until it finds rows again, and counts the
rowids it had to skip. Tables WITHOUT ROWID (small ones: keys, documents, leases) are
read to their first unreadable page. Nothing is written to the damaged file. The report
says, per table, what was copied and what was lost; rows that point at a lost message
(recipients, attempts) are kept, and ``store check`` of the new file passes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sealpost.store.errors import StoreError

BATCH = 500
MAX_JUMP = 2**62


@dataclass(slots=True)
class TableSalvage:
    table: str
    copied: int = 0
    expected: int | None = None  # count(*) in the damaged file, when it could be read
    read_errors: int = 0
    skipped_rowids: int = 0  # rowid range jumped over (an upper bound of the rows lost)
    errors: list[str] = field(default_factory=list)

    @property
    def lost(self) -> int | None:
        """Rows the damaged file counted but the copy could not read (None: uncountable)."""
        if self.expected is None:
            return None if self.read_errors else 0
        return max(0, self.expected - self.copied)


@dataclass(slots=True)
class SalvageReport:
    source: Path
    target: Path
    tables: list[TableSalvage]

    @property
    def complete(self) -> bool:
        return all(t.read_errors == 0 and t.lost == 0 for t in self.tables)


def salvage(source: Path, target: Path, create: Callable[[Path], None]) -> SalvageReport:
    """Copy ``source`` into the new file ``target`` (made by ``create``: the schema)."""
    if not source.is_file():
        raise StoreError(f"{source}: no such queue database")
    if target.exists():
        raise StoreError(f"{target} exists: salvage writes a new file only")
    create(target)
    old = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=10.0)
    new = sqlite3.connect(target, isolation_level=None)
    try:
        tables = [_table(old, new, name, rowid) for name, rowid in _tables(new)]
        new.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        old.close()
        new.close()
    return SalvageReport(source, target, tables)


def _tables(new: sqlite3.Connection) -> list[tuple[str, bool]]:
    rows = new.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'table' "
        "AND name NOT LIKE 'sqlite_%' AND name != 'schema_version' ORDER BY name"
    ).fetchall()
    return [(name, "WITHOUT ROWID" not in (text or "").upper()) for name, text in rows]


def _table(
    old: sqlite3.Connection, new: sqlite3.Connection, name: str, rowid: bool
) -> TableSalvage:
    report = TableSalvage(name)
    columns = [row[1] for row in new.execute(f'PRAGMA table_info("{name}")')]
    try:
        old_columns = {row[1] for row in old.execute(f'PRAGMA table_info("{name}")')}
    except sqlite3.DatabaseError as exc:
        report.read_errors += 1
        report.errors.append(str(exc))
        return report
    columns = [c for c in columns if c in old_columns]
    if not columns:
        return report
    names = ", ".join(f'"{c}"' for c in columns)
    insert = f'INSERT OR IGNORE INTO "{name}" ({names}) VALUES ({", ".join("?" * len(columns))})'
    try:
        report.expected = old.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0]
    except sqlite3.DatabaseError:
        report.expected = None
    new.execute("BEGIN")
    try:
        if rowid:
            _by_rowid(old, new, name, names, insert, report)
        else:
            _scan(old, new, name, names, insert, report)
        new.execute("COMMIT")
    except BaseException:
        new.execute("ROLLBACK")
        raise
    return report


def _scan(
    old: sqlite3.Connection,
    new: sqlite3.Connection,
    name: str,
    names: str,
    insert: str,
    report: TableSalvage,
) -> None:
    try:
        for row in old.execute(f'SELECT {names} FROM "{name}"'):
            new.execute(insert, row)
            report.copied += 1
    except sqlite3.DatabaseError as exc:
        report.read_errors += 1
        report.errors.append(str(exc))


def _by_rowid(
    old: sqlite3.Connection,
    new: sqlite3.Connection,
    name: str,
    names: str,
    insert: str,
    report: TableSalvage,
) -> None:
    select = f'SELECT rowid, {names} FROM "{name}" WHERE rowid > ? ORDER BY rowid LIMIT ?'
    after = -(2**63)
    limit = BATCH
    while True:
        try:
            rows = old.execute(select, (after, limit)).fetchall()
        except sqlite3.DatabaseError as exc:
            if limit > 1:  # read on one row at a time up to the damage
                limit = 1
                continue
            report.read_errors += 1
            if len(report.errors) < 10:
                report.errors.append(f"after rowid {after}: {exc}")
            jumped = _jump(old, select, after)
            if jumped is None:
                return
            report.skipped_rowids += jumped - after
            after = jumped
            continue
        if not rows:
            return
        for row in rows:
            new.execute(insert, row[1:])
            report.copied += 1
        after = rows[-1][0]
        limit = BATCH


def _jump(old: sqlite3.Connection, select: str, after: int) -> int | None:
    """The first rowid past ``after`` from which rows can be read again (exclusive start)."""
    step = 1
    while step < MAX_JUMP:
        start = after + step - 1  # rows from after + step on
        try:
            old.execute(select, (start, 1)).fetchall()
        except sqlite3.DatabaseError:
            step *= 2
            continue
        return start
    return None
