"""The contract for the console's counts of the event stream: grouped range reads over the
``events_time`` index (one query per chart, never one per bucket), so the cost grows with the
events of the asked range, not with the store's history.

Times are epoch seconds, ``from_time`` inclusive and ``to_time`` exclusive; buckets start at
multiples of ``bucket_seconds`` (UTC). Rows come in no particular order and buckets with no
events are absent."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from sealpost.model.event_tally import AttemptCount, EventCount, ReasonCount


class EventTallies(Protocol):
    async def count_events_by_bucket(
        self, from_time: float, to_time: float, bucket_seconds: float, types: Sequence[str]
    ) -> list[EventCount]:
        """Events of ``types`` per (bucket, type)."""

    async def count_attempts_by_bucket(
        self, from_time: float, to_time: float, bucket_seconds: float
    ) -> list[AttemptCount]:
        """``delivery``, ``delay`` and ``bounce`` events per (bucket, TLS outcome, policy
        source); ``key`` is the bucket start."""

    async def count_attempts_by_domain(
        self, from_time: float, to_time: float, limit: int
    ) -> list[AttemptCount]:
        """``delivery``, ``delay`` and ``bounce`` events per (recipient domain, TLS outcome,
        policy source, ``tls.peer_name``), for the ``limit`` domains with the most attempts
        in the range."""

    async def top_reasons(
        self, from_time: float, to_time: float, types: Sequence[str], limit: int
    ) -> list[ReasonCount]:
        """The ``limit`` most frequent ``reason`` texts of events of ``types``, most first
        (ties by reason text)."""
