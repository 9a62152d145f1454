"""The wake-up pipe between workers: "mail was queued" reaches the dispatcher at once.

Only the primary worker runs the dispatcher; mail accepted by another worker would otherwise
wait for the dispatcher's next poll. ``WakeSender`` writes one byte per burst (a burst of
queued messages within one loop iteration is one byte; a full pipe already says "wake up", so
``EAGAIN`` is ignored). ``watch_wakes`` reads every pending byte and calls ``wake`` once.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable

_BYTE = b"\x01"


class WakeSender:
    """``sender()`` after each queued message; coalesced to one byte per loop iteration."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._pending = False

    def __call__(self) -> None:
        if self._pending:
            return
        self._pending = True
        asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._pending = False
        with contextlib.suppress(BlockingIOError):  # full: the reader has plenty to wake on
            os.write(self._fd, _BYTE)


def watch_wakes(loop: asyncio.AbstractEventLoop, fd: int, wake: Callable[[], None]) -> None:
    """Call ``wake`` whenever bytes arrive on ``fd`` (non-blocking), once per read burst."""
    loop.add_reader(fd, _drain, fd, wake)


def _drain(fd: int, wake: Callable[[], None]) -> None:
    with contextlib.suppress(BlockingIOError):
        while os.read(fd, 4096):
            pass
    wake()


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
