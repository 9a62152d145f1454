"""Per-domain delivery sessions counted across the worker processes of one server.

With ``[server] workers`` above 1 on SQLite every worker runs a dispatcher, and
``[delivery] per_domain_concurrency`` must hold for the server, not once per worker (the
slots of ``store.local_slots`` live in one process; PostgreSQL keeps them in the database
for the whole cluster). ``DomainBoard`` is a small fixed table in anonymous shared memory (a
``memfd``, ``net.shared_table``), made by the supervisor before it forks, as
``inbound.shared_limits`` is for the connection limits: one entry per destination domain
with a session count per worker. Every operation but ``free`` holds the table's ``fcntl``
lock, which the kernel drops when its holder dies, so a worker killed with ``kill -9`` cannot
wedge the others; the supervisor zeroes a dead worker's column (``forget_worker``), so its
sessions do not hold the domain's slots until a lease would have expired. ``free`` takes no
lock (one ``lockf`` pair fewer per delivered message), for the reasons ``inbound.shared_limits``
gives for ``drop_total``: a worker's column is written only by that worker while it lives, and
the entry cannot be given to another domain while that column counts the session being freed.

Entries are found by a keyed BLAKE2b of the domain over ``PROBES`` neighbours; an entry
whose counts are all zero is free for any domain. The table holds four entries per session
the server may open at once (at least 1024), so a full run is unlikely; when it happens the
attempt is told "no slot" and waits, as it does for a domain whose slots are all held.
``SharedDomainSlots`` is one worker's ``DomainSlots`` over the board.
"""

from __future__ import annotations

import hashlib
import math
import secrets
import struct
from collections.abc import Iterator

from sealpost.model.queue import DomainSlot
from sealpost.net.shared_table import SharedTable

PROBES = 16
_KEY = struct.Struct("=16s")  # keyed digest of the domain (an entry whose counts are 0 is free)
_COUNT = struct.Struct("=i")


class DomainBoard:
    """The shared table; see the module docstring. ``workers`` columns."""

    def __init__(self, workers: int, sessions: int) -> None:
        self.workers = workers
        self.entries = 1 << max(10, math.ceil(math.log2(4 * max(1, sessions))))
        self._counts_at = _KEY.size
        self._entry = (_KEY.size + _COUNT.size * workers + 7) // 8 * 8
        size = self._entry * self.entries
        self._table = SharedTable("sealpost-domain-slots", size)
        self._map = self._table.map
        self._locked = self._table.locked
        self._secret = secrets.token_bytes(16)  # same in every worker: made before the fork

    def take(self, domain: str, limit: int, worker: int) -> int | None:
        """Count one session of ``worker`` to ``domain`` if the server holds fewer than
        ``limit``: the entry's index, or None (all held, or no entry free in its run)."""
        key = self._key(domain)
        with self._locked():
            offset = self._find(key)
            if offset is None:
                offset = self._free_entry(key)
                if offset is None:
                    return None
                self._map[offset : offset + _KEY.size] = key
            elif sum(self._counts(offset)) >= limit:
                return None
            self._add(offset + self._counts_at + _COUNT.size * worker, 1)
            return offset // self._entry

    def free(self, domain: str, index: int, worker: int) -> None:
        """One session of ``worker`` to ``domain`` (taken at ``index``) is over.

        No lock (module docstring): the key is stable while this column counts the session,
        only this worker writes its column, and a ``take`` under the lock elsewhere sees the
        count before or after this drop (an aligned 4-byte store), both safe."""
        offset = index * self._entry
        if self._map[offset : offset + _KEY.size] == self._key(domain):
            self._add(offset + self._counts_at + _COUNT.size * worker, -1)

    def held(self, domain: str) -> int:
        """The server's sessions to ``domain`` now (tests and diagnostics)."""
        with self._locked():
            offset = self._find(self._key(domain))
            return 0 if offset is None else sum(self._counts(offset))

    def forget_worker(self, worker: int) -> None:
        """``worker`` died: none of its sessions is open any more."""
        with self._locked():
            for index in range(self.entries):
                column = index * self._entry + self._counts_at + _COUNT.size * worker
                _COUNT.pack_into(self._map, column, 0)

    def _key(self, domain: str) -> bytes:
        name = domain.lower().rstrip(".").encode("utf-8", "surrogateescape")
        return hashlib.blake2b(name, digest_size=16, key=self._secret).digest()

    def _run(self, key: bytes) -> Iterator[int]:
        first = int.from_bytes(key[:8], "little") % self.entries
        for step in range(PROBES):
            yield ((first + step) % self.entries) * self._entry

    def _find(self, key: bytes) -> int | None:
        for offset in self._run(key):
            if self._map[offset : offset + _KEY.size] == key:
                return offset
        return None

    def _free_entry(self, key: bytes) -> int | None:
        for offset in self._run(key):
            if not any(self._counts(offset)):
                return offset
        return None

    def _counts(self, offset: int) -> tuple[int, ...]:
        return struct.unpack_from(f"={self.workers}i", self._map, offset + self._counts_at)

    def _add(self, offset: int, delta: int) -> None:
        (value,) = _COUNT.unpack_from(self._map, offset)
        _COUNT.pack_into(self._map, offset, max(0, value + delta))


class SharedDomainSlots:
    """One worker's ``DomainSlots`` (``store.contracts.domain_slots``) on the board. A slot
    is held until freed or until its worker dies; ``ttl`` is not needed: the supervisor
    forgets a dead worker's sessions when it reaps it."""

    def __init__(self, board: DomainBoard, worker: int) -> None:
        self._board = board
        self._worker = worker

    async def take_domain_slot(
        self, domain: str, limit: int, now: float, ttl: float
    ) -> DomainSlot | None:
        index = self._board.take(domain, limit, self._worker)
        return None if index is None else DomainSlot(domain, index, str(self._worker))

    async def free_domain_slot(self, slot: DomainSlot) -> None:
        self._board.free(slot.domain, slot.index, self._worker)
