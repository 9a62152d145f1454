"""The inbound limits of the whole server when it runs as several worker processes.

With ``[server] workers`` above 1 each worker accepts connections on the same sockets, so
per-process counters would hand a client N times its budget. ``LimitBoard`` is a small fixed
table in anonymous shared memory (a ``memfd`` mapped ``MAP_SHARED``, created by the supervisor
before it forks), like Postfix's ``anvil`` service: open connections per client IP, new
connections per IP per minute, AUTH failures per IP per window, and the total of open
connections. Every operation takes an ``fcntl`` record lock on the memfd: the kernel drops
that lock when its holder dies, so a worker killed with ``kill -9`` cannot wedge the others
(a semaphore would stay taken). The one exception is a worker dropping its own column of the
total (``drop_total``), which no other live process writes.

Open connections are counted per worker (one column each), so when a worker dies its
connections can be forgotten (``forget_worker``) and do not leak slots. Rates and AUTH
failures use the sliding-window estimate of two fixed windows (previous count weighted by the
part of it still inside the window, plus the current count): fixed memory, never more than
the limit admitted within any window, at most the limit's worth early refusals.

The table has a fixed number of slots, hashed by IP with a keyed hash (a client cannot aim
its addresses at one probe run) and probed over ``PROBES`` neighbours. A slot is reused once
it holds no connection and its windows have expired. When every slot of an IP's run is busy
the table is full for that IP, and the board fails safe: the connection is refused with the
temporary ``421 4.3.2`` of a full server (the client retries later, nothing is admitted
uncounted), and an AUTH from an IP that cannot be counted is treated as locked out. The
table holds four slots per allowed connection (at least 1024), so it fills only under a flood
of distinct addresses, which those refusals then slow down.
"""

from __future__ import annotations

import enum
import hashlib
import ipaddress
import math
import secrets
import struct
from collections.abc import Iterator

from sealpost.net.shared_table import SharedTable

PROBES = 16
_KEY = struct.Struct("=B16s")  # address length (0: empty slot), packed address
_WINDOW = struct.Struct("=dii")  # window start, current count, previous count
_KEY_AT, _RATE_AT, _AUTH_AT, _COUNTS_AT = 0, 24, 40, 56
_COUNT = struct.Struct("=i")


class Refusal(enum.Enum):
    """Why ``LimitBoard.acquire`` refused a connection."""

    TOTAL = "total"  # the server's max_connections
    PER_IP = "per_ip"  # max_connections_per_ip
    RATE = "rate"  # connection_rate_per_ip
    FULL = "full"  # no slot left to count this IP: fail safe


class LimitBoard:
    """The shared table; see the module docstring. ``workers`` columns, ``slots`` entries."""

    def __init__(self, workers: int, max_total: int, auth_window: float, rate_window: float):
        self.workers = workers
        self.rate_window = rate_window
        self.auth_window = auth_window
        self.slots = 1 << max(10, math.ceil(math.log2(4 * max(1, max_total))))
        self._entry = (_COUNTS_AT + _COUNT.size * workers + 7) // 8 * 8
        self._header = (_COUNT.size * workers + 7) // 8 * 8
        size = self._header + self._entry * self.slots
        self._table = SharedTable("sealpost-limits", size)
        self._map = self._table.map
        self._locked = self._table.locked
        self._secret = secrets.token_bytes(16)  # same in every worker: made before the fork

    # --- connections ------------------------------------------------------------------------
    def acquire(
        self,
        ip: str,
        *,
        worker: int,
        exempt: bool,
        now: float,
        max_total: int,
        max_per_ip: int,
        rate_per_ip: int,
    ) -> Refusal | None:
        """Count a new connection of ``ip`` on ``worker``, or say why it is refused."""
        with self._locked():
            if self._total() >= max_total:
                return Refusal.TOTAL
            if not exempt:
                slot = self._claim(ip, now)
                if slot is None:
                    return Refusal.FULL
                if sum(self._counts(slot)) >= max_per_ip:
                    return Refusal.PER_IP
                if rate_per_ip and not self._admit(
                    slot + _RATE_AT, now, self.rate_window, rate_per_ip
                ):
                    return Refusal.RATE
                self._add(slot + _COUNTS_AT + _COUNT.size * worker, 1)
            self._add(_COUNT.size * worker, 1)
            return None

    def drop_ip(self, ip: str, *, worker: int) -> None:
        """One of ``ip``'s connections on ``worker`` no longer holds its per-IP slot."""
        with self._locked():
            slot = self._find(ip)
            if slot is not None:
                self._add(slot + _COUNTS_AT + _COUNT.size * worker, -1)

    def drop_total(self, *, worker: int) -> None:
        """A connection on ``worker`` is gone.

        No lock: a worker's column of the total is written only by that worker (its one event
        loop) and, once it is dead, by ``forget_worker``; an aligned 4-byte store is never
        seen half done, and a reader under the lock in ``acquire`` sees the count before or
        after this drop, both safe (one lock/unlock pair fewer per connection)."""
        self._add(_COUNT.size * worker, -1)

    def total(self) -> int:
        with self._locked():
            return self._total()

    def open_from(self, ip: str) -> int:
        """Open connections of ``ip`` across every worker (for tests and diagnostics)."""
        with self._locked():
            slot = self._find(ip)
            return 0 if slot is None else sum(self._counts(slot))

    def forget_worker(self, worker: int) -> None:
        """``worker`` died: nothing it counted is open any more."""
        with self._locked():
            _COUNT.pack_into(self._map, _COUNT.size * worker, 0)
            for index in range(self.slots):
                _COUNT.pack_into(self._map, self._offset(index) + _COUNTS_AT + 4 * worker, 0)

    # --- AUTH failures ----------------------------------------------------------------------
    def locked_out(self, ip: str, now: float, max_failures: int) -> bool:
        """Whether ``ip`` is over ``max_failures``; True when it could not be counted."""
        with self._locked():
            slot = self._claim(ip, now)
            if slot is None:
                return True
            return self._estimate(slot + _AUTH_AT, now, self.auth_window) >= max_failures

    def record_failure(self, ip: str, now: float) -> bool:
        """Count one failure; False when the table had no slot for ``ip`` (treat as locked)."""
        with self._locked():
            slot = self._claim(ip, now)
            if slot is None:
                return False
            start, current, previous = self._rolled(slot + _AUTH_AT, now, self.auth_window)
            _WINDOW.pack_into(self._map, slot + _AUTH_AT, start, current + 1, previous)
            return True

    # --- the table --------------------------------------------------------------------------
    def _offset(self, index: int) -> int:
        return self._header + self._entry * index

    def _run(self, key: bytes) -> Iterator[int]:
        digest = hashlib.blake2b(key, digest_size=8, key=self._secret).digest()
        first = int.from_bytes(digest, "little") % self.slots
        for step in range(PROBES):
            yield self._offset((first + step) % self.slots)

    def _find(self, ip: str) -> int | None:
        key = _packed(ip)
        for slot in self._run(key):
            if _KEY.unpack_from(self._map, slot + _KEY_AT) == (len(key), key.ljust(16, b"\0")):
                return slot
        return None

    def _claim(self, ip: str, now: float) -> int | None:
        """``ip``'s slot, taking a free or expired one of its run if it has none yet."""
        found = self._find(ip)
        if found is not None:
            return found
        key = _packed(ip)
        for slot in self._run(key):
            if self._reusable(slot, now):
                self._map[slot : slot + self._entry] = bytes(self._entry)
                _KEY.pack_into(self._map, slot + _KEY_AT, len(key), key)
                return slot
        return None

    def _reusable(self, slot: int, now: float) -> bool:
        if self._map[slot + _KEY_AT] == 0:
            return True
        if any(self._counts(slot)):
            return False
        rate_start = _WINDOW.unpack_from(self._map, slot + _RATE_AT)[0]
        auth_start = _WINDOW.unpack_from(self._map, slot + _AUTH_AT)[0]
        return now >= rate_start + 2 * self.rate_window and now >= auth_start + 2 * self.auth_window

    def _counts(self, slot: int) -> tuple[int, ...]:
        return struct.unpack_from(f"={self.workers}i", self._map, slot + _COUNTS_AT)

    def _total(self) -> int:
        return sum(struct.unpack_from(f"={self.workers}i", self._map, 0))

    def _add(self, offset: int, delta: int) -> None:
        (value,) = _COUNT.unpack_from(self._map, offset)
        _COUNT.pack_into(self._map, offset, max(0, value + delta))

    def _rolled(self, offset: int, now: float, window: float) -> tuple[float, int, int]:
        start, current, previous = _WINDOW.unpack_from(self._map, offset)
        begin = math.floor(now / window) * window
        if begin == start:
            return start, current, previous
        if begin - start == window:
            return begin, 0, current
        return begin, 0, 0

    def _estimate(self, offset: int, now: float, window: float) -> float:
        start, current, previous = self._rolled(offset, now, window)
        return previous * max(0.0, 1 - (now - start) / window) + current

    def _admit(self, offset: int, now: float, window: float, limit: int) -> bool:
        start, current, previous = self._rolled(offset, now, window)
        if previous * max(0.0, 1 - (now - start) / window) + current >= limit:
            return False
        _WINDOW.pack_into(self._map, offset, start, current + 1, previous)
        return True


def _packed(ip: str) -> bytes:
    """The address as bytes (IPv4-mapped IPv6 as IPv4); unparsable text hashed as itself."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return hashlib.blake2b(ip.encode(), digest_size=16).digest()
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.packed
