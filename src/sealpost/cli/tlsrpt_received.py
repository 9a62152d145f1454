"""``sealpost tlsrpt received [--json] [--domain D] [--since T]``: the TLS-RPT reports
(RFC 8460) other senders sent us, by mail to a local domain or to ``POST
/api/v1/tls-reports``: who reported, which days, which policy domains, how many sessions
succeeded and failed. ``--show ID`` prints one report whole (JSON).
The command joins the ``tlsrpt`` group of ``cli/tlsrpt.py``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.table import Table

from sealpost.cli.common import (
    DEFAULT_CONFIG_PATH,
    ConfigOpt,
    JsonOpt,
    fail,
    literal,
    load,
    out,
    with_store,
)
from sealpost.model.received_report import ReceivedReport, ReportQuery
from sealpost.store.contracts.received_reports import ReceivedTlsReports
from sealpost.tlsrpt.views import parse_utc, summary_view

PAGE = 500


def received(
    config: ConfigOpt = DEFAULT_CONFIG_PATH,
    domain: Annotated[
        str | None, typer.Option("--domain", metavar="D", help="Only reports about this domain.")
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            metavar="TIME",
            help="Only reports whose days end at or after this "
            "UTC time (2026-01-01 or 2026-01-01T06:00:00Z).",
        ),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, metavar="N", help="At most this many.")] = 1000,
    show: Annotated[
        str | None, typer.Option("--show", metavar="ID", help="Print one report whole (JSON).")
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Show the TLS-RPT reports received, oldest first."""
    cfg = load(config)
    start = None
    if since is not None:
        start = parse_utc(since)
        if start is None:
            raise fail(f"--since {since!r}: use a UTC day or time like 2026-01-01T00:00:00Z.")
    if show is not None:
        _show(with_store(cfg, lambda store: store.get_received_report(show)), show)
        return
    name = domain.strip().lower().rstrip(".") if domain else None
    size = min(PAGE, limit)

    async def collect(store: ReceivedTlsReports) -> list[ReceivedReport]:
        found: list[ReceivedReport] = []
        after: str | None = None
        while len(found) < limit:
            query = ReportQuery(domain=name, since=start, after=after, limit=size)
            page = await store.list_received_reports(query)
            found.extend(page)
            if len(page) < size:
                break
            after = page[-1].id
        return found[:limit]

    reports = with_store(cfg, collect)
    if json_out:
        for report in reports:
            print(json.dumps(summary_view(report), ensure_ascii=False), flush=True)
        return
    if not reports:
        out.print("No TLS-RPT reports received" + (f" about {domain}." if domain else "."))
        return
    _table(reports)


def _show(report: ReceivedReport | None, wanted: str) -> None:
    if report is None:
        raise fail(f"no received report {wanted!r}; `sealpost tlsrpt received` lists them.")
    whole = {**summary_view(report), "report": json.loads(report.report_json)}
    print(json.dumps(whole, ensure_ascii=False, indent=2))


def _minute(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M")


def _table(reports: list[ReceivedReport]) -> None:
    table = Table(show_edge=False)
    table.add_column("id", no_wrap=True)
    table.add_column("from (UTC)", no_wrap=True)
    table.add_column("to", no_wrap=True)
    table.add_column("organization", overflow="fold")
    table.add_column("domains", overflow="fold")
    table.add_column("ok", justify="right")
    table.add_column("failed", justify="right")
    table.add_column("via", no_wrap=True)
    for r in reports:
        table.add_row(
            r.id,
            _minute(r.start),
            _minute(r.end),
            literal(r.organization),
            literal(" ".join(r.policy_domains)),
            str(r.successful),
            str(r.failed),
            r.source.value,
        )
    out.print(table)
