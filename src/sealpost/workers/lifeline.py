"""The lifeline: a worker learns that its supervisor is gone (EOF on the pipe's read end,
of which the supervisor holds the only write end), even after ``kill -9``."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable


def watch_lifeline(loop: asyncio.AbstractEventLoop, fd: int, gone: Callable[[], None]) -> None:
    """Call ``gone`` once when the supervisor's end of the lifeline closes (EOF on ``fd``)."""

    def readable() -> None:
        try:
            data = os.read(fd, 1)
        except BlockingIOError:
            return
        if not data:
            loop.remove_reader(fd)
            gone()

    loop.add_reader(fd, readable)
