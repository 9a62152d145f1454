"""``workers.prefork``: before a fork the supervisor's garbage is collected (not frozen for
good), the free pages in the middle of its heap go back to the kernel, and what is left is
frozen. Each check runs in a fresh interpreter: freezing the test runner's objects would
keep them for the rest of the session."""

from __future__ import annotations

import gc
import json
import platform
import subprocess
import sys

import pytest

PROBE = """
import gc, json, weakref
from sealpost.workers import prefork

def rss_anon_kb():
    for line in open("/proc/self/status"):
        if line.startswith("RssAnon:"):
            return int(line.split()[1])

class Node:
    pass

# A reference cycle that is already garbage: collected by prepare_fork, not frozen.
cycle = Node(); cycle.me = cycle
collected = []
weakref.finalize(cycle, collected.append, True)
del cycle

# 40 MB of heap blocks, one in 20 kept: holes in the middle that glibc keeps resident.
blocks = [bytes(2000) for _ in range(20000)]
kept = blocks[::20]
del blocks
before = rss_anon_kb()
prefork.prepare_fork()
after = rss_anon_kb()
print(json.dumps({
    "collected": collected, "frozen": gc.get_freeze_count(), "given_back_kb": before - after,
}))
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc_trim is glibc's")
def test_prepare_fork_collects_gives_free_heap_pages_back_and_freezes():
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60, check=True
    )
    result = json.loads(done.stdout)
    assert result["collected"] == [True]  # the cycle was freed, not frozen
    assert result["frozen"] > 1000  # the modules and everything else left
    # About 38 MB were free between the kept blocks; most of it left the process.
    assert result["given_back_kb"] > 20_000, result


def test_trim_heap_says_whether_it_could_run():
    from sealpost.workers.prefork import trim_heap

    assert trim_heap() in (True, False)  # never raises, glibc or not


def test_the_trim_before_each_fork_starts_no_process(monkeypatch: pytest.MonkeyPatch):
    """``ctypes.util.find_library`` runs ``ldconfig -p``: a child of the supervisor before
    every worker's fork, which a ``kill -9`` aimed at "the newest worker" hit instead
    (tests/integration/test_workers.py). The C library is loaded by its soname."""
    from sealpost.net.large_buffers import glibc
    from sealpost.workers.prefork import trim_heap

    started: list[object] = []

    class NoProcess:
        def __init__(self, args: object, *rest: object, **kwargs: object) -> None:
            started.append(args)
            raise AssertionError(f"a process was started: {args!r}")

    monkeypatch.setattr(subprocess, "Popen", NoProcess)
    glibc.cache_clear()
    trim_heap()
    glibc.cache_clear()
    assert started == []


# -- start-up's pause of the collector (``sealpost serve``) ------------------------------------


def test_prepare_fork_ends_the_start_ups_pause():
    code = (
        "import gc, json\n"
        "from sealpost.workers import prefork\n"
        "prefork.pause_collector()\n"
        "paused = gc.isenabled()\n"
        "prefork.prepare_fork()\n"
        "print(json.dumps([paused, gc.isenabled()]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert json.loads(done.stdout) == [False, True]


def test_a_start_that_fails_leaves_the_collector_on(tmp_path):
    """``serve`` run in this process (as a test or an embedding program would): a config
    error ends it before any fork, and the collector must not stay off behind it."""
    import typer
    from click.testing import CliRunner

    from sealpost.cli import app

    try:
        result = CliRunner().invoke(
            typer.main.get_command(app), ["serve", "-c", str(tmp_path / "missing.toml")]
        )
        assert result.exit_code == 2, result.output
        assert gc.isenabled()
    finally:
        gc.enable()


def test_one_process_collects_again_before_its_loop_runs(tmp_path, monkeypatch):
    """``workers = 1`` never forks, so ``prepare_fork`` never ends the pause: ``run_server``
    does, before the event loop starts."""
    from sealpost import runner
    from sealpost.config.loader import load_config

    config_file = tmp_path / "sealpost.toml"
    config_file.write_text('[server]\nhostname = "mx.example.test"\nworkers = 1\n')
    config = load_config(config_file)
    seen: list[bool] = []

    def run(main: object) -> None:
        seen.append(gc.isenabled())
        main.close()  # type: ignore[attr-defined]  # the serve() coroutine, never started

    monkeypatch.setattr(runner, "_run", run)
    monkeypatch.setattr(runner, "map_large_buffers", lambda: None)  # this process's malloc
    gc.disable()
    try:
        runner.run_server(config)
    finally:
        gc.enable()
    assert seen == [True]
