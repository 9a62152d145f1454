"""``sealpost queue hold|release|bounce|summary|suspend|resume|suspensions``, and the
selection forms of ``queue retry`` and ``queue cancel``: the operator's queue administration
(``model.queue_admin``), straight on the store, so it works with the server stopped too and,
on PostgreSQL, for every node at once.

A selection names messages by ``--domain`` (a recipient still queued there), ``--sender``,
``--campaign``, ``--older-than``/``--younger-than`` (``90s``, ``15m``, ``2h``, ``3d``) and
``--state``; with no filter the command needs ``--all``. ``--dry-run`` prints the count and
changes nothing. Changes go in batches of 1000 messages, one transaction each, and leave
``admin`` events (``by``: ``cli:<user>``).
"""

from __future__ import annotations

import getpass
import json
import time
from enum import StrEnum
from typing import Annotated

import typer
from rich.table import Table

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
from sealpost.model.queue_admin import (
    AGE_LABELS,
    AdminAction,
    Selection,
    SelectionError,
    Suspension,
    normalize_domain,
    parse_age,
)


def _by() -> str:
    """Who the admin events name: the operating-system user running the CLI."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no name for this uid (a bare container)
        return "cli"


BY = _by()


class SelState(StrEnum):
    queued = "queued"
    deferred = "deferred"
    held = "held"


DomainOpt = Annotated[
    str | None, typer.Option(metavar="DOMAIN", help="A recipient still queued at this domain.")
]
SenderOpt = Annotated[
    str | None, typer.Option(metavar="ADDRESS", help="Envelope sender (<> for bounces).")
]
CampaignOpt = Annotated[str | None, typer.Option(metavar="ID", help="API campaign_id.")]
OlderOpt = Annotated[
    str | None, typer.Option(metavar="AGE", help="Arrived at least this long ago (2h, 3d).")
]
YoungerOpt = Annotated[
    str | None, typer.Option(metavar="AGE", help="Arrived at most this long ago.")
]
StateOpt = Annotated[SelState | None, typer.Option(help="queued, deferred (tried before) or held.")]
AllOpt = Annotated[bool, typer.Option("--all", help="No filter: every message it applies to.")]


def selection(
    domain: str | None,
    sender: str | None,
    campaign: str | None,
    older_than: str | None,
    younger_than: str | None,
    state: SelState | None,
    everything: bool,
) -> Selection:
    try:
        chosen = Selection.of(
            domain=domain,
            sender=sender,
            campaign=campaign,
            older_than=older_than,
            younger_than=younger_than,
            state=state.value if state else None,
        )
    except SelectionError as exc:
        raise fail(f"--{exc.field.replace('_', '-')}: {exc}", 2) from None
    if not chosen.as_dict() and not everything:
        raise fail(
            "no selection: give --domain, --sender, --campaign, --older-than, "
            "--younger-than or --state (or --all for every message)",
            2,
        )
    return chosen


def run_action(
    action: AdminAction, config: ConfigOpt, chosen: Selection, dry_run: bool, json_out: bool
) -> None:
    """Count (``dry_run``) or apply ``action`` to ``chosen`` and say how many."""
    cfg = load(config)
    now = time.time()
    if dry_run:
        count = with_store(cfg, lambda s: s.count_selected(action, chosen, now))
    else:
        count = with_store(cfg, lambda s: s.apply_selection(action, chosen, now, by=BY))
    if json_out:
        result = {
            "action": action.value,
            "selection": chosen.as_dict(),
            "count": count,
            "dry_run": dry_run,
        }
        print(json.dumps(result, indent=2))
        return
    verb = (
        "would " + action.value
        if dry_run
        else {
            AdminAction.HOLD: "held",
            AdminAction.RELEASE: "released",
            AdminAction.RETRY: "made due now",
            AdminAction.CANCEL: "cancelled",
            AdminAction.BOUNCE: "marked for bounce (the running dispatcher sends the DSNs)",
        }[action]
    )
    out.print(literal(f"{verb}: {count} message(s) {chosen.as_dict() or '(all)'}"))


def register(app: typer.Typer) -> None:
    """Add the administration commands to ``sealpost queue``."""

    def action_command(action: AdminAction, doc: str) -> None:
        def command(
            config: ConfigOpt = DEFAULT_CONFIG_PATH,
            domain: DomainOpt = None,
            sender: SenderOpt = None,
            campaign: CampaignOpt = None,
            older_than: OlderOpt = None,
            younger_than: YoungerOpt = None,
            state: StateOpt = None,
            everything: AllOpt = False,
            dry_run: DryRunOpt = False,
            json_out: JsonOpt = False,
        ) -> None:
            chosen = selection(
                domain, sender, campaign, older_than, younger_than, state, everything
            )
            run_action(action, config, chosen, dry_run, json_out)

        command.__doc__ = doc
        app.command(action.value)(command)

    action_command(AdminAction.HOLD, "Hold selected queued mail: never delivered until released.")
    action_command(
        AdminAction.RELEASE,
        "Release mail held by `queue hold` (never local held mail): due now.",
    )
    action_command(
        AdminAction.BOUNCE,
        "Fail selected mail: the dispatcher bounces it with a DSN to the sender.",
    )
    app.command("summary")(queue_summary)
    app.command("suspend")(queue_suspend)
    app.command("resume")(queue_resume)
    app.command("suspensions")(queue_suspensions)


def queue_summary(config: ConfigOpt = DEFAULT_CONFIG_PATH, json_out: JsonOpt = False) -> None:
    """The queue by recipient domain, state and age, like Postfix's qshape (recipients)."""
    cfg = load(config)
    now = time.time()
    rows = with_store(cfg, lambda s: s.queue_summary(now))
    shape: dict[tuple[str, str], list[int]] = {}
    for row in rows:
        shape.setdefault((row.domain, row.state), [0] * len(AGE_LABELS))[row.bucket] += (
            row.recipients
        )
    ordered = sorted(shape.items(), key=lambda kv: (-sum(kv[1]), kv[0]))
    if json_out:
        print(
            json.dumps(
                {
                    "age_buckets": list(AGE_LABELS),
                    "domains": [
                        {"domain": d, "state": s, "recipients": sum(c), "by_age": c}
                        for (d, s), c in ordered
                    ],
                },
                indent=2,
            )
        )
        return
    table = Table(show_edge=False, pad_edge=False)
    table.add_column("domain", overflow="fold")
    table.add_column("state")
    table.add_column("total", justify="right")
    for label in AGE_LABELS:
        table.add_column(label, justify="right")
    totals = [sum(c[i] for _, c in ordered) for i in range(len(AGE_LABELS))]
    table.add_row("TOTAL", "", str(sum(totals)), *map(str, totals), style="bold")
    for (domain, state), counts in ordered:
        table.add_row(literal(domain), state, str(sum(counts)), *map(str, counts))
    out.print(table)


def queue_suspend(
    domain: Annotated[str, typer.Option(metavar="DOMAIN", help="Destination domain.")],
    config: ConfigOpt = DEFAULT_CONFIG_PATH,
    duration: Annotated[
        str | None,
        typer.Option("--for", metavar="AGE", help="How long (2h, 1d); default: until resumed."),
    ] = None,
    reason: Annotated[str, typer.Option(metavar="TEXT", help="Why (shown in the list).")] = "",
) -> None:
    """Suspend delivery to a domain on every node: its mail waits, no attempts counted."""
    try:
        name = normalize_domain(domain)
        seconds = None if duration is None else parse_age(duration, "for")
    except SelectionError as exc:
        raise fail(f"--{exc.field}: {exc}", 2) from None
    if seconds is not None and seconds <= 0:
        raise fail("--for must be positive (leave it out: until resumed)", 2)
    cfg = load(config)
    now = time.time()
    suspension = Suspension(name, now, None if seconds is None else now + seconds, reason, BY)
    parked = with_store(cfg, lambda s: s.suspend_domain(suspension, now))
    until = "until resumed" if suspension.until is None else f"until {when(suspension.until)}"
    out.print(literal(f"suspended {name} {until}; {parked} queued message(s) wait"))


def queue_resume(
    domain: Annotated[str, typer.Option(metavar="DOMAIN", help="Destination domain.")],
    config: ConfigOpt = DEFAULT_CONFIG_PATH,
) -> None:
    """End a domain's suspension: its queued mail is due now."""
    try:
        name = normalize_domain(domain)
    except SelectionError as exc:
        raise fail(f"--domain: {exc}", 2) from None
    cfg = load(config)
    if not with_store(cfg, lambda s: s.resume_domain(name, time.time(), by=BY)):
        raise fail(f"{name} is not suspended; `sealpost queue suspensions` lists them.")
    out.print(literal(f"resumed {name}; its queued mail is due now"))


def queue_suspensions(config: ConfigOpt = DEFAULT_CONFIG_PATH, json_out: JsonOpt = False) -> None:
    """List the domain suspensions in force."""
    cfg = load(config)
    rows = with_store(cfg, lambda s: s.suspensions(time.time()))
    if json_out:
        print(json.dumps([s.as_dict() for s in rows], indent=2))
        return
    table = Table(show_edge=False, pad_edge=False)
    for column in ("domain", "since (UTC)", "until (UTC)", "by", "reason"):
        table.add_column(column, overflow="fold")
    for s in rows:
        until = "resumed by hand" if s.until is None else when(s.until)
        table.add_row(
            literal(s.domain), when(s.created_at), until, literal(s.created_by), literal(s.reason)
        )
    out.print(table)
    out.print(f"{len(rows)} suspension(s)")
