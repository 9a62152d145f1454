"""``sealpost users create|list|delete``: the web console's local users (``console.users``).

A user logs in to ``/console/`` with a name and a password (hashed with argon2id; never
stored or shown). Like an API key, a user holds grants (``--grant``, default every grant);
log-in needs ``console/access``. ``create`` prompts for the password twice, or reads one
line from standard input with ``--password-stdin`` (for scripts).
"""

from __future__ import annotations

import json
import sys
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
    with_store,
)
from sealpost.cli.common import when as _when
from sealpost.cli.keys import GRANT_HELP, _grants, _names
from sealpost.console.users import UserError, create_user, delete_user, list_users
from sealpost.model.grants import Grant
from sealpost.store.errors import DuplicateError

users_app = typer.Typer(help="Manage web console users.", no_args_is_help=True)


@users_app.command("create")
def users_create(
    name: Annotated[str, typer.Argument(metavar="NAME", help="The log-in name (a-z 0-9 . _ @ -).")],
    grant: Annotated[
        list[str] | None, typer.Option("--grant", metavar="GRANT", help=GRANT_HELP)
    ] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    config: ConfigOpt = DEFAULT_CONFIG_PATH,
) -> None:
    """Create a console user; prompts for the password (at least 12 characters)."""
    grants = _grants(grant)
    cfg = load(config)
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        user = with_store(
            cfg, lambda s: create_user(s, name.lower(), password, time.time(), grants)
        )
    except UserError as exc:
        raise fail(str(exc), 2) from None
    except DuplicateError:
        raise fail(f"user {name} exists already; `sealpost users delete {name}` first.") from None
    out.print(literal(f"created console user {user.name}: " + " ".join(_names(user.grants))))
    if Grant.CONSOLE_ACCESS not in user.grants:
        out.print("[yellow]without the grant console/access this user cannot log in[/]")


@users_app.command("list")
def users_list(config: ConfigOpt = DEFAULT_CONFIG_PATH, json_out: JsonOpt = False) -> None:
    """List console users and their grants (never a password)."""
    cfg = load(config)
    rows = with_store(cfg, list_users)
    if json_out:
        shown = [
            {"name": u.name, "created_at": u.created_at, "grants": _names(u.grants)} for u in rows
        ]
        print(json.dumps(shown))
        return
    table = Table("name", "grants", "created (UTC)", show_edge=False)
    for u in rows:
        table.add_row(literal(u.name), " ".join(_names(u.grants)), _when(u.created_at))
    out.print(table)
    out.print(f"{len(rows)} user(s)")


@users_app.command("delete")
def users_delete(name: str, config: ConfigOpt = DEFAULT_CONFIG_PATH) -> None:
    """Delete a console user; their sessions end at their next request."""
    cfg = load(config)
    if not with_store(cfg, lambda s: delete_user(s, name.lower())):
        raise fail(f"no console user {name}; `sealpost users list` shows them.")
    out.print(literal(f"deleted console user {name}"))
