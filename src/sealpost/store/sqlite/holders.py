"""Who has the queue file open: a shared ``flock`` each process holds while it has it open.

Every process that opens the queue (each server worker, a CLI command) holds a shared lock
on ``<db>-open.lock`` until it closes it. ``store restore`` takes the lock exclusively,
without waiting: when it cannot, some process has the queue open and the file must not be
swapped under it. The kernel drops the locks of a process that dies, so a crash never
leaves the queue "held".
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path


def open_lock_path(database: Path) -> Path:
    return Path(f"{database}-open.lock")


def hold_shared(database: Path) -> int | None:
    """Hold the shared lock (waiting out a restore in progress); the fd to ``release``.
    ``None`` when the lock file cannot be made (a full disk): the queue still opens."""
    try:
        fd = os.open(open_lock_path(database), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError:
        return None
    fcntl.flock(fd, fcntl.LOCK_SH)
    return fd


def try_exclusive(database: Path) -> int | None:
    """The exclusive lock's fd, or ``None`` when a process has the queue open."""
    fd = os.open(open_lock_path(database), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def release(fd: int | None) -> None:
    if fd is not None:
        with contextlib.suppress(OSError):
            os.close(fd)
