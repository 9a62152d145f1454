"""The ``sealpost`` command line: init, serve, queue, keys, store.

Reading commands take ``--json`` for programs; tables are for people. Every error says what
to do next and exits non-zero. Each command group lives in its own module, imported only
when it runs (``command_table``).
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from sealpost.cli.command_table import LazyGroup
from sealpost.cli.common import ConfigOpt, err, fail, load, out
from sealpost.cli.help_style import tidy_help
from sealpost.initdir import DEFAULT_CONFIG, init_directory

# init and serve are defined here; every other command's module is imported when that
# command runs (cli/command_table.py lists them).
app = typer.Typer(
    cls=LazyGroup,
    help="Sealpost: mail delivery, encrypted and authenticated on every hop.",
    no_args_is_help=True,
    add_completion=False,
)


@app.command()
def init(
    dir: Annotated[Path, typer.Option("--dir", help="Directory to initialise.")] = Path("."),
    hostname: Annotated[
        str, typer.Option(metavar="NAME", help="Banner / EHLO name.")
    ] = "mx.example.test",
    production_ports: Annotated[
        bool, typer.Option("--production-ports", help="Listen on 25/587/465 on all addresses.")
    ] = False,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing config.")] = False,
) -> None:
    """Write a commented sealpost.toml, a self-signed dev certificate and the data directory."""
    try:
        made = init_directory(dir, hostname=hostname, dev_ports=not production_ports, force=force)
    except FileExistsError as exc:
        raise fail(f"{exc} already exists; pass --force to overwrite it.") from None
    for path in made:
        out.print(f"[green]wrote[/] {path}")
    out.print(f"Start it with: [bold]sealpost serve -c {dir / DEFAULT_CONFIG}[/]")


@app.command()
def serve(
    config: ConfigOpt = Path(DEFAULT_CONFIG),
    dev: Annotated[
        bool,
        typer.Option(
            "--dev", help="Create a dev config and certificate next to --config when missing."
        ),
    ] = False,
) -> None:
    """Run the server until SIGTERM or Ctrl-C (SIGHUP reloads the config file and certificates)."""
    from sealpost.workers.prefork import pause_collector, resume_collector

    pause_collector()  # until the first fork: start-up's imports without collections (prefork)
    try:
        _serve(config, dev)
    finally:
        resume_collector()  # already on when it started; this covers a start-up that failed


def _serve(config: Path, dev: bool) -> None:
    from sealpost.dkim.keys import DkimKeyError
    from sealpost.dkim.sealing import SealingError
    from sealpost.dns.validation_check import DnssecNotValidating
    from sealpost.node_presence import NodeIdInUse
    from sealpost.observability.logs import configure_logging
    from sealpost.runner import run_server
    from sealpost.store.errors import StoreError

    if dev and not config.exists():
        for path in init_directory(config.parent, hostname="localhost", dev_ports=True):
            err.print(f"[green]first start:[/] wrote {path}")
    cfg = load(config)
    configure_logging(cfg.log.level, cfg.log.format)
    logging.getLogger("sealpost").info(
        "effective config: %s", json.dumps(cfg.effective_summary(), sort_keys=True)
    )
    try:
        run_server(cfg)
    except DkimKeyError as exc:
        raise fail(f"{exc}. Fix or remove that [[dkim.keys]] entry in {config}.") from None
    except DnssecNotValidating as exc:
        raise fail(f"{exc} (in {config})") from None
    except SealingError as exc:
        raise fail(f"{exc} (in {config})") from None
    except NodeIdInUse as exc:
        raise fail(f"{exc} (in {config})") from None
    except StoreError as exc:  # a damaged queue file (store.sqlite.integrity), a newer schema
        raise fail(f"queue store: {exc}") from None
    except OSError as exc:
        raise fail(
            f"cannot listen: {exc}. Is another server on that port? Change the "
            "[[smtp.listeners]] address or [api] address in the config."
        ) from None


def main() -> None:
    command = tidy_help(typer.main.get_command(app))
    try:
        command()
    except KeyboardInterrupt:
        sys.exit(130)
