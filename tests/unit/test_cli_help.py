"""The CLI's --help reads like a well-kept CLI's: no Python type placeholders anywhere,
nothing after a flag, a capitalised metavar after an option that takes a value."""

from __future__ import annotations

import re

import pytest
import typer
from click.testing import CliRunner

from sealpost.cli import app
from sealpost.cli.help_style import tidy_help

COMMAND = tidy_help(typer.main.get_command(app))


def _paths(command, prefix=()):
    yield prefix
    for name, sub in getattr(command, "commands", {}).items():
        yield from _paths(sub, (*prefix, name))


PATHS = list(_paths(COMMAND))


def _help(path: tuple[str, ...]) -> str:
    result = CliRunner().invoke(COMMAND, [*path, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.output


def test_every_command_is_walked():
    assert ("keys", "create") in PATHS and ("tls-check",) in PATHS and ("queue", "list") in PATHS


@pytest.mark.parametrize("path", PATHS, ids=lambda p: " ".join(p) or "sealpost")
def test_help_has_no_type_placeholders(path):
    text = _help(path)
    assert not re.search(r"<(str|bool|int|float|path|list\[[a-z]+\])>", text), text
    assert "--no-" not in text, "a plain flag grew a --no- twin"


def test_flags_show_no_value_and_values_show_capital_metavars():
    lines = {
        line.split()[1]: line
        for line in _help(("keys", "create")).splitlines()
        if line.startswith("│ --")
    }
    assert lines["--json"].split()[2] == "Machine-readable"
    assert "--label" in lines and " LABEL " in lines["--label"]
    assert " FILE " in lines["--config"]
    assert re.search(r"--help\s+Show this message", lines["--help"])


def test_config_keys_in_help_are_not_eaten_as_markup():
    assert "[dns] nameservers" in _help(("tls-check",))


def _texts(command):
    yield command.help or ""
    for param in command.params:
        yield getattr(param, "help", None) or ""


@pytest.mark.parametrize("path", PATHS, ids=lambda p: " ".join(p) or "sealpost")
def test_no_help_text_has_a_config_section_rich_would_eat(path):
    command = COMMAND
    for name in path:
        command = command.commands[name]
    # rich reads "[retention]" as a style and drops it: "purge what  says expired"
    eaten = [m for text in _texts(command) for m in re.findall(r"(?<!\\)\[[a-z][a-z_.]*\]", text)]
    assert not eaten, f"escape them as \\[section]: {eaten}"
