"""The limit table shared by worker processes (``inbound.shared_limits``): counts that hold
for the whole server across real forked processes, a dead worker's connections forgotten,
a lock that a ``kill -9`` cannot leave taken, and the fail-safe answer of a full table."""

from __future__ import annotations

import os
import signal

from sealpost.inbound.limits import AuthFailureGuard, ConnectionLimiter
from sealpost.inbound.shared_limits import LimitBoard, Refusal
from tests.forked import in_child


def _board(workers: int = 2, max_total: int = 100) -> LimitBoard:
    return LimitBoard(workers, max_total, auth_window=300.0, rate_window=60.0)


def test_per_ip_cap_holds_across_processes():
    board = _board()
    limiters = [ConnectionLimiter.with_exempt(100, 3, 0, [], board=board, worker=w) for w in (0, 1)]
    assert limiters[0].acquire("192.0.2.7", 1.0) is None
    assert in_child(lambda: limiters[1].acquire("192.0.2.7", 1.0)) == 0
    assert in_child(lambda: limiters[1].acquire("192.0.2.7", 1.0)) == 0
    assert board.open_from("192.0.2.7") == 3  # the children's counts are in the shared table
    refused = limiters[0].acquire("192.0.2.7", 1.0)
    assert refused is not None and refused.enhanced == "4.7.0"
    assert limiters[0].acquire("192.0.2.8", 1.0) is None  # another IP is unaffected
    assert board.total() == 4


def test_a_dead_workers_connections_are_forgotten():
    board = _board()
    limiter = ConnectionLimiter.with_exempt(100, 2, 0, [], board=board, worker=1)
    assert limiter.acquire("192.0.2.9") is None and limiter.acquire("192.0.2.9") is None
    assert limiter.acquire("192.0.2.9") is not None
    board.forget_worker(1)
    assert board.total() == 0 and board.open_from("192.0.2.9") == 0
    assert limiter.acquire("192.0.2.9") is None


def test_release_and_session_over_free_the_slots():
    board = _board()
    limiter = ConnectionLimiter.with_exempt(3, 1, 0, ["127.0.0.0/8"], board=board, worker=0)
    assert limiter.acquire("192.0.2.1") is None
    limiter.session_over("192.0.2.1")  # QUIT answered: the IP may connect again
    assert limiter.acquire("192.0.2.1") is None
    limiter.release("192.0.2.1", ip_slot=False)
    assert board.total() == 1 and board.open_from("192.0.2.1") == 1
    for _ in range(2):
        assert limiter.acquire("127.0.0.1") is None  # exempt: no per-IP cap
    assert limiter.acquire("127.0.0.1").enhanced == "4.3.2"  # the total still holds
    assert board.open_from("127.0.0.1") == 0


def test_rate_per_ip_is_shared_and_decays():
    board = _board()
    limiters = [
        ConnectionLimiter.with_exempt(100, 100, 4, [], board=board, worker=w) for w in (0, 1)
    ]
    for n in range(4):
        assert limiters[n % 2].acquire("198.51.100.1", 600.0 + n) is None
    assert limiters[1].acquire("198.51.100.1", 605.0).enhanced == "4.7.0"
    assert limiters[0].acquire("198.51.100.2", 605.0) is None
    assert limiters[0].acquire("198.51.100.1", 725.0) is None  # two windows later


def test_auth_failures_are_counted_for_the_whole_server():
    board = _board()
    guards = [AuthFailureGuard(3, 300.0, board=board) for _ in range(2)]
    assert in_child(lambda: guards[1].record_failure("203.0.113.5", 900.0)) == 0
    guards[0].record_failure("203.0.113.5", 901.0)
    assert not guards[1].locked_out("203.0.113.5", 902.0)
    guards[1].record_failure("203.0.113.5", 902.0)
    assert guards[0].locked_out("203.0.113.5", 903.0)
    assert not guards[0].locked_out("203.0.113.6", 903.0)
    assert not guards[0].locked_out("203.0.113.5", 1500.0)


def test_a_worker_killed_holding_the_lock_does_not_wedge_the_others():
    board = _board()

    def die_locked() -> None:
        with board._locked():
            os.kill(os.getpid(), signal.SIGKILL)

    assert in_child(die_locked) == -signal.SIGKILL
    assert (
        board.acquire(
            "192.0.2.3", worker=0, exempt=False, now=0.0, max_total=9, max_per_ip=9, rate_per_ip=0
        )
        is None
    )


def test_a_full_table_refuses_with_a_temporary_reply():
    board = _board(max_total=10)  # 1024 slots
    limiter = ConnectionLimiter.with_exempt(100_000, 5, 0, [], board=board, worker=0)
    replies = [limiter.acquire(f"10.{n >> 8 & 255}.{n & 255}.1") for n in range(1100)]
    full = [r for r in replies if r is not None]
    assert full, "1100 distinct open IPs cannot fit in 1024 slots"
    assert all(r.code == 421 and r.enhanced == "4.3.2" for r in full)
    assert board.total() == len(replies) - len(full)
    guard = AuthFailureGuard(3, 300.0, board=board)
    locked = [guard.locked_out(f"172.16.{n >> 8 & 255}.{n & 255}", 0.0) for n in range(200)]
    assert any(locked), "an IP the full table cannot count is treated as locked out"
    assert Refusal.FULL.value == "full"
