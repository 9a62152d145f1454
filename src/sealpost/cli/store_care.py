"""``sealpost store check`` and ``sealpost store salvage``: the queue file's health.

``check`` runs SQLite's full ``integrity_check`` on a read-only connection (a running server
may stay up; the server itself runs the bounded ``quick_check`` at each start). ``salvage
NEW_FILE`` copies what can still be read of a damaged queue into a new file and lists what
was lost (``store.sqlite.salvage``). PostgreSQL has its own tools (docs/operations.md).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table as RichTable

from sealpost.cli.common import DEFAULT_CONFIG_PATH, ConfigOpt, JsonOpt, fail, literal, load, out
from sealpost.config.model import Config
from sealpost.store.errors import StoreError
from sealpost.store.sqlite.database import Database
from sealpost.store.sqlite.integrity import integrity_check
from sealpost.store.sqlite.salvage import SalvageReport, salvage

POSTGRES_ADVICE = (
    "the store is PostgreSQL: use the engine's own tools (pg_amcheck for integrity, "
    "pg_dump / pg_basebackup and point-in-time recovery for backups; docs/operations.md)"
)


def sqlite_file(cfg: Config, command: str) -> Path:
    """The configured queue file, or the end of the command with the right advice."""
    path = cfg.store.sqlite_path
    if path is None:
        if cfg.store.url.startswith("memory"):
            raise fail(f"store {command}: a memory:// store has no file")
        raise fail(f"store {command}: {POSTGRES_ADVICE}")
    return path


def check(config: ConfigOpt = DEFAULT_CONFIG_PATH, json_out: JsonOpt = False) -> None:
    """Run SQLite's full integrity check on the queue file; exit 1 when it is damaged."""
    path = sqlite_file(load(config), "check")
    try:
        problems = integrity_check(path)
    except StoreError as exc:
        raise fail(f"store check: {exc}") from None
    if json_out:
        print(json.dumps({"ok": not problems, "file": str(path), "problems": problems}))
    elif problems:
        out.print(f"[bold red]{literal(path)} is damaged[/]:")
        for problem in problems:
            out.print(literal(f"  {problem}"))
        out.print("Recover with sealpost store restore BACKUP or sealpost store salvage NEW_FILE.")
    else:
        out.print(f"{literal(path)}: [green]ok[/] (integrity_check)")
    if problems:
        raise typer.Exit(1)


NewFile = Annotated[Path, typer.Argument(metavar="NEW_FILE", help="The new file to write.")]


def salvage_command(
    new_file: NewFile, config: ConfigOpt = DEFAULT_CONFIG_PATH, json_out: JsonOpt = False
) -> None:
    """Copy what can still be read of a damaged queue into NEW_FILE and list what was lost.

    The damaged file is only read. Check the result (sealpost store check with a config
    pointing at it), then restore it with sealpost store restore NEW_FILE."""
    source = sqlite_file(load(config), "salvage")

    def create(path: Path) -> None:
        async def make() -> None:
            async with Database(path):
                pass

        asyncio.run(make())

    try:
        report = salvage(source, new_file.absolute(), create)
        problems = integrity_check(report.target)
    except StoreError as exc:
        raise fail(f"store salvage: {exc}") from None
    _show(report, problems, json_out)
    if problems:
        raise typer.Exit(1)


def _show(report: SalvageReport, problems: list[str], json_out: bool) -> None:
    if json_out:
        tables = [
            {
                "table": t.table,
                "copied": t.copied,
                "expected": t.expected,
                "lost": t.lost,
                "read_errors": t.read_errors,
                "skipped_rowids": t.skipped_rowids,
                "errors": t.errors,
            }
            for t in report.tables
        ]
        print(
            json.dumps(
                {
                    "source": str(report.source),
                    "target": str(report.target),
                    "complete": report.complete,
                    "target_ok": not problems,
                    "tables": tables,
                }
            )
        )
        return
    table = RichTable("table", "copied", "in damaged file", "lost", "read errors")
    for t in report.tables:
        if not (t.copied or t.expected or t.read_errors):
            continue
        lost = "?" if t.lost is None else str(t.lost)
        mark = f"[bold red]{lost}[/]" if t.lost != 0 else lost
        expected = "?" if t.expected is None else str(t.expected)
        table.add_row(literal(t.table), str(t.copied), expected, mark, str(t.read_errors))
    out.print(table)
    if report.complete:
        out.print(f"everything was read: {literal(report.target)}")
    else:
        out.print(
            f"[bold]some rows could not be read[/]; what could is in {literal(report.target)}"
        )
    if problems:
        out.print(f"[bold red]the new file fails its own check[/]: {literal(problems[0])}")
