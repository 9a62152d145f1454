"""``sealpost events [--follow] [--json]``: what happened to each message, attempt by attempt.

Every delivery, delay and bounce event shows the TLS record of its session: the policy and
its source, TLS version and cipher, whether the certificate verified, and any fallback.
``--json`` prints one JSON object per line (the SparkPost event shape), for programs.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Annotated

import typer
from rich.table import Table

from sealpost.cli.common import DEFAULT_CONFIG_PATH, ConfigOpt, JsonOpt, fail, literal, load, out
from sealpost.events.records import public_view
from sealpost.model.events import EventRecord
from sealpost.store import open_store
from sealpost.store.errors import StoreError

EVENT_TYPES = (
    "injection",
    "delivery",
    "delay",
    "bounce",
    "out_of_band",
    "policy_rejection",
    "admin",  # Sealpost: queue administration (model.queue_admin)
)


def _tls_summary(event: EventRecord) -> str:
    tls = event.fields.get("tls")
    if not isinstance(tls, dict):
        return ""
    if not tls.get("version"):
        offered = tls.get("offered")
        text = "plaintext" + (" (STARTTLS not offered)" if offered is False else "")
        return text + (f" [{tls['fallback']}]" if tls.get("fallback") else "")
    verified = {True: "verified", False: "NOT verified", None: "unchecked"}[tls.get("verified")]
    policy = f"{tls.get('level_required')}/{tls.get('policy_source')}"
    return f"{tls['version']} {verified} ({policy})"


def _row(table: Table, event: EventRecord) -> None:
    f = event.fields
    when = time.strftime("%m-%d %H:%M:%S", time.gmtime(event.timestamp))
    detail = f.get("raw_reason") or ""
    table.add_row(
        str(event.event_id),
        when,
        event.type,
        event.message_id,
        literal(event.rcpt_to or ""),
        literal(_tls_summary(event)),
        literal(detail),
    )


def events(
    config: ConfigOpt = DEFAULT_CONFIG_PATH,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new events.")
    ] = False,
    kind: Annotated[
        list[str] | None,
        typer.Option("--type", help=f"Only these types: {', '.join(EVENT_TYPES)}."),
    ] = None,
    message: Annotated[
        str | None, typer.Option("--message", metavar="ID", help="Only this message id.")
    ] = None,
    limit: Annotated[
        int, typer.Option(min=1, metavar="N", help="At most this many (without --follow).")
    ] = 100,
    json_out: JsonOpt = False,
) -> None:
    """Show events, oldest first; --follow waits for new ones (Ctrl-C stops)."""
    cfg = load(config)
    for k in kind or ():
        if k not in EVENT_TYPES:
            raise fail(f"unknown event type {k!r}; use one of {', '.join(EVENT_TYPES)}.")

    async def run() -> None:
        store = open_store(cfg.store.url, base_dir=cfg.base_dir)
        await store.open()
        try:
            after: int | None = None
            while True:
                found = await store.list_events(
                    after=after, limit=limit, types=kind, message_id=message
                )
                if found:
                    after = found[-1].event_id
                    _print(found, json_out)
                if not follow:
                    return
                if not found:
                    await asyncio.sleep(1.0)
        finally:
            await store.close()

    try:
        asyncio.run(run())
    except StoreError as exc:
        raise fail(f"queue store: {exc}") from None
    except KeyboardInterrupt:
        raise typer.Exit(0) from None


def _print(found: list[EventRecord], json_out: bool) -> None:
    if json_out:
        for event in found:
            print(json.dumps(public_view(event), ensure_ascii=False), flush=True)
        return
    table = Table(show_edge=False)
    table.add_column("id", no_wrap=True)
    table.add_column("time (UTC)", no_wrap=True)
    table.add_column("type", no_wrap=True)
    table.add_column("message", no_wrap=True, min_width=20)  # pasted into `queue show`
    for name in ("recipient", "tls", "reply"):
        table.add_column(name, overflow="fold")
    for event in found:
        _row(table, event)
    out.print(table)
