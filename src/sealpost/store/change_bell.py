"""The bell the worker processes of one SQLite server ring after writing settings.

PostgreSQL tells every process of every node about a settings change (``NOTIFY``, heard in
``store.postgres.wakeups``). SQLite has no such channel: a worker process sees another's
write only when it next compares ``config_fingerprints``. ``ChangeBell`` closes that gap for
the workers of one server: a few bytes of anonymous shared memory (``MAP_SHARED``, made by
the supervisor before it forks), one 8-byte counter per worker. A worker rings its own
counter after it commits a settings document (``LocalChanges.noted``); every worker's
``LocalChanges.wait`` reads the sum each ``POLL`` seconds and returns when it moved, and the
``ChangeFollower`` then compares fingerprints and refreshes what changed. A change made
through the API of any worker (a sending domain verified, a webhook added) so reaches the
DKIM signer of every worker and the primary's webhook worker within about ``POLL`` seconds,
not the follower's ``CHECK_INTERVAL``.

Each counter has one writer (its worker; a replacement takes the dead one's seat), so no
lock is needed. The sum only grows: a reader that saw it change knows some commit happened
before the ring, and fingerprints read after that see it. The CLI (another process, not a
worker) does not ring; its writes are seen at the follower's next look, as before.
"""

from __future__ import annotations

import mmap
import struct

POLL = 0.25  # seconds between two looks at the bell while waiting for a change
_U64 = struct.Struct("=Q")


class ChangeBell:
    """``workers`` counters in shared memory; ``ring`` one's own, ``rung`` reads the sum."""

    def __init__(self, workers: int) -> None:
        self.workers = max(1, workers)
        self._map = mmap.mmap(-1, _U64.size * self.workers)  # MAP_SHARED | MAP_ANONYMOUS

    def ring(self, worker: int) -> None:
        at = _U64.size * worker
        _U64.pack_into(self._map, at, _U64.unpack_from(self._map, at)[0] + 1)

    def rung(self) -> int:
        return sum(_U64.unpack_from(self._map, _U64.size * i)[0] for i in range(self.workers))
