"""``sealpost keys create|list|revoke``: API keys, which are also SMTP AUTH passwords.

Each key carries grants (``model/grants.py``): ``--grant`` sets them, and a key created
without any ``--grant`` gets every grant, which the command says.
"""

from __future__ import annotations

import json
import time
from typing import Annotated

import typer
from rich.table import Table

from sealpost.api_keys import create_key, revoke_key
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
from sealpost.model.grants import ALL_GRANTS, Grant, in_order, parse_grant

keys_app = typer.Typer(help="Manage API keys (also SMTP AUTH passwords).", no_args_is_help=True)


GRANT_HELP = (
    "What the key may do (repeat for several; default: every grant). "
    "`sealpost keys grants` lists them."
)


def _grants(names: list[str] | None) -> frozenset[Grant] | None:
    """The grants named on the command line; None when none was named; exit on a bad name."""
    if not names:
        return None
    parsed = {name: parse_grant(name) for name in names}
    unknown = [name for name, grant in parsed.items() if grant is None]
    if unknown:
        valid = ", ".join(g.value for g in Grant)
        raise fail(f"unknown grant {', '.join(map(repr, unknown))}; valid grants: {valid}", 2)
    return frozenset(g for g in parsed.values() if g is not None)


def _names(grants: frozenset[Grant]) -> list[str]:
    return [g.value for g in in_order(grants)]


@keys_app.command("create")
def keys_create(
    label: Annotated[str, typer.Option(metavar="LABEL", help="What the key is for.")] = "default",
    domain: Annotated[
        list[str] | None,
        typer.Option(
            "--domain",
            metavar="DOMAIN",
            help="Sender domain the key may use, exactly (MAIL FROM, every header From and "
            "Sender, DKIM d=); repeat for several; default: any.",
        ),
    ] = None,
    grant: Annotated[
        list[str] | None, typer.Option("--grant", metavar="GRANT", help=GRANT_HELP)
    ] = None,
    config: ConfigOpt = DEFAULT_CONFIG_PATH,
    json_out: JsonOpt = False,
) -> None:
    """Create an API key. It is shown once; only a salted hash is stored."""
    grants = _grants(grant)
    cfg = load(config)
    domains = tuple(domain or ())
    key, record = with_store(cfg, lambda s: create_key(s, label, time.time(), domains, grants))
    if json_out:
        shown = {
            "id": record.id,
            "label": record.label,
            "key": key,
            "sender_domains": list(record.sender_domains),
            "grants": _names(record.grants),
        }
        print(json.dumps(shown))
        return
    out.print(f"[bold green]{key}[/]")
    out.print(
        literal(f"id {record.id}, label {record.label!r}. Store it now: it cannot be shown again.")
    )
    if grants is None:
        out.print(literal("No --grant given, so the key has every grant: " + _all_names()))
    else:
        out.print(literal("Grants: " + " ".join(_names(record.grants))))
    if record.allows(Grant.SMTP_INJECT):
        out.print("SMTP AUTH: user [bold]SMTP_Injection[/], password: the key.")


def _all_names() -> str:
    return " ".join(g.value for g in Grant)


@keys_app.command("grants")
def keys_grants(json_out: JsonOpt = False) -> None:
    """List the grants a key can have and what each allows."""
    if json_out:
        print(json.dumps([{"name": g.value, "description": g.description} for g in Grant]))
        return
    table = Table("grant", "allows", show_edge=False)
    for g in Grant:
        table.add_row(g.value, g.description)
    out.print(table)


@keys_app.command("list")
def keys_list(config: ConfigOpt = DEFAULT_CONFIG_PATH, json_out: JsonOpt = False) -> None:
    """List API keys (ids, labels, sender domains, grants; never the keys)."""
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
                        "grants": _names(r.grants),
                    }
                    for r in rows
                ]
            )
        )
        return
    table = Table(show_edge=False)
    table.add_column("id", no_wrap=True)
    for name in ("label", "sender domains", "grants", "created (UTC)", "status"):
        table.add_column(name, overflow="fold")
    for r in rows:
        status = "active" if r.active else f"revoked {when(r.revoked_at)}"
        table.add_row(
            r.id,
            literal(r.label),
            " ".join(r.sender_domains) or "any",
            "all" if r.grants == ALL_GRANTS else "\n".join(_names(r.grants)) or "none",
            when(r.created_at),
            status,
        )
    out.print(table)


@keys_app.command("revoke")
def keys_revoke(key_id: str, config: ConfigOpt = DEFAULT_CONFIG_PATH) -> None:
    """Revoke an API key by its id (the first 8 characters)."""
    cfg = load(config)
    if not with_store(cfg, lambda s: revoke_key(s, key_id, time.time())):
        raise fail(f"no active key with id {key_id}; `sealpost keys list` shows them.")
    out.print(f"revoked {key_id}")
