"""``sealpost store migrate``: bring the configured store's schema up to date.

Every node also migrates when it starts; this command does it ahead of a rolling upgrade,
or to check the version. On PostgreSQL it holds the migrations' advisory lock, so it is safe
while nodes start or run (``store.postgres.schema``); SQLite migrates under its write lock.
"""

from __future__ import annotations

import json

import typer

from sealpost.cli.common import DEFAULT_CONFIG_PATH, ConfigOpt, JsonOpt, load, out, with_store

store_app = typer.Typer(help="Look after the queue store itself.", no_args_is_help=True)


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
