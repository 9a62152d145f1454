"""``sealpost queue list|show|retry|cancel``: what is in the queue, for people and (``--json``)
programs. ``held`` mail (for a local domain without a route: it stays here, or held by
``queue hold``) is listed with ``--state held``; ``retry ID`` releases one to the queue, as
Postfix's ``postsuper -H`` does. ``retry`` and ``cancel`` without an id act on a selection,
as do ``hold``, ``release``, ``bounce`` and the suspensions (``cli.queue_admin``)."""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.table import Table

from sealpost.cli import queue_admin as admin
from sealpost.cli.common import (
    DEFAULT_CONFIG_PATH,
    ConfigOpt,
    DryRunOpt,
    JsonOpt,
    fail,
    literal,
    load,
    out,
    when,
    with_store,
)
from sealpost.model.queue import StoredMessage
from sealpost.model.queue_admin import AdminAction

queue_app = typer.Typer(help="Inspect and administer the queue.", no_args_is_help=True)


class State(StrEnum):
    queued = "queued"
    held = "held"
    done = "done"
    cancelled = "cancelled"


@queue_app.command("list")
def queue_list(
    config: ConfigOpt = DEFAULT_CONFIG_PATH,
    state: Annotated[State | None, typer.Option(help="Only messages in this state.")] = None,
    limit: Annotated[int, typer.Option(min=1, metavar="N", help="At most this many rows.")] = 100,
    json_out: JsonOpt = False,
) -> None:
    """List messages, oldest first."""
    cfg = load(config)
    wanted = state.value if state else None
    rows = with_store(cfg, lambda s: s.list(state=wanted, limit=limit))
    if json_out:
        print(json.dumps([asdict(r) for r in rows], indent=2))
        return
    table = Table(show_edge=False, pad_edge=False)
    table.add_column("id", no_wrap=True, min_width=20)  # ids are pasted into `queue show`
    table.add_column("from", overflow="fold")
    table.add_column("rcpts", justify="right")
    table.add_column("size", justify="right")
    table.add_column("state")
    table.add_column("received (UTC)", no_wrap=True)
    table.add_column("tls")
    for r in rows:
        table.add_row(
            r.id,
            literal(r.mail_from or "<>"),
            str(r.recipient_count),
            str(r.size),
            r.state,
            when(r.created_at, short=True),
            r.tls_version or "none",
        )
    out.print(table)
    out.print(f"{len(rows)} message(s)")


def message_as_dict(stored: StoredMessage) -> dict[str, Any]:
    msg = stored.message
    return {
        "id": stored.id,
        "state": stored.state,
        "created_at": stored.created_at,
        "next_attempt_at": stored.next_attempt_at,
        "attempts": stored.attempts,
        "size": stored.size,
        "envelope": asdict(msg.envelope),
        "session": {
            **asdict(msg.session),
            "tls": msg.session.tls.to_dict() if msg.session.tls else None,
        },
        "recipients": [asdict(r) for r in stored.recipients],
        "headers": msg.data.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace"),
    }


@queue_app.command("show")
def queue_show(
    message_id: str, config: ConfigOpt = DEFAULT_CONFIG_PATH, json_out: JsonOpt = False
) -> None:
    """Show one message: envelope, session (with its TLS record), recipients, headers."""
    cfg = load(config)
    stored = with_store(cfg, lambda s: s.get(message_id))
    if stored is None:
        raise fail(f"no message {message_id}; `sealpost queue list` shows the ids.")
    data = message_as_dict(stored)
    if json_out:
        print(json.dumps(data, indent=2, default=str))
        return
    fields = [(k, data[k]) for k in ("id", "state", "size", "attempts")]
    fields += [
        ("received", when(data["created_at"])),
        ("envelope", data["envelope"]),
        ("session", data["session"]),
    ]
    for key, value in fields:
        out.print(f"[bold]{key}[/]: ", literal(value), sep="")
    for r in data["recipients"]:
        out.print(literal(f"  rcpt <{r['address']}> {r['status']} attempts={r['attempts']}"))
    out.print(data["headers"], markup=False, highlight=False)


def _one_or_selected(
    action: AdminAction, doc: str, one: Callable[[Any, str], Awaitable[bool]], done: str
) -> None:
    """``sealpost queue ACTION [MESSAGE_ID]``: ``one`` on the message with that id (``done``
    said when it was there), or without an id ``action`` on a selection (``cli.queue_admin``)."""

    def command(
        message_id: Annotated[str | None, typer.Argument(metavar="MESSAGE_ID")] = None,
        config: ConfigOpt = DEFAULT_CONFIG_PATH,
        domain: admin.DomainOpt = None,
        sender: admin.SenderOpt = None,
        campaign: admin.CampaignOpt = None,
        older_than: admin.OlderOpt = None,
        younger_than: admin.YoungerOpt = None,
        state: admin.StateOpt = None,
        everything: admin.AllOpt = False,
        dry_run: DryRunOpt = False,
        json_out: JsonOpt = False,
    ) -> None:
        if message_id is None:
            chosen = admin.selection(
                domain, sender, campaign, older_than, younger_than, state, everything
            )
            admin.run_action(action, config, chosen, dry_run, json_out)
            return
        cfg = load(config)
        if not with_store(cfg, lambda s: one(s, message_id)):
            raise fail(
                f"no queued or held message {message_id}; "
                "`sealpost queue list --state queued` (or `--state held`) shows them."
            )
        out.print(done.format(message_id=message_id))

    command.__doc__ = doc
    queue_app.command(action.value)(command)


_one_or_selected(
    AdminAction.RETRY,
    "Make a message (or every selected queued one) due now; an id also releases held mail.",
    lambda store, message_id: store.retry_now(message_id, time.time()),
    "{message_id} is due now; a running server picks it up within a second.",
)
_one_or_selected(
    AdminAction.CANCEL,
    "Cancel a message (or every selected one): never tried again, no bounce sent.",
    lambda store, message_id: store.cancel(message_id),
    "cancelled {message_id}",
)


admin.register(queue_app)
