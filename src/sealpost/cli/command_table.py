"""Which module holds each ``sealpost`` command, imported only when that command is used.

Importing every command's module made each run of the CLI load the whole product first
(the TLS checker, the resolver, the DKIM keyring, the TLS-RPT sender...): about 1.4 s of CPU
before ``sealpost keys list`` did anything, and every module of every command in the
memory of ``sealpost serve`` and its workers. The top-level group keeps its commands in a
``CommandTable``: the names and their order are known up front, and a command's module is
imported the first time the command itself is looked up (running it, or ``--help``, which
lists them all). ``tests/unit/test_cli_imports.py`` keeps each command to its own modules.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass
from typing import Any

import typer
from typer.core import TyperGroup

from sealpost.cli.help_style import tidy_help


@dataclass(frozen=True, slots=True)
class Lazy:
    """Where a command lives: ``attribute`` of ``module``, a Typer app (a command group) or a
    command function, built with ``cls`` (an attribute of the same module) when one is named."""

    module: str
    attribute: str
    cls: str | None = None


# The order ``sealpost --help`` lists them in; a name mapped to None is defined eagerly in
# sealpost.cli itself (init and serve, which every install runs first).
COMMANDS: dict[str, Lazy | None] = {
    "events": Lazy("sealpost.cli.events", "events"),
    "purge": Lazy("sealpost.cli.retention", "purge"),
    "tls-check": Lazy("sealpost.cli.tlscheck", "tls_check", cls="TlsCheckCommand"),
    "init": None,
    "serve": None,
    "queue": Lazy("sealpost.cli.queue", "queue_app"),
    "keys": Lazy("sealpost.cli.keys", "keys_app"),
    "users": Lazy("sealpost.cli.users", "users_app"),
    "dkim": Lazy("sealpost.cli.dkim", "dkim_app"),
    "store": Lazy("sealpost.cli.store", "store_app"),
    "tlsrpt": Lazy("sealpost.cli.tlsrpt", "tlsrpt_app"),
}


def build(name: str, where: Lazy) -> Any:
    """Import the command's module and build its click command, named ``name``."""
    module = importlib.import_module(where.module)
    target = getattr(module, where.attribute)
    parent = typer.Typer(add_completion=False)  # as the top-level app builds its commands
    if isinstance(target, typer.Typer):
        parent.add_typer(target, name=name)
        group = typer.main.get_command(parent)
        assert isinstance(group, TyperGroup)  # a Typer with a sub-app builds a group
        command = group.commands[name]
    else:
        cls = getattr(module, where.cls) if where.cls else None
        parent.command(name, cls=cls)(target)
        command = typer.main.get_command(parent)  # one command: the command itself
    command.name = name
    return command


class CommandTable(MutableMapping[str, Any]):
    """The top-level commands by name, in ``COMMANDS``' order; each lazy one is built on its
    first lookup, in the help style of the rest (``tidy_help``)."""

    def __init__(self, eager: MutableMapping[str, Any]) -> None:
        self._built: dict[str, Any] = dict(eager)
        self._order = [name for name in COMMANDS if name in eager or COMMANDS[name] is not None]
        self._order += [name for name in eager if name not in self._order]

    def loaded(self) -> list[Any]:
        """The commands built so far (what ``tidy_help`` walks without importing the rest)."""
        return list(self._built.values())

    def __getitem__(self, name: str) -> Any:
        if name not in self._built:
            where = COMMANDS.get(name)
            if where is None:
                raise KeyError(name)
            self._built[name] = tidy_help(build(name, where))
        return self._built[name]

    def __setitem__(self, name: str, command: Any) -> None:
        self._built[name] = command
        if name not in self._order:
            self._order.append(name)

    def __delitem__(self, name: str) -> None:
        self._built.pop(name, None)
        self._order.remove(name)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._order))

    def __len__(self) -> int:
        return len(self._order)

    def __contains__(self, name: object) -> bool:
        return name in self._order


class LazyGroup(TyperGroup):
    """The ``sealpost`` group: the commands defined in ``sealpost.cli`` itself, and the rest
    of ``COMMANDS`` imported on first use."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.commands = CommandTable(self.commands)
