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


class _Lock:
    """``with table.locked():`` -- the record lock for one operation. A plain class, not a
    generator context manager: it is taken once or twice per connection and per delivery."""

    __slots__ = ("_fd",)

    def __init__(self, fd: int) -> None:
        self._fd = fd

    def __enter__(self) -> None:
        fcntl.lockf(self._fd, fcntl.LOCK_EX)

    def __exit__(self, *exc_info: object) -> None:
        fcntl.lockf(self._fd, fcntl.LOCK_UN)


class SharedTable:
    """``size`` bytes of zeroed shared memory (``map``) under one cross-process lock."""

    def __init__(self, name: str, size: int) -> None:
        self._fd = os.memfd_create(name, os.MFD_CLOEXEC)
        os.ftruncate(self._fd, size)
        self.map = mmap.mmap(self._fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        self._lock = _Lock(self._fd)

    def locked(self) -> _Lock:
        """The table's lock, to hold with ``with`` for one operation."""
        return self._lock
