"""``sealpost tls-check TARGET``: what a destination's mail TLS really proves (issue 5).

A coloured report for people, ``--json`` (schema ``sealpost.tls-check/1``,
docs/tls-check.md) for programs. Exit codes: 0 secure, 1 works but can be downgraded,
2 mail would fail under the domain's own published policy (or no host answers), 3 usage or
lookup error (bad flags, bad config, DNS failure for the MX lookup).
"""

from __future__ import annotations

import asyncio
import json
import socket
import sys
from pathlib import Path
from typing import Annotated, Any, Protocol, cast

import typer
from rich.panel import Panel
from rich.table import Table
from rich.text import Text
from typer.core import TyperCommand

from sealpost.cli.common import JsonOpt, fail, load, out
from sealpost.dns.dnspython_resolver import DnspythonResolver
from sealpost.smtp.client_encoding import helo_problem
from sealpost.tlscheck import CheckOptions, CheckReport, ExitCode, run_check

USAGE_EXIT = ExitCode.ERROR.value
_GRADE_STYLE = {
    "secure": "bold green",
    "downgradeable": "bold yellow",
    "fails": "bold red",
    "error": "bold magenta",
}


class _ExitCoded(Protocol):
    """What click's UsageError carries: the status the command exits with."""

    exit_code: int


# typer raises its own (vendored) click's UsageError: find it from a public subclass.
_USAGE_ERROR: type[Exception] = next(
    c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError"
)


class TlsCheckCommand(TyperCommand):
    """Usage errors exit 3 here (click's 2 means "fails under its policy" for tls-check)."""

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: Any = None,
        **extra: Any,
    ) -> Any:
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except _USAGE_ERROR as exc:
            cast(_ExitCoded, exc).exit_code = USAGE_EXIT
            raise


def _default_helo() -> str:
    name = socket.getfqdn()
    return name if helo_problem(name) is None and "." in name else "localhost"


def tls_check(
    target: Annotated[str, typer.Argument(help="A domain (its MX hosts) or host[:port].")],
    json_: JsonOpt = False,
    port: Annotated[
        int | None,
        typer.Option("--port", metavar="PORT", min=1, max=65535, help="SMTP port (default 25)."),
    ] = None,
    implicit: Annotated[
        bool, typer.Option("--implicit", help="Implicit TLS (port 465 style), not STARTTLS.")
    ] = False,
    sni: Annotated[
        str | None, typer.Option("--sni", help="Server name to send and verify.")
    ] = None,
    timeout: Annotated[
        float,
        typer.Option(
            "--timeout", metavar="SECONDS", min=0.1, max=120, help="Seconds per probe step."
        ),
    ] = 5.0,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            metavar="FILE",
            help=r"Use \[dns] nameservers and \[delivery] ca_file.",
        ),
    ] = None,
    nameserver: Annotated[
        list[str] | None,
        typer.Option(
            "--nameserver", metavar="ADDRESS", help="Resolver to ask (ip or ip:port); repeatable."
        ),
    ] = None,
    ca_file: Annotated[
        Path | None,
        typer.Option("--ca-file", metavar="FILE", help="Extra trusted CA certificates (PEM)."),
    ] = None,
    mta_sts_port: Annotated[
        int | None,
        typer.Option(
            "--mta-sts-port", metavar="PORT", min=1, max=65535, help="HTTPS port of policy hosts."
        ),
    ] = None,
    helo: Annotated[
        str | None, typer.Option("--helo", metavar="NAME", help="Name to send in EHLO.")
    ] = None,
) -> None:
    """Check a destination's mail TLS: STARTTLS, versions, certificate, MTA-STS, DANE."""
    nameservers = list(nameserver or [])
    https_port = 443
    dnssec = True  # without a config: trust the resolver's AD bit, as dnssec = true does
    if config is not None:
        try:
            cfg = load(config)
        except typer.Exit:
            raise typer.Exit(USAGE_EXIT) from None
        nameservers = nameservers or list(cfg.dns.nameservers)
        ca_file = ca_file or cfg.delivery.ca_file
        https_port = cfg.mta_sts.https_port
        dnssec = cfg.dns.dnssec
        helo = helo or cfg.delivery.helo_name or cfg.server.hostname
    if ca_file is not None and not Path(ca_file).is_file():
        raise fail(f"--ca-file {ca_file}: no such file", USAGE_EXIT)
    helo = helo or _default_helo()
    if helo_problem(helo) is not None:
        raise fail(f"--helo {helo!r}: {helo_problem(helo)}", USAGE_EXIT)
    try:
        resolver = DnspythonResolver(nameservers, timeout=timeout, lifetime=timeout)
    except ValueError as exc:
        raise fail(str(exc), USAGE_EXIT) from None
    options = CheckOptions(
        port=port,
        implicit=implicit,
        sni=sni,
        timeout=timeout,
        ca_file=ca_file,
        helo=helo,
        https_port=mta_sts_port or https_port,
        dnssec=dnssec,
    )
    report = asyncio.run(run_check(target, resolver, options))
    if json_:
        sys.stdout.write(json.dumps(report.to_dict(), indent=2) + "\n")
    else:
        render(report)
    raise typer.Exit(report.exit_code)


def _yes(value: object) -> Text:
    if value is True:
        return Text("yes", style="green")
    if value is False:
        return Text("no", style="red")
    return Text("-")


def render(report: CheckReport) -> None:
    """The report for people (outside text printed literally, never as markup)."""
    data = report.to_dict()
    title = Text(f"TLS check: {data['target']} ({data['kind']}, port {data['port']})")
    if data["kind"] == "domain":
        mx = data["mx"]
        hosts = ", ".join(f"{r['preference']} {r['host']}" for r in mx["records"]) or "-"
        if mx["implicit"]:
            hosts = f"{data['target']} (implicit MX)"
        out.print(title, style="bold")
        out.print(Text(f"MX: {hosts}  DNSSEC: {'secure' if mx['secure'] else 'insecure'}"))
        sts = data["mta_sts"] or {}
        mode = sts.get("mode") or ("invalid" if sts.get("error") else "none")
        line = f"MTA-STS: {mode}"
        if sts.get("policy"):
            line += f" (max_age {sts['policy']['max_age']}, mx {', '.join(sts['policy']['mx'])})"
        if sts.get("error"):
            line += f" - {sts['error']}"
        out.print(Text(line))
        rpt = data["tls_rpt"] or {}
        out.print(Text(f"TLS-RPT: {', '.join(rpt.get('rua') or []) or rpt.get('error') or 'none'}"))
    else:
        out.print(title, style="bold")
    for host in data["hosts"]:
        out.print(_host_table(host))
    verdict = data["verdict"]
    style = _GRADE_STYLE.get(verdict["grade"], "bold")
    body = Text(verdict["summary"] + "\n", style=style)
    for reason in verdict["reasons"]:
        body.append(f"- {reason}\n")
    for fix in verdict["fixes"]:
        body.append(f"fix: {fix}\n", style="cyan")
    out.print(Panel(body, title=f"{verdict['grade']} (exit {verdict['exit_code']})"))


def _host_table(host: dict[str, Any]) -> Table:
    table = Table(title=Text(f"{host['host']}:{host['port']}"), show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value")
    rows: list[tuple[str, Any]] = [
        ("addresses", ", ".join(host["addresses"]) or host["dns_error"] or "-"),
        ("banner", host["banner"] or host["error"] or "-"),
        ("STARTTLS", _yes(host["starttls_offered"])),
    ]
    tls = host["tls"]
    if tls:
        rows.append(("TLS", f"{tls['version']} {tls['cipher']} ({tls['key_exchange']})"))
    elif host["error"]:
        rows.append(("error", f"{host['failed_step']}: {host['error']}"))
    rows.append(("versions", ", ".join(f"{k} {v}" for k, v in host["versions"].items()) or "-"))
    cert = host["certificate"]
    if cert:
        rows.append(("subject", cert["subject"]))
        rows.append(("SANs", ", ".join(cert["sans"]) or "-"))
        rows.append(("issuer", cert["issuer"]))
        rows.append(
            (
                "valid",
                f"{cert['not_before']} .. {cert['not_after']} ({cert['days_left']} days left)",
            )
        )
        rows.append(("key", f"{cert['key_type']} {cert['key_size']}"))
        rows.append(("sha256", cert["sha256"]))
    verification = host["verification"]
    rows.append(("verified", _yes(verification["verified"])))
    if verification["error"]:
        rows.append(("verify error", verification["error"]))
    rows.append(("name match", _yes(verification["name_match"])))
    if host["mta_sts_mx_match"] is not None:
        rows.append(("MTA-STS mx", _yes(host["mta_sts_mx_match"])))
    rows.append(("DANE", host["dane"]["status"]))
    timings = ", ".join(f"{k} {v:g} ms" for k, v in host["timings_ms"].items())
    rows.append(("timings", timings or "-"))
    verdict = host["verdict"] or {}
    rows.append(
        (
            "verdict",
            Text(verdict.get("summary", "-"), style=_GRADE_STYLE.get(verdict.get("grade", ""), "")),
        )
    )
    for name, value in rows:
        table.add_row(name, value if isinstance(value, Text) else Text(str(value)))
    return table
