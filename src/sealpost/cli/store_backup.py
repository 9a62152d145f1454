"""``sealpost store backup DEST`` and ``sealpost store restore BACKUP``.

Backup copies the live SQLite queue (the server keeps accepting), checks the copy and prints
its counts; restore puts a backup back while no server has the queue open, keeping the old
file aside (``store.sqlite.backup``). A PostgreSQL store is refused with the engine's own
tools named (docs/operations.md).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table as RichTable

from sealpost.cli.common import DEFAULT_CONFIG_PATH, ConfigOpt, JsonOpt, fail, literal, load, out
from sealpost.cli.store_care import sqlite_file
from sealpost.store.errors import StoreError
from sealpost.store.sqlite.backup import BackupReport
from sealpost.store.sqlite.backup import backup as backup_file
from sealpost.store.sqlite.backup import restore as restore_file

Dest = Annotated[Path, typer.Argument(metavar="DEST", help="The new backup file.")]
Source = Annotated[Path, typer.Argument(metavar="BACKUP", help="The backup file to restore.")]


def backup(dest: Dest, config: ConfigOpt = DEFAULT_CONFIG_PATH, json_out: JsonOpt = False) -> None:
    """Copy the live queue to DEST (the server keeps accepting mail), then verify the copy.

    Exit 1 when the copy fails its integrity check or a count differs."""
    source = sqlite_file(load(config), "backup")
    try:
        report = backup_file(source, dest.absolute())
    except StoreError as exc:
        raise fail(f"store backup: {exc}") from None
    _show(report, json_out, "backup")
    if not report.ok:
        raise typer.Exit(1)


def restore(
    source: Source, config: ConfigOpt = DEFAULT_CONFIG_PATH, json_out: JsonOpt = False
) -> None:
    """Put BACKUP in place of the queue. Stop the server first: refused while any process
    has the queue open. The current file is kept aside (queue.db.before-restore-TIME)."""
    database = sqlite_file(load(config), "restore")
    try:
        report = restore_file(source.absolute(), database)
    except StoreError as exc:
        raise fail(f"store restore: {exc}") from None
    _show(report, json_out, "restore")


def _show(report: BackupReport, json_out: bool, what: str) -> None:
    if json_out:
        print(
            json.dumps(
                {
                    "ok": report.ok,
                    "source": str(report.source),
                    "target": str(report.target),
                    "bytes": report.bytes,
                    "seconds": round(report.seconds, 3),
                    "problems": report.problems,
                    "counts": {t: {"source": a, "copy": b} for t, (a, b) in report.counts.items()},
                    "aside": [str(p) for p in report.aside],
                }
            )
        )
        return
    if report.problems:
        out.print(f"[bold red]the copy fails its integrity check[/]: {literal(report.problems[0])}")
        return
    if what == "backup":
        table = RichTable("table", "rows in the queue", "rows in the copy", "")
        for name, (a, b) in report.counts.items():
            mark = "[green]ok[/]" if a == b else "[bold red]MISMATCH[/]"
            table.add_row(literal(name), str(a), str(b), mark)
        out.print(table)
        verdict = "verified" if report.ok else "[bold red]counts differ: do not rely on it[/]"
        out.print(
            f"{literal(report.target)}: {report.bytes} bytes in {report.seconds:.2f} s, {verdict}"
        )
        return
    messages = report.counts.get("messages", (0, 0))[0]
    out.print(
        f"restored {literal(report.source)} to {literal(report.target)} ({messages} messages)"
    )
    for moved in report.aside:
        out.print(f"kept the previous file as {literal(moved)}")
