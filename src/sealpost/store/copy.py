"""``sealpost store copy``: move a node's whole queue from one SQL store to another (a SQLite
file to a PostgreSQL database, or back), then verify the counts.

Made while every server on either store is stopped: leases are not copied (no lease is live)
and a PostgreSQL end with a node whose heartbeat is fresh is refused. The target must be
empty; ``memory://`` is refused (nothing to copy from, nothing would survive). Both stores
are migrated to the newest schema, the rows copied table by table in batches
(``copy_tables``, ``copy_ends``) in one target transaction, and each table counted in source
and target afterwards: the report says whether every count matches.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sealpost.store import open_store, sqlite_path
from sealpost.store.copy_ends import END_ERRORS, CopyEnd, PostgresEnd, SqliteEnd
from sealpost.store.copy_tables import TABLES, Table
from sealpost.store.errors import StoreError

# progress(table, rows copied so far, rows in the source table)
Progress = Callable[[Table, int, int], None]


class CopyRefused(StoreError):
    """The copy was not started: nothing was written to the target."""


@dataclass(frozen=True, slots=True)
class TableCount:
    table: str
    kind: str
    source: int
    target: int

    @property
    def matches(self) -> bool:
        return self.source == self.target


@dataclass(frozen=True, slots=True)
class CopyReport:
    counts: tuple[TableCount, ...]

    @property
    def ok(self) -> bool:
        return all(c.matches for c in self.counts)


async def copy_store(
    source_url: str,
    target_url: str,
    *,
    base_dir: Path | None = None,
    progress: Progress | None = None,
) -> CopyReport:
    """Copy everything at ``source_url`` into the empty store at ``target_url``; the counts."""
    _check_urls(source_url, target_url, base_dir)
    for url in (source_url, target_url):
        store = open_store(url, base_dir)  # creates and migrates: both at the newest schema
        await store.open()
        await store.close()
    source = await _end(source_url, base_dir)
    try:
        target = await _end(target_url, base_dir)
        try:
            await _refuse_live_or_full(source, target)
            await _copy(source, target, progress)
            counts = []
            for t in TABLES:  # counted afterwards, from each database
                counts.append(
                    TableCount(t.name, t.kind, await source.count(t), await target.count(t))
                )
            return CopyReport(tuple(counts))
        finally:
            await target.close()
    finally:
        await source.close()


def _check_urls(source_url: str, target_url: str, base_dir: Path | None) -> None:
    for url in (source_url, target_url):
        if _scheme(url) == "memory":
            raise CopyRefused(
                "memory:// holds nothing durable: copy between sqlite:// and postgresql:// stores"
            )
        open_store(url, base_dir)  # an unsupported url raises here, naming the forms
    if source_url == target_url:
        raise CopyRefused("source and target are the same store")
    if _scheme(source_url) == "sqlite" and not sqlite_path(source_url, base_dir).exists():
        raise CopyRefused(f"source {sqlite_path(source_url, base_dir)} does not exist")


def _scheme(url: str) -> str:
    scheme = url.split(":", 1)[0].lower()
    return "postgresql" if scheme == "postgres" else scheme


async def _end(url: str, base_dir: Path | None) -> CopyEnd:
    if _scheme(url) == "sqlite":
        return SqliteEnd(sqlite_path(url, base_dir))
    return await PostgresEnd.connect(url)


async def _refuse_live_or_full(source: CopyEnd, target: CopyEnd) -> None:
    for name, end in (("source", source), ("target", target)):
        live = await end.live_nodes()
        if live:
            raise CopyRefused(
                f"{live} node(s) still run on the {name} store (a heartbeat in the last "
                "30 s): stop every server first"
            )
    held = [f"{n} {t.kind}" for t in TABLES if (n := await target.count(t))]
    if held:
        raise CopyRefused(
            f"the target store is not empty ({', '.join(held)}): copy only into an empty store"
        )


async def _copy(source: CopyEnd, target: CopyEnd, progress: Progress | None) -> None:
    await target.begin()
    for table in TABLES:
        try:
            await _copy_table(source, target, table, progress)
        except END_ERRORS as exc:
            raise StoreError(
                f"copying {table.kind} failed, the target was left empty: {exc}"
            ) from exc
    try:
        await target.commit()
    except END_ERRORS as exc:
        raise StoreError(f"committing the copy failed, the target was left empty: {exc}") from exc


async def _copy_table(
    source: CopyEnd, target: CopyEnd, table: Table, progress: Progress | None
) -> None:
    total = await source.count(table)
    done = 0
    if progress:
        progress(table, done, total)
    async for rows in source.batches(table):
        await target.write(table, rows)
        done += len(rows)
        if progress:
            progress(table, done, total)
