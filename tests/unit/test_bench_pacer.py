"""``bench.loadgen.Pacer``: the open-loop schedule behind ``--also-at-postfix-rate``."""

from __future__ import annotations

import pytest
from bench.loadgen import Pacer


def test_no_rate_never_waits() -> None:
    pacer = Pacer(0.0, started=100.0)
    assert [pacer.delay(100.0) for _ in range(3)] == [0.0, 0.0, 0.0]


def test_messages_on_time_wait_for_their_slots() -> None:
    pacer = Pacer(10.0, started=100.0)  # a slot every 0.1 s
    assert pacer.delay(100.0) == 0.0
    assert pacer.delay(100.0) == pytest.approx(0.1)
    assert pacer.delay(100.05) == pytest.approx(0.15)


def test_a_late_message_goes_at_once_and_lost_time_is_not_made_up() -> None:
    pacer = Pacer(10.0, started=100.0)
    pacer.delay(100.0)
    assert pacer.delay(101.0) == 0.0  # a second late: go now
    assert pacer.delay(101.0) == pytest.approx(0.1)  # then the next slot, not a burst
