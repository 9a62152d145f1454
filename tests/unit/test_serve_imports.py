"""What ``sealpost serve`` loads before it forks its workers is in every worker's memory
(shared pages at first, copied as they are touched): a module only another command needs
must not be loaded by the CLI at import time. Measured: asyncpg (the ``store copy`` command's
PostgreSQL end) was about 4 MB of peak PSS in the benchmark's case b at concurrency 50
(docs/benchmarks.md). The other commands' own modules stay out too (cli/command_table.py)."""

from __future__ import annotations

import json
import subprocess
import sys

from sealpost.cli.command_table import COMMANDS

# Loaded only when the command or the store that needs them runs.
NOT_AT_START = ("asyncpg", "sealpost.store.copy", "sealpost.store.postgres")


def loaded_at_start() -> set[str]:
    code = (
        "import json, sys\n"
        "import sealpost.cli, sealpost.runner\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    return set(json.loads(done.stdout))


def test_serve_on_sqlite_does_not_load_what_other_commands_need():
    modules = loaded_at_start()
    assert "sealpost.app" in modules and "sealpost.cli" in modules  # it did load the CLI
    assert "uvloop" in modules  # loaded before the fork, so the workers share it
    # What uvicorn loads as each worker's API starts: before the fork, so shared (1.0-1.3 MB
    # of an idle server's PSS, docs/benchmarks.md, "a seventh AMD machine").
    assert {"uvicorn.protocols.http.auto", "uvicorn.lifespan.off"} <= modules
    assert not [name for name in NOT_AT_START if name in modules]
    commands = {where.module for where in COMMANDS.values() if where is not None}
    assert not commands & modules, "serve loaded another command's module"
    # (tests/integration/test_store_copy.py runs `store copy`, which imports them when run)
