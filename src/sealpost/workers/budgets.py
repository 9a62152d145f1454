"""The API's request budgets for the whole server when it runs as several worker processes.

Every worker serves the API on the one shared socket, and a client's calls (or its
keep-alive connections) land on any of them: budgets kept per process would give it N times
its allowance. ``BudgetBoard`` is a fixed table in shared memory (``net.shared_table``: a
``memfd`` the supervisor maps before it forks, an ``fcntl`` lock per operation that the
kernel drops when a worker dies), like the SMTP limits of ``inbound.shared_limits``. The
budgets on it: the ``tls-check`` calls per API key (``[api] tls_check_per_minute``) and the
console's log-in attempts per client IP (``[console] login_per_minute``). Each is a
``SharedWindow`` with the contract of ``api.rate_limit.SlidingWindow`` (``take`` answers
None or the seconds to wait, for ``Retry-After``), which a single process uses instead.

A window is the sliding estimate of two fixed windows (the previous count weighted by the
part of it still inside the window, plus the current one): 24 bytes per key, never more than
the limit admitted within any window. It admits a little less than an exact window, and its
``Retry-After`` (when the estimate next has room) may be up to two windows away: a budget
filled early in its window weighs fully at the start of the next. Keys are hashed with a
secret made before the fork (a client cannot aim its keys at one probe run), 16 probes; an
entry is reused once both its windows have passed. When every probe of a key's run is busy
the board fails safe: the call is refused for a window, as the SMTP limits refuse a client
they cannot count.
"""

from __future__ import annotations

import hashlib
import math
import secrets
import struct

from sealpost.net.shared_table import SharedTable

PROBES = 16
_ENTRY = struct.Struct("=16sdii")  # key hash (zero: empty), window start, current, previous


class BudgetBoard:
    """``slots`` entries shared by every budget; see the module docstring."""

    def __init__(self, slots: int = 4096) -> None:
        self.slots = slots
        self._table = SharedTable("sealpost-budgets", _ENTRY.size * slots)
        self._secret = secrets.token_bytes(16)  # the same in every worker: made before the fork

    def window(self, name: str, limit: int, window: float = 60.0) -> SharedWindow:
        """At most ``limit`` calls per key in any ``window`` seconds, for the whole server."""
        return SharedWindow(self, name, limit, window)

    def take(self, name: str, key: str, now: float, limit: int, window: float) -> int | None:
        digest = hashlib.blake2b(
            f"{name}\0{key}".encode(), key=self._secret, digest_size=16
        ).digest()
        first = int.from_bytes(digest[:4], "little") % self.slots
        runs = [(first + i) % self.slots for i in range(PROBES)]
        with self._table.locked():
            found = free = None
            for slot in runs:
                held, start, _, _ = _ENTRY.unpack_from(self._table.map, slot * _ENTRY.size)
                if held == digest:
                    found = slot
                    break
                if free is None and (not any(held) or now >= start + 2 * window):
                    free = slot
            slot = found if found is not None else free
            if slot is None:
                return max(1, math.ceil(window))  # nothing left to count it with: fail safe
            start, current, previous = self._rolled(slot, digest, found is None, now, window)
            wait = _wait(start, current, previous, now, limit, window)
            if wait is None:
                current += 1
            _ENTRY.pack_into(self._table.map, slot * _ENTRY.size, digest, start, current, previous)
            return wait

    def _rolled(
        self, slot: int, digest: bytes, new: bool, now: float, window: float
    ) -> tuple[float, int, int]:
        begin = math.floor(now / window) * window
        if new:
            return begin, 0, 0
        _, start, current, previous = _ENTRY.unpack_from(self._table.map, slot * _ENTRY.size)
        if begin == start:
            return start, current, previous
        if begin - start == window:
            return begin, 0, current
        return begin, 0, 0


def _wait(
    start: float, current: int, previous: int, now: float, limit: int, window: float
) -> int | None:
    """None when one more call fits the estimate, else the whole seconds (at least 1) until
    it would: later in this window as the previous one's weight fades, or in the next."""
    elapsed = now - start
    if previous * max(0.0, 1 - elapsed / window) + current + 1 <= limit:
        return None
    room = limit - current - 1  # what the previous window's weighted count may still be
    if room >= 0 and previous > 0:
        seconds = window * (1 - room / previous) - elapsed
    else:  # not in this window: in the next, the current count becomes the previous one
        fade = window * (1 - (limit - 1) / current) if current > 0 else 0.0
        seconds = window - elapsed + max(0.0, fade)
    return max(1, math.ceil(seconds - 1e-9))  # 20.000000000000004 s is 20


class SharedWindow:
    """One budget on the board, with ``SlidingWindow``'s contract."""

    def __init__(self, board: BudgetBoard, name: str, limit: int, window: float) -> None:
        self._board = board
        self.name = name
        self.limit = limit
        self.window = window

    def take(self, key: str, now: float) -> int | None:
        """Count one call for ``key``; None when it is within the budget, else the whole
        seconds to wait (at least 1) before the next call would be."""
        return self._board.take(self.name, key, now, self.limit, self.window)
