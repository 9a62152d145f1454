"""``sealpost store migrate``: bring the configured store's schema up to date.

Every node also migrates when it starts; this command does it ahead of a rolling upgrade,
or to check the version. On PostgreSQL it holds the migrations' advisory lock, so it is safe
while nodes start or run (``store.postgres.schema``); SQLite migrates under its write lock.

``sealpost store copy --from URL --to URL``: move a stopped node's queue to another store
(``store.copy``) and verify the counts per table; exit 1 when a count differs or the copy is
refused.

``store check`` / ``store salvage`` (``cli.store_care``) look after a SQLite queue file's
health; ``store backup`` / ``store restore`` (``cli.store_backup``) copy it live and put a
copy back.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table as RichTable

from sealpost.cli import store_backup, store_care
from sealpost.cli.common import (
    DEFAULT_CONFIG_PATH,
    ConfigOpt,
    JsonOpt,
    err,
    fail,
    literal,
    load,
    out,
    with_store,
)
from sealpost.cli.retention import vacuum
from sealpost.store.copy_tables import Table
from sealpost.store.errors import StoreError

if TYPE_CHECKING:
    from sealpost.store.copy import CopyReport

store_app = typer.Typer(help="Look after the queue store itself.", no_args_is_help=True)
store_app.command("check")(store_care.check)
store_app.command("salvage")(store_care.salvage_command)
store_app.command("backup")(store_backup.backup)
store_app.command("restore")(store_backup.restore)


@store_app.command("migrate")
def migrate(config: ConfigOpt = DEFAULT_CONFIG_PATH, json_out: JsonOpt = False) -> None:
    """Apply every missing schema migration; print the version found and reached."""
    cfg = load(config)
    found, now = with_store(cfg, lambda s: s.migrate())
    if json_out:
        print(json.dumps({"found": found, "now": now}))
    elif found == now:
        out.print(f"schema version {now}: up to date")
    else:
        out.print(f"schema migrated from version {found} to {now}")


FromOpt = Annotated[str, typer.Option("--from", metavar="URL", help="The store to copy from.")]
ToOpt = Annotated[str, typer.Option("--to", metavar="URL", help="The empty store to copy to.")]


@store_app.command("copy")
def copy(source: FromOpt, target: ToOpt, json_out: JsonOpt = False) -> None:
    """Copy a whole queue to an empty store, then compare the counts. Stop every server first.

    Messages (with their states, recipients and attempts), events, API keys, webhooks and
    their delivery state, sending domains and other documents, the MTA-STS policy cache and
    the TLS memory are copied as stored; leases are not. Relative sqlite paths are taken from
    the current directory.
    """
    # Here, not at the top: it loads asyncpg, which `sealpost serve` on SQLite never needs
    # and which would otherwise sit in every worker's memory.
    from sealpost.store.copy import copy_store

    try:
        if json_out:
            report = asyncio.run(copy_store(source, target))
        else:
            with Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=err
            ) as bar:
                tasks: dict[str, int] = {}

                def progress(table: Table, done: int, total: int) -> None:
                    if table.name not in tasks:
                        tasks[table.name] = bar.add_task(table.kind, total=total)
                    bar.update(tasks[table.name], completed=done)

                report = asyncio.run(copy_store(source, target, progress=progress))
    except StoreError as exc:
        if json_out:
            print(json.dumps({"ok": False, "error": str(exc)}))
        raise fail(f"store copy: {exc}") from None
    _show(report, json_out)
    if not report.ok:
        raise typer.Exit(1)


def _show(report: CopyReport, json_out: bool) -> None:
    if json_out:
        counts = [
            {"table": c.table, "kind": c.kind, "source": c.source, "target": c.target}
            for c in report.counts
        ]
        print(json.dumps({"ok": report.ok, "counts": counts}))
        return
    table = RichTable("copied", "source", "target", "")
    for c in report.counts:
        mark = "[green]ok[/]" if c.matches else "[bold red]MISMATCH[/]"
        table.add_row(literal(c.kind), str(c.source), str(c.target), mark)
    out.print(table)
    out.print("counts match" if report.ok else "[bold red]counts differ[/]: do not use the target")


store_app.command("vacuum")(vacuum)  # owned by cli/retention.py, listed after the rest
