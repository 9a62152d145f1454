"""Running a piece of a test in a real forked process, as a worker of the server is one."""

from __future__ import annotations

import os
from collections.abc import Callable


def start_child(work: Callable[[], object]) -> int:
    """Run ``work()`` in a forked process and return its pid at once (``wait_child`` it):
    several can run together, as the server's workers do."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            work()
            code = 0
        finally:
            os._exit(code)
    return pid


def wait_child(pid: int) -> int:
    """The exit status of a ``start_child`` process: 0 when ``work`` returned, 1 when it
    raised (an assertion included)."""
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def in_child(work: Callable[[], object]) -> int:
    """Run ``work()`` in a forked process and wait for it; its exit status."""
    return wait_child(start_child(work))
