"""The inbound benchmark cases of issue 6, and how long each measurement may run.

Owns the vocabulary of ``--cases``/``--concurrency``: (a) plaintext, one message per
connection; (b) STARTTLS (RFC 3207), one message per connection; (c) STARTTLS, 50 messages
per connection. Every message is ~5 KB, one recipient, to a domain the server is final
destination for.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Case:
    """One inbound workload."""

    key: str
    title: str
    starttls: bool
    messages_per_connection: int


CASES: dict[str, Case] = {
    "a": Case("a", "plaintext, 1 msg/connection", starttls=False, messages_per_connection=1),
    "b": Case("b", "STARTTLS, 1 msg/connection", starttls=True, messages_per_connection=1),
    "c": Case("c", "STARTTLS, 50 msgs/connection", starttls=True, messages_per_connection=50),
}
CONCURRENCIES: tuple[int, ...] = (1, 10, 50)


@dataclass(frozen=True)
class Bounds:
    """Each measurement stops at ``max_messages`` or after ``time_limit`` seconds."""

    time_limit: float
    max_messages: int


FULL = Bounds(time_limit=20.0, max_messages=20_000)
QUICK = Bounds(time_limit=2.0, max_messages=2_000)


def parse_cases(text: str) -> tuple[Case, ...]:
    """``"a,b"`` or ``"all"`` -> cases, in the order given; unknown keys raise ValueError."""
    if text.strip().lower() == "all":
        return tuple(CASES.values())
    picked = []
    for key in (part.strip().lower() for part in text.split(",") if part.strip()):
        if key not in CASES:
            raise ValueError(f"unknown case {key!r}; choose from {', '.join(CASES)} or all")
        picked.append(CASES[key])
    if not picked:
        raise ValueError("no case given")
    return tuple(picked)


def parse_concurrencies(text: str) -> tuple[int, ...]:
    """``"1,10,50"`` -> (1, 10, 50); every value must be a positive integer."""
    values = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        if not part.isdigit() or int(part) < 1:
            raise ValueError(f"concurrency must be a positive integer, got {part!r}")
        values.append(int(part))
    if not values:
        raise ValueError("no concurrency given")
    return tuple(values)
