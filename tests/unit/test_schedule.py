"""The retry schedule: golden tables of Postfix-like backoff, jitter bounds, give-up, warnings."""

from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sealpost.delivery.schedule import DAY, RetrySchedule

EXACT = RetrySchedule(jitter=0.0)
DEFAULT = RetrySchedule()
MID = "0001a2b3c4d5e6f70819"


def test_defaults_are_postfix_like() -> None:
    assert (DEFAULT.minimal_backoff, DEFAULT.maximal_backoff) == (300.0, 4000.0)
    assert DEFAULT.max_lifetime == 5 * DAY
    assert DEFAULT.delay_warning_after == 4 * 3600.0


# attempts made so far -> base wait before the next one
@pytest.mark.parametrize(
    ("attempts", "wait"),
    [
        (0, 0.0),
        (1, 300.0),
        (2, 600.0),
        (3, 1200.0),
        (4, 2400.0),
        (5, 4000.0),
        (6, 4000.0),
        (50, 4000.0),
        (10_000, 4000.0),
    ],
)
def test_backoff_doubles_up_to_the_maximum(attempts: int, wait: float) -> None:
    assert EXACT.backoff(attempts) == wait
    assert EXACT.delay(attempts, MID) == wait


# golden: created at 1000, each attempt ends when the previous schedule said (jitter off)
GOLDEN = [
    # (attempts, now, next)
    (0, 1000.0, 1000.0),  # never tried: due now
    (1, 1000.0, 1300.0),
    (2, 1300.0, 1900.0),
    (3, 1900.0, 3100.0),
    (4, 3100.0, 5500.0),
    (5, 5500.0, 9500.0),
    (6, 9500.0, 13500.0),
]


@pytest.mark.parametrize(("attempts", "now", "expected"), GOLDEN)
def test_golden_retry_times(attempts: int, now: float, expected: float) -> None:
    assert EXACT.next_attempt(1000.0, attempts, now, MID) == expected


def test_a_whole_lifetime_without_jitter() -> None:
    created, now, attempts = 0.0, 0.0, 0
    times = []
    while (nxt := EXACT.next_attempt(created, attempts, now, MID)) is not None:
        attempts += 1
        times.append(nxt)
        now = nxt
    # 1 immediate + 4 doubling (300..2400) + capped 4000 s steps, the last pulled to expiry
    assert times[:6] == [0.0, 300.0, 900.0, 2100.0, 4500.0, 8500.0]
    assert times[-1] == 5 * DAY
    assert all(b - a <= 4000.0 for a, b in pairwise(times))
    assert len(times) == 112


def test_the_last_retry_is_pulled_in_to_the_expiry_time() -> None:
    expires = 5 * DAY
    assert EXACT.next_attempt(0.0, 30, expires - 100.0, MID) == expires
    assert EXACT.next_attempt(0.0, 31, expires, MID) is None
    assert EXACT.next_attempt(0.0, 31, expires + 1.0, MID) is None


def test_a_message_older_than_its_lifetime_is_given_up_even_untried() -> None:
    assert DEFAULT.next_attempt(0.0, 0, 6 * DAY, MID) is None


# golden with the default 10 % jitter for one fixed message id (pins the hash function)
@pytest.mark.parametrize(
    ("attempts", "delay"),
    [(1, 327.749), (2, 643.678), (3, 1284.082), (4, 2605.991), (5, 3885.659), (8, 3634.973)],
)
def test_golden_jittered_delays(attempts: int, delay: float) -> None:
    assert round(DEFAULT.delay(attempts, MID), 3) == delay


@given(
    attempts=st.integers(min_value=1, max_value=200),
    message_id=st.text(min_size=1, max_size=30),
)
def test_jitter_stays_inside_the_configured_bounds(attempts: int, message_id: str) -> None:
    base = DEFAULT.backoff(attempts)
    delay = DEFAULT.delay(attempts, message_id)
    assert DEFAULT.minimal_backoff <= delay <= DEFAULT.maximal_backoff
    assert base * 0.9 - 1e-9 <= delay <= base * 1.1 + 1e-9
    assert delay == DEFAULT.delay(attempts, message_id)  # deterministic


def test_a_burst_does_not_retry_in_lockstep() -> None:
    ids = [f"msg{i:04d}" for i in range(200)]
    first = [DEFAULT.next_attempt(0.0, 1, 0.0, i) for i in ids]
    capped = [DEFAULT.next_attempt(0.0, 9, 0.0, i) for i in ids]
    for times, low, high in ((first, 300.0, 330.0), (capped, 3600.0, 4000.0)):
        assert all(t is not None and low <= t <= high for t in times)
        assert len({round(t or 0.0) for t in times}) > 20  # spread over many seconds
        assert max(t or 0.0 for t in times) - min(t or 0.0 for t in times) > 0.5 * (high - low)


def test_equal_bounds_mean_no_jitter() -> None:
    fixed = RetrySchedule(minimal_backoff=600.0, maximal_backoff=600.0)
    assert {fixed.delay(a, f"m{a}") for a in range(1, 20)} == {600.0}


# (created, now, already_warned) -> warn?
WARN_TABLE = [
    (0.0, 4 * 3600.0 - 1, False, False),
    (0.0, 4 * 3600.0, False, True),
    (0.0, 2 * DAY, False, True),
    (0.0, 2 * DAY, True, False),  # once per message
    (0.0, 5 * DAY, False, False),  # expired: the bounce says it instead
]


@pytest.mark.parametrize(("created", "now", "warned", "expected"), WARN_TABLE)
def test_delay_warning(created: float, now: float, warned: bool, expected: bool) -> None:
    assert DEFAULT.should_warn_delay(created, now, warned) is expected


def test_delay_warnings_can_be_disabled() -> None:
    off = RetrySchedule(delay_warning_after=None)
    assert not off.should_warn_delay(0.0, 3 * DAY, False)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"minimal_backoff": 0},
        {"minimal_backoff": 500, "maximal_backoff": 400},
        {"max_lifetime": 0},
        {"delay_warning_after": 0},
        {"jitter": 1.0},
        {"jitter": -0.1},
    ],
)
def test_nonsense_settings_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RetrySchedule(**kwargs)
