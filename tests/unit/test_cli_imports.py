"""Each ``sealpost`` command loads its own modules, not every command's (cli/command_table.py):
the CLI answered ``sealpost keys list`` after about 1.4 s of imports, and ``sealpost serve``
carried every command's modules into each worker's memory."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from sealpost.cli.command_table import COMMANDS

LAZY = {name: where.module for name, where in COMMANDS.items() if where is not None}


def loaded_by(*argv: str) -> set[str]:
    code = (
        "import json, sys\n"
        f"sys.argv = ['sealpost', *{list(argv)!r}]\n"
        "from sealpost.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(json.dumps(sorted(sys.modules)), file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    return set(json.loads(done.stderr.strip().splitlines()[-1]))


# What a group imports on purpose: a command it lists that another module owns.
ALSO = {"store": {"purge"}, "users": {"keys"}}


@pytest.mark.parametrize("name", sorted(LAZY))
def test_a_command_loads_its_module_and_no_other_commands(name):
    modules = loaded_by(name, "--help")
    assert LAZY[name] in modules
    others = {other for other, module in LAZY.items() if module in modules} - {name}
    assert others <= ALSO.get(name, set()), f"`sealpost {name}` imported {sorted(others)}"


def test_init_loads_no_lazy_command_and_the_listing_loads_them_all():
    assert not {module for module in LAZY.values() if module in loaded_by("init", "--help")}
    assert set(LAZY.values()) <= loaded_by("--help")


def test_an_unknown_command_is_refused_with_the_list_unchanged():
    done = subprocess.run(
        [sys.executable, "-m", "sealpost", "kyes"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2
    assert "No such command" in done.stderr and "keys" in done.stderr  # "Did you mean 'keys'?"
