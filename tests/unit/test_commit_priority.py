"""The queue writer thread runs ``BOOST`` nice steps above its process where the system
allows it (``store.sqlite.commit_priority``), and works unchanged where it does not."""

from __future__ import annotations

import asyncio
import os
import resource
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from sealpost.store.sqlite import SqliteStore
from sealpost.store.sqlite.commit_priority import BOOST, NICE_MIN, boost_current_thread


def _may_lower_nice_to(value: int) -> bool:
    if os.geteuid() == 0:
        return True  # CAP_SYS_NICE
    soft, _ = resource.getrlimit(resource.RLIMIT_NICE)
    return soft == resource.RLIM_INFINITY or value >= 20 - soft


def test_the_writer_thread_of_a_store_runs_below_its_process_nice(tmp_path: Path):
    base = os.getpriority(os.PRIO_PROCESS, 0)
    wanted = max(NICE_MIN, base - BOOST)

    async def scenario() -> tuple[int | None, int]:
        async with SqliteStore(tmp_path / "q.db") as store:
            writer = store._writer
            assert writer is not None
            await store.release_all_leases()  # a write: the thread is running by now
            assert writer.native_id is not None
            return writer.nice, os.getpriority(os.PRIO_PROCESS, writer.native_id)

    nice, seen = asyncio.run(scenario())
    if not _may_lower_nice_to(wanted):
        pytest.skip("this process may not lower a thread's nice value (no CAP_SYS_NICE)")
    assert nice == seen == wanted
    assert os.getpriority(os.PRIO_PROCESS, 0) == base  # the process itself is unchanged


def test_only_the_calling_thread_is_raised():
    base = os.getpriority(os.PRIO_PROCESS, 0)
    seen: list[int | None] = []

    def body() -> None:
        seen.append(boost_current_thread(1))
        seen.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))

    thread = threading.Thread(target=body)
    thread.start()
    thread.join()
    if not _may_lower_nice_to(base - 1):
        pytest.skip("this process may not lower a thread's nice value (no CAP_SYS_NICE)")
    assert seen == [base - 1, base - 1]
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == base


def test_a_refused_boost_changes_nothing_and_says_how_to_allow_it(tmp_path: Path):
    """A process without CAP_SYS_NICE and with RLIMIT_NICE 0 (nice may only go up): the store opens,
    writes, and one INFO line names LimitNICE."""
    script = textwrap.dedent(
        f"""
        import asyncio, logging, os, resource, sys
        from sealpost.store.sqlite import SqliteStore
        resource.setrlimit(resource.RLIMIT_NICE, (0, 0))
        logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(message)s")

        async def main():
            async with SqliteStore({str(tmp_path / "q.db")!r}) as store:
                await store.release_all_leases()
                writer = store._writer
                print("nice", writer.nice, os.getpriority(os.PRIO_PROCESS, writer.native_id))

        asyncio.run(main())
        """
    )
    command = [sys.executable, "-c", script]
    if os.geteuid() == 0:  # root without CAP_SYS_NICE (util-linux's setpriv)
        command = ["setpriv", "--bounding-set", "-sys_nice", "--inh-caps", "-sys_nice", *command]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    base = os.getpriority(os.PRIO_PROCESS, 0)
    assert f"nice None {base}" in done.stdout
    assert "LimitNICE=" in done.stdout and "refused" in done.stdout
