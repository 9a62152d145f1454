"""The API's request budgets for the whole server (``workers.budgets``): one count across
real forked processes, the sliding estimate and its Retry-After, budgets and keys kept
apart, entries reused once idle, and the fail-safe answer of a full run of probes."""

from __future__ import annotations

from sealpost.workers.budgets import PROBES, BudgetBoard, SharedWindow
from tests.forked import in_child


def admitted(calls: SharedWindow, key: str, now: float) -> None:
    assert calls.take(key, now) is None


def test_one_budget_for_every_process():
    board = BudgetBoard()
    calls = board.window("tls-check", 3)
    assert calls.take("key-1", 1000.0) is None
    assert in_child(lambda: admitted(calls, "key-1", 1000.0)) == 0
    assert in_child(lambda: admitted(calls, "key-1", 1000.0)) == 0
    assert calls.take("key-1", 1000.0) is not None, "the children's calls were counted"
    assert in_child(lambda: admitted(calls, "key-1", 1000.0)) == 1, "refused in a child too"


def test_retry_after_says_when_the_estimate_admits_one_more():
    board = BudgetBoard()
    calls = board.window("tls-check", 3)
    # The fixed window began at 960 s; three calls at 1000 s fill it.
    assert [calls.take("k", 1000.0) for _ in range(3)] == [None, None, None]
    assert calls.take("k", 1000.0) == 40, "next window at 1020, where 3 weigh 2 at 1040"
    assert calls.take("k", 1039.0) == 1
    assert calls.take("k", 1040.0) is None
    assert calls.take("k", 1040.0) == 20, "with this one counted, 3 must weigh 1: at 1060"
    assert calls.take("k", 1200.0) is None, "old windows are forgotten"


def test_budgets_and_keys_are_counted_apart():
    board = BudgetBoard()
    checks, logins = board.window("tls-check", 1), board.window("console-login", 1)
    assert checks.take("a", 5.0) is None
    assert checks.take("b", 5.0) is None
    assert logins.take("a", 5.0) is None
    assert checks.take("a", 5.0) is not None


def test_a_full_run_of_probes_fails_safe_and_idle_entries_are_reused():
    board = BudgetBoard(slots=PROBES)  # one run: PROBES keys fill the whole table
    calls = board.window("console-login", 5)
    assert all(calls.take(f"192.0.2.{n}", 10.0) is None for n in range(PROBES))
    assert calls.take("198.51.100.1", 10.0) == 60, "cannot be counted: refused for a window"
    assert calls.take("192.0.2.0", 10.0) is None, "keys already counted go on"
    assert calls.take("198.51.100.1", 130.0) is None, "both windows over: entries reused"


def test_a_budget_filled_early_in_its_window_waits_into_the_next():
    """Three calls at 961 s, a second into the window: in the next window (1020 s) they still
    weigh 3, and 2 (room for one more) only at 1040 s: 79 s, more than the 60 s window."""
    calls = BudgetBoard().window("console-login", 3)
    assert [calls.take("192.0.2.1", 961.0) for _ in range(3)] == [None, None, None]
    assert calls.take("192.0.2.1", 961.0) == 79
    assert calls.take("192.0.2.1", 1039.5) == 1
    assert calls.take("192.0.2.1", 1040.0) is None
