"""Running a piece of a test in a real forked process, as a worker of the server is one."""

from __future__ import annotations

import os
from collections.abc import Callable


def in_child(work: Callable[[], object]) -> int:
    """Run ``work()`` in a forked process; its exit status (0 when it returned, 1 when it
    raised, an assertion included)."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            work()
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)
