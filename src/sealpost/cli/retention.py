"""``sealpost purge``: retention and erasure from the command line, straight on the store.

- ``sealpost purge --recipient ADDR``: erase one person's data (GDPR article 17): every
  message with that recipient (its body, envelope and recipients, whatever its state: mail
  still queued to them is not sent), every event whose recipient it is, and its suppression
  entries. Counts first and asks before it deletes (``--yes`` skips the question, ``--dry-run``
  only counts).
- ``sealpost purge --expired``: run one retention round now, with the config's
  ``[retention]`` ages (the server's purger does the same every ``interval``).
- ``sealpost store vacuum``: rewrite a SQLite file with ``auto_vacuum=INCREMENTAL`` (files
  made before schema version 14), so purged space goes back to the file system. Stop the
  server first: VACUUM holds the database for as long as it copies it.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from typing import Annotated, Any

import typer

from sealpost.cli.common import (
    DEFAULT_CONFIG_PATH,
    ConfigOpt,
    DryRunOpt,
    JsonOpt,
    YesOpt,
    fail,
    literal,
    load,
    out,
    with_store,
)
from sealpost.model.retention import Purged
from sealpost.retention.purger import Purger, RetentionSettings
from sealpost.store import sqlite_path
from sealpost.store.errors import StoreError

RecipientOpt = Annotated[
    str | None,
    typer.Option("--recipient", metavar="ADDR", help="Erase everything that names ADDR."),
]
ExpiredOpt = Annotated[
    bool, typer.Option("--expired", help=r"Run one retention round now (\[retention] ages).")
]


def purge(
    recipient: RecipientOpt = None,
    expired: ExpiredOpt = False,
    dry_run: DryRunOpt = False,
    yes: YesOpt = False,
    config: ConfigOpt = DEFAULT_CONFIG_PATH,
    json_out: JsonOpt = False,
) -> None:
    r"""Erase one recipient's data (--recipient ADDR), or purge what \[retention] says expired
    (--expired). Works with the server running or stopped."""
    if (recipient is None) == (not expired):
        raise fail("give either --recipient ADDR or --expired", 2)
    cfg = load(config)
    if expired:
        _purge_expired(cfg, dry_run, json_out)
        return
    assert recipient is not None
    address = recipient.strip()
    if "@" not in address:
        raise fail(f"--recipient {address!r}: not an address (local@domain)", 2)
    found: Purged = with_store(cfg, lambda s: s.erase_recipient(address, dry_run=True))
    if dry_run or found.total == 0:
        _show(address, found, done=False, json_out=json_out, dry_run=dry_run)
        return
    if not yes:
        if json_out:
            raise fail("--json without --dry-run needs --yes (no question is asked)", 2)
        _show(address, found, done=False, json_out=False, dry_run=True)
        if found.queued_messages:
            out.print(
                f"{found.queued_messages} of these message(s) are still queued: they will "
                "not be sent to anyone."
            )
        if not typer.confirm("Delete all of this for good?", default=False):
            raise fail("nothing deleted", 1)
    gone: Purged = with_store(cfg, lambda s: s.erase_recipient(address))
    _show(address, gone, done=True, json_out=json_out, dry_run=False)


def _show(address: str, counts: Purged, *, done: bool, json_out: bool, dry_run: bool) -> None:
    if json_out:
        result: dict[str, Any] = {"recipient": address, "dry_run": dry_run, **counts.as_dict()}
        result.pop("idempotency")
        result.pop("received_reports")
        result.pop("transmissions")
        print(json.dumps(result, indent=2))
        return
    verb = "erased" if done else "found"
    out.print(
        literal(
            f"{verb} for {address}: {counts.messages} message(s) "
            f"({counts.queued_messages} not yet delivered), {counts.events} event(s), "
            f"{counts.suppressions} suppression entr{'y' if counts.suppressions == 1 else 'ies'}"
        )
    )


def _purge_expired(cfg: Any, dry_run: bool, json_out: bool) -> None:
    settings = RetentionSettings(**cfg.retention.model_dump())
    if dry_run:
        raise fail("--expired has no --dry-run: the ages are in [retention]", 2)

    async def work(store: Any) -> dict[str, Any]:
        before = await store.storage_facts()
        report = await Purger(store, settings).run_round()
        after = await store.storage_facts()
        return {
            **report.purged.as_dict(),
            "batches": report.batches,
            "longest_batch_ms": round(report.longest_batch * 1000, 1),
            "pages_returned": report.pages_returned,
            "storage_before": before,
            "storage_after": after,
        }

    result = with_store(cfg, work)
    if json_out:
        print(json.dumps(result, indent=2))
        return
    out.print(
        literal(
            f"purged {result['messages']} message(s), {result['events']} event(s), "
            f"{result['idempotency']} idempotency key(s), {result['received_reports']} "
            f"received report(s), {result['transmissions']} transmission record(s) in "
            f"{result['batches']} batch(es) (longest "
            f"{result['longest_batch_ms']} ms); {result['pages_returned']} free page(s) "
            "returned to the file system"
        )
    )


def vacuum(config: ConfigOpt = DEFAULT_CONFIG_PATH, json_out: JsonOpt = False) -> None:
    """SQLite: switch the file to auto_vacuum=INCREMENTAL and rewrite it (VACUUM), so purged
    space goes back to the file system. Stop the server first."""
    cfg = load(config)
    if not cfg.store.url.lower().startswith("sqlite:"):
        raise fail("store vacuum is for SQLite; PostgreSQL's autovacuum reclaims space", 2)
    with_store(cfg, lambda s: s.migrate())  # the file exists and is current
    path = sqlite_path(cfg.store.url, cfg.base_dir)
    started = time.monotonic()
    try:
        before, after = asyncio.run(asyncio.to_thread(_vacuum_file, str(path)))
    except (sqlite3.Error, StoreError) as exc:
        raise fail(f"store vacuum: {exc} (is the server still running?)") from None
    result = {"file": str(path), "bytes_before": before, "bytes_after": after}
    result["seconds"] = round(time.monotonic() - started, 2)
    if json_out:
        print(json.dumps(result))
    else:
        out.print(
            literal(
                f"{path}: {before:,} -> {after:,} bytes, auto_vacuum=incremental "
                f"({result['seconds']} s)"
            )
        )


def _vacuum_file(path: str) -> tuple[int, int]:
    conn = sqlite3.connect(path, isolation_level=None, timeout=10.0)
    try:
        before = _file_bytes(conn)
        conn.execute("PRAGMA auto_vacuum=INCREMENTAL")
        conn.execute("VACUUM")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        if conn.execute("PRAGMA auto_vacuum").fetchone()[0] != 2:
            raise StoreError("auto_vacuum did not switch to incremental")
        return before, _file_bytes(conn)
    finally:
        conn.close()


def _file_bytes(conn: sqlite3.Connection) -> int:
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    return int(pages * conn.execute("PRAGMA page_size").fetchone()[0])
