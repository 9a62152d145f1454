"""The per-key sliding window behind ``429`` on ``GET /api/v1/tls-check``."""

from __future__ import annotations

from sealpost.api.rate_limit import SlidingWindow


def test_budget_per_key_and_the_wait_until_the_oldest_call_leaves_the_window():
    window = SlidingWindow(3, 60.0)
    assert [window.take("a", t) for t in (0.0, 10.0, 20.0)] == [None, None, None]
    assert window.take("a", 30.0) == 30, "the call at 0 s leaves the window at 60 s"
    assert window.take("b", 30.0) is None, "another key has its own budget"
    assert window.take("a", 59.5) == 1, "a fraction of a second still says 1"
    assert window.take("a", 60.0) is None, "refused calls do not count"
    assert window.take("a", 61.0) == 9


def test_idle_keys_are_forgotten():
    window = SlidingWindow(2, 60.0)
    for n in range(100):
        window.take(f"key{n}", 0.0)
    window.take("late", 120.0)
    assert list(window._calls) == ["late"]
