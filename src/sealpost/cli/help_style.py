"""How ``--help`` looks: like git's or gh's, not like a type signature.

Typer renders every option's Python type as a placeholder (``--json <bool>``,
``--label <str>``). A well-kept CLI shows nothing after a flag and a capitalised metavar
after an option that takes a value (``--label LABEL``, ``--config FILE``). This module
owns that rule: ``tidy_help`` walks the built command tree once, before it runs, and sets
the metavar of every option that did not choose one itself; an argument already shows its
name in capitals, so its type column is left empty. Nothing else changes: parsing, defaults
and error messages are click's. A command imported later (``command_table``) is tidied as it
is built.
"""

from __future__ import annotations

from collections.abc import Iterator

import click


def _walk(command: click.Command) -> Iterator[click.Command]:
    yield command
    table = getattr(command, "commands", {})
    loaded = getattr(table, "loaded", None)  # a CommandTable: only the commands imported so far
    for sub in loaded() if loaded is not None else table.values():
        yield from _walk(sub)


def _metavar_for(param: click.Parameter) -> str:
    if getattr(param, "is_flag", False) or getattr(param, "count", False):
        return ""  # a flag takes no value: show none
    return (param.name or "value").upper().replace("_", "-")


def _no_type(ctx: click.Context) -> None:
    return None


def tidy_help(command: click.Command) -> click.Command:
    """Give every parameter of ``command`` and its subcommands a git-style metavar."""
    for cmd in _walk(command):
        ctx = click.Context(cmd, info_name=cmd.name)
        for param in cmd.get_params(ctx):  # includes the --help option
            if param.param_type_name == "argument":
                param.display_type_rich = _no_type  # type: ignore[method-assign]
            elif param.metavar is None:
                param.metavar = _metavar_for(param)
    return command
