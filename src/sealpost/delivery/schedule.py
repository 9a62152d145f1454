"""The retry schedule: when a deferred message is tried again, when it is given up (pure).

Like Postfix (minimal_backoff_time 300 s, maximal_backoff_time 4000 s, maximal_queue_lifetime
5 days): the first retry comes ``minimal_backoff`` after the first failed attempt, each later
one waits twice as long up to ``maximal_backoff``. RFC 5321 section 4.5.4.1 asks for at least
30 minutes between retries in general and a give-up time of at least 4-5 days; the defaults
retry sooner at first, as Postfix does, and honour the give-up time.

A small jitter, derived from the message id and the attempt number, spreads a burst of
messages deferred together so they do not all retry in the same second. It is deterministic
(the same inputs give the same time, so tests and restarts agree) and stays inside
[minimal_backoff, maximal_backoff]. The last retry is pulled in to the expiry time, so a
message gets one final attempt at the end of its lifetime rather than none.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

DAY = 86400.0


@dataclass(frozen=True, slots=True)
class RetrySchedule:
    """Retry timing; every value is in seconds. ``delay_warning_after=None`` sends no notices."""

    minimal_backoff: float = 300.0
    maximal_backoff: float = 4000.0
    max_lifetime: float = 5 * DAY
    delay_warning_after: float | None = 4 * 3600.0
    jitter: float = 0.1  # fraction of the backoff that ids spread over

    def __post_init__(self) -> None:
        if self.minimal_backoff <= 0:
            raise ValueError("minimal_backoff must be positive")
        if self.maximal_backoff < self.minimal_backoff:
            raise ValueError("maximal_backoff must be at least minimal_backoff")
        if self.max_lifetime <= 0:
            raise ValueError("max_lifetime must be positive")
        if self.delay_warning_after is not None and self.delay_warning_after <= 0:
            raise ValueError("delay_warning_after must be positive (or None for no notices)")
        if not 0 <= self.jitter < 1:
            raise ValueError("jitter must be in [0, 1)")

    def backoff(self, attempts: int) -> float:
        """The base wait after the ``attempts``-th failed attempt (1 = the first), no jitter."""
        if attempts <= 0:
            return 0.0
        base = self.minimal_backoff
        for _ in range(attempts - 1):
            base *= 2
            if base >= self.maximal_backoff:
                return self.maximal_backoff
        return min(base, self.maximal_backoff)

    def delay(self, attempts: int, message_id: str) -> float:
        """The wait after the ``attempts``-th failed attempt, with this message's jitter.

        It lies in ``[base, base * (1 + jitter)]`` clipped to ``maximal_backoff``; at the cap
        the window slides down to ``[maximal * (1 - jitter), maximal]`` (never below
        ``minimal_backoff``), so capped retries are spread too.
        """
        base = self.backoff(attempts)
        if base == 0.0:
            return 0.0
        high = min(base * (1 + self.jitter), self.maximal_backoff)
        low = max(self.minimal_backoff, high - base * self.jitter)
        return low + (high - low) * _fraction(message_id, attempts)

    def expires_at(self, created_at: float) -> float:
        """When the message is given up if it is still not delivered."""
        return created_at + self.max_lifetime

    def next_attempt(
        self, created_at: float, attempts: int, now: float, message_id: str
    ) -> float | None:
        """When to try again after ``attempts`` attempts, the last one ending at ``now``.

        ``attempts == 0`` means never tried: due now. ``None`` means give up (bounce): the
        message has outlived ``max_lifetime``.
        """
        expires = self.expires_at(created_at)
        if now >= expires:
            return None
        if attempts <= 0:
            return now
        return min(now + self.delay(attempts, message_id), expires)

    def should_warn_delay(self, created_at: float, now: float, already_warned: bool) -> bool:
        """Whether to send the sender a "delayed" DSN now (once per message, before expiry)."""
        if already_warned or self.delay_warning_after is None:
            return False
        age = now - created_at
        return self.delay_warning_after <= age < self.max_lifetime


def _fraction(message_id: str, attempts: int) -> float:
    """A stable number in [0, 1) from the message id and attempt number."""
    digest = hashlib.blake2b(f"{message_id}/{attempts}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64
