"""``sealpost keys create|list|revoke``: API keys, which are also SMTP AUTH passwords."""

from __future__ import annotations

import json
import time
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
    when,
    with_store,
)
from sealpost.keys import create_key, revoke_key

keys_app = typer.Typer(help="Manage API keys (also SMTP AUTH passwords).", no_args_is_help=True)


@keys_app.command("create")
def keys_create(
    label: Annotated[str, typer.Option(help="What the key is for.")] = "default",
    domain: Annotated[
        list[str] | None,
        typer.Option(
            "--domain",
            help="Sender domain the key may use, exactly (MAIL FROM, every header From and "
            "Sender, DKIM d=); repeat for several; default: any.",
        ),
    ] = None,
    config: ConfigOpt = DEFAULT_CONFIG_PATH,
    json_out: JsonOpt = False,
) -> None:
    """Create an API key. It is shown once; only a salted hash is stored."""
    cfg = load(config)
    domains = tuple(domain or ())
    key, record = with_store(cfg, lambda s: create_key(s, label, time.time(), domains))
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
    out.print(
        literal(f"id {record.id}, label {record.label!r}. Store it now: it cannot be shown again.")
    )
    out.print("SMTP AUTH: user [bold]SMTP_Injection[/], password: the key.")


@keys_app.command("list")
def keys_list(config: ConfigOpt = DEFAULT_CONFIG_PATH, json_out: JsonOpt = False) -> None:
    """List API keys (ids, labels, sender domains; never the keys)."""
    cfg = load(config)
    rows = with_store(cfg, lambda s: s.list_keys())
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
    table = Table("id", "label", "sender domains", "created (UTC)", "status", show_edge=False)
    for r in rows:
        status = "active" if r.active else f"revoked {when(r.revoked_at)}"
        table.add_row(
            r.id, literal(r.label), " ".join(r.sender_domains) or "any", when(r.created_at), status
        )
    out.print(table)


@keys_app.command("revoke")
def keys_revoke(key_id: str, config: ConfigOpt = DEFAULT_CONFIG_PATH) -> None:
    """Revoke an API key by its id (the first 8 characters)."""
    cfg = load(config)
    if not with_store(cfg, lambda s: revoke_key(s, key_id, time.time())):
        raise fail(f"no active key with id {key_id}; `sealpost keys list` shows them.")
    out.print(f"revoked {key_id}")
