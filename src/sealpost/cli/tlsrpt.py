"""``sealpost tlsrpt send|list``: the TLS reports (RFC 8460) we send, by hand and as built.

``send`` builds one UTC day's reports (default yesterday; ``--date today`` for the day so
far) and delivers them at once: mailto: reports are queued (the running server delivers
them), https: reports are POSTed from this process. A domain already reported for that day
is skipped (one report per domain and day, whoever sent it: the daily run or an earlier
``send``). ``list`` shows what was built: domain, day, report id, and per rua target its
state (queued/posted/failed/pending) and detail.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

import typer
from rich.table import Table

from sealpost.cli.common import (
    DEFAULT_CONFIG_PATH,
    ConfigOpt,
    JsonOpt,
    err,
    fail,
    literal,
    load,
    out,
    when,
    with_store,
)
from sealpost.cli.tlsrpt_received import received
from sealpost.config.model import Config
from sealpost.dns.dnspython_resolver import DnspythonResolver
from sealpost.model.tlsrpt_report import SentReport
from sealpost.tlsrpt import wiring
from sealpost.tlsrpt.send import DomainOutcome

tlsrpt_app = typer.Typer(
    help="TLS reports (RFC 8460): the ones we send, and the ones we receive.",
    no_args_is_help=True,
)


def parse_day(text: str | None, today: date) -> date:
    """``YYYY-MM-DD``, ``today``, or None for yesterday (UTC)."""
    if text is None:
        return today - timedelta(days=1)
    if text == "today":
        return today
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise fail(f"--date {text!r}: use YYYY-MM-DD or today") from None


def report_dict(report: SentReport) -> dict[str, Any]:
    return {
        "domain": report.policy_domain,
        "day": report.day,
        "report_id": report.report_id,
        "created_at": when(report.created_at),
        "targets": [
            {**asdict(t), "state": t.state.value, "updated_at": when(t.updated_at)}
            for t in report.targets
        ],
        "report": report.report,
    }


@tlsrpt_app.command("send")
def send(
    config: ConfigOpt = DEFAULT_CONFIG_PATH,
    day: Annotated[
        str | None,
        typer.Option(
            "--date", metavar="YYYY-MM-DD|today", help="UTC day to report (default yesterday)."
        ),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Build and deliver the reports of one UTC day now."""
    cfg = load(config)
    wanted = parse_day(day, datetime.now(UTC).date())
    outcomes = with_store(cfg, lambda store: _send(cfg, store, wanted))
    if json_out:
        print(json.dumps([_outcome_dict(o) for o in outcomes], indent=2))
        return
    table = Table(show_edge=False, pad_edge=False)
    table.add_column("domain", overflow="fold")
    table.add_column("report id / skipped", overflow="fold")
    table.add_column("targets", overflow="fold")
    for o in outcomes:
        if o.report is None:
            table.add_row(literal(o.domain), literal(f"skipped: {o.skipped}"), "")
            continue
        targets = "\n".join(f"{t.uri}: {t.state.value} {t.detail or ''}" for t in o.report.targets)
        table.add_row(literal(o.domain), literal(o.report.report_id), literal(targets))
    out.print(table)
    sent = sum(1 for o in outcomes if o.report is not None)
    out.print(f"{wanted.isoformat()}: {sent} report(s) built, {len(outcomes)} domain(s) seen")


async def _send(cfg: Config, store: Any, day: date) -> list[DomainOutcome]:
    submission, keys = await wiring.door(cfg, store)
    unsigned = wiring.unsigned_warning(cfg, keys)
    if unsigned:
        err.print(f"[yellow]warning:[/] {unsigned}", markup=True, highlight=False)
    dns = cfg.dns
    resolver = DnspythonResolver(dns.nameservers, timeout=dns.timeout, lifetime=dns.timeout * 2)
    reporter, poster = wiring.reporter(cfg, store, resolver, submission)
    try:
        return await reporter.send_day(day)
    finally:
        await poster.close()


def _outcome_dict(outcome: DomainOutcome) -> dict[str, Any]:
    if outcome.report is None:
        return {"domain": outcome.domain, "skipped": outcome.skipped}
    return report_dict(outcome.report)


@tlsrpt_app.command("list")
def list_reports(
    config: ConfigOpt = DEFAULT_CONFIG_PATH,
    day: Annotated[
        str | None, typer.Option("--date", metavar="YYYY-MM-DD", help="Only this UTC day.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, metavar="N", help="At most this many.")] = 100,
    json_out: JsonOpt = False,
) -> None:
    """Show the reports built, newest day first."""
    cfg = load(config)
    only = parse_day(day, datetime.now(UTC).date()).isoformat() if day else None
    reports = with_store(cfg, lambda store: store.tls_reports(day=only, limit=limit))
    if json_out:
        print(json.dumps([report_dict(r) for r in reports], indent=2))
        return
    table = Table(show_edge=False, pad_edge=False)
    table.add_column("day", no_wrap=True)
    table.add_column("domain", overflow="fold")
    table.add_column("report id", overflow="fold")
    table.add_column("rua", overflow="fold")
    table.add_column("state")
    table.add_column("detail", overflow="fold")
    for r in reports:
        for i, t in enumerate(r.targets or ()):
            first = i == 0
            table.add_row(
                r.day if first else "",
                literal(r.policy_domain) if first else "",
                literal(r.report_id) if first else "",
                literal(t.uri),
                t.state.value,
                literal(t.detail or ""),
            )
    out.print(table)
    out.print(f"{len(reports)} report(s)")


tlsrpt_app.command("received")(received)
