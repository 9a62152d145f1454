"""Memory shared by the server's worker processes: a ``memfd`` mapped ``MAP_SHARED``, made by
the supervisor before it forks, so every worker maps the same pages.

``SharedTable.locked`` takes an ``fcntl`` record lock on the memfd for one operation. The
kernel drops that lock when its holder dies, so a worker killed with ``kill -9`` in the
middle of an update cannot wedge the others (a semaphore in the mapping would stay taken).
The tables built on it: the connection limits (``inbound.shared_limits``) and the
per-domain delivery sessions (``delivery.shared_slots``).
"""

from __future__ import annotations

import fcntl
import mmap
import os
from collections.abc import Iterator
from contextlib import contextmanager


class SharedTable:
    """``size`` bytes of zeroed shared memory (``map``) under one cross-process lock."""

    def __init__(self, name: str, size: int) -> None:
        self._fd = os.memfd_create(name, os.MFD_CLOEXEC)
        os.ftruncate(self._fd, size)
        self.map = mmap.mmap(self._fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)

    @contextmanager
    def locked(self) -> Iterator[None]:
        fcntl.lockf(self._fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.lockf(self._fd, fcntl.LOCK_UN)
