"""The ``sealpost`` command line: init, serve, queue, keys.

Reading commands take ``--json`` for programs; tables are for people. Every error says what
to do next and exits non-zero.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from sealpost.config.loader import ConfigError, load_config
from sealpost.config.model import Config
from sealpost.initdir import DEFAULT_CONFIG, init_directory
from sealpost.store import open_store
from sealpost.store.base import StoreError

app = typer.Typer(
    help="Sealpost: mail delivery, encrypted and authenticated on every hop.",
    no_args_is_help=True,
    add_completion=False,
)
queue_app = typer.Typer(help="Inspect the queue.", no_args_is_help=True)
keys_app = typer.Typer(help="Manage API keys (also SMTP AUTH passwords).", no_args_is_help=True)
app.add_typer(queue_app, name="queue")
app.add_typer(keys_app, name="keys")

out = Console()
err = Console(stderr=True)
T = TypeVar("T")

ConfigOpt = Annotated[Path, typer.Option("--config", "-c", help="Path to sealpost.toml.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


def fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code)


def _load(path: Path) -> Config:
    if not path.exists():
        raise fail(
            f"config file {path} not found. Create one with `sealpost init --dir "
            f"{path.parent}` or start with `sealpost serve --dev`.",
            2,
        )
    try:
        return load_config(path)
    except ConfigError as exc:
        raise fail(f"{path}: {exc}", 2) from None


def _with_store(cfg: Config, work: Callable[[Any], Awaitable[T]]) -> T:
    async def run() -> T:
        store = open_store(cfg.store.url, base_dir=cfg.base_dir)
        await store.open()
        try:
            return await work(store)
        finally:
            await store.close()

    try:
        return asyncio.run(run())
    except StoreError as exc:
        raise fail(f"queue store: {exc}") from None


def _when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


@app.command()
def init(
    dir: Annotated[Path, typer.Option("--dir", help="Directory to initialise.")] = Path("."),
    hostname: Annotated[str, typer.Option(help="Banner / EHLO name.")] = "mx.example.test",
    production_ports: Annotated[
        bool, typer.Option("--production-ports", help="Listen on 25/587/465 on all addresses.")
    ] = False,
    force: Annotated[bool, typer.Option(help="Overwrite an existing config.")] = False,
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
    """Run the server until SIGTERM or Ctrl-C (SIGHUP reloads certificates)."""
    from sealpost.observability import configure_logging
    from sealpost.runner import run_server

    if dev and not config.exists():
        for path in init_directory(config.parent, hostname="localhost", dev_ports=True):
            err.print(f"[green]first start:[/] wrote {path}")
    cfg = _load(config)
    configure_logging(cfg.log.level, cfg.log.format)
    logging.getLogger("sealpost").info(
        "effective config: %s", json.dumps(cfg.effective_summary(), sort_keys=True)
    )
    try:
        run_server(cfg)
    except OSError as exc:
        raise fail(
            f"cannot listen: {exc}. Is another server on that port? Change "
            "[[smtp.listeners]] address in the config."
        ) from None


@queue_app.command("list")
def queue_list(
    config: ConfigOpt = Path(DEFAULT_CONFIG),
    state: Annotated[str | None, typer.Option(help="queued | done | cancelled")] = None,
    limit: Annotated[int, typer.Option(help="At most this many rows.")] = 100,
    json_out: JsonOpt = False,
) -> None:
    """List queued messages, oldest first."""
    cfg = _load(config)
    rows = _with_store(cfg, lambda s: s.list(state=state, limit=limit))
    if json_out:
        print(json.dumps([asdict(r) for r in rows], indent=2))
        return
    table = Table("id", "from", "rcpts", "size", "state", "received", "next attempt", "tls")
    for r in rows:
        table.add_row(
            r.id,
            r.mail_from or "<>",
            str(r.recipient_count),
            str(r.size),
            r.state,
            _when(r.created_at),
            _when(r.next_attempt_at),
            r.tls_version or "none",
        )
    out.print(table)
    out.print(f"{len(rows)} message(s)")


def message_as_dict(stored: Any) -> dict[str, Any]:
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
    message_id: str, config: ConfigOpt = Path(DEFAULT_CONFIG), json_out: JsonOpt = False
) -> None:
    """Show one message: envelope, session (with its TLS record), recipients, headers."""
    cfg = _load(config)
    stored = _with_store(cfg, lambda s: s.get(message_id))
    if stored is None:
        raise fail(f"no message {message_id}; `sealpost queue list` shows the ids.")
    data = message_as_dict(stored)
    if json_out:
        print(json.dumps(data, indent=2, default=str))
        return
    for key in ("id", "state", "size", "attempts"):
        out.print(f"[bold]{key}[/]: {data[key]}")
    out.print(f"[bold]received[/]: {_when(data['created_at'])}")
    out.print(f"[bold]envelope[/]: {data['envelope']}")
    out.print(f"[bold]session[/]: {data['session']}")
    for r in data["recipients"]:
        out.print(f"  rcpt <{r['address']}> {r['status']} attempts={r['attempts']}")
    out.print(data["headers"])


@keys_app.command("create")
def keys_create(
    label: Annotated[str, typer.Option(help="What the key is for.")] = "default",
    domain: Annotated[
        list[str] | None,
        typer.Option(
            "--domain",
            help="Sender domain the key may use in MAIL FROM (repeat for several; default: any).",
        ),
    ] = None,
    config: ConfigOpt = Path(DEFAULT_CONFIG),
    json_out: JsonOpt = False,
) -> None:
    """Create an API key. It is shown once; only a salted hash is stored."""
    from sealpost.keys import create_key

    cfg = _load(config)
    domains = tuple(domain or ())
    key, record = _with_store(cfg, lambda s: create_key(s, label, time.time(), domains))
    if json_out:
        shown = {
            "id": record.id,
            "label": record.label,
            "key": key,
            "sender_domains": list(record.sender_domains),
        }
        print(json.dumps(shown))
        return
    out.print(f"[bold green]{key}[/]")
    out.print(f"id {record.id}, label {record.label!r}. Store it now: it cannot be shown again.")
    out.print("SMTP AUTH: user [bold]SMTP_Injection[/], password: the key.")


@keys_app.command("list")
def keys_list(config: ConfigOpt = Path(DEFAULT_CONFIG), json_out: JsonOpt = False) -> None:
    """List API keys (ids and labels only)."""
    cfg = _load(config)
    rows = _with_store(cfg, lambda s: s.list_keys())
    if json_out:
        print(
            json.dumps(
                [
                    {
                        "id": r.id,
                        "label": r.label,
                        "created_at": r.created_at,
                        "revoked_at": r.revoked_at,
                        "sender_domains": list(r.sender_domains),
                    }
                    for r in rows
                ]
            )
        )
        return
    table = Table("id", "label", "sender domains", "created", "status")
    for r in rows:
        table.add_row(
            r.id,
            r.label,
            " ".join(r.sender_domains) or "any",
            _when(r.created_at),
            "active" if r.active else f"revoked {_when(r.revoked_at)}",
        )
    out.print(table)


@keys_app.command("revoke")
def keys_revoke(key_id: str, config: ConfigOpt = Path(DEFAULT_CONFIG)) -> None:
    """Revoke an API key by its id (the first 8 characters)."""
    from sealpost.keys import revoke_key

    cfg = _load(config)
    if not _with_store(cfg, lambda s: revoke_key(s, key_id, time.time())):
        raise fail(f"no active key with id {key_id}; `sealpost keys list` shows them.")
    out.print(f"revoked {key_id}")


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
