"""The console's counts of the event stream in memory (``contracts.event_tallies``): a scan
of the list, with ``model.event_tally.attempt_outcome`` as the classification."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence

from sealpost.model.event_tally import (
    ATTEMPT_TYPES,
    AttemptCount,
    EventCount,
    ReasonCount,
    attempt_outcome,
    bucket_of,
)
from sealpost.model.events import EventRecord
from sealpost.store.memory.events import MemoryEvents


class MemoryTallies(MemoryEvents):
    """``EventTallies``."""

    def _in_range(self, start: float, end: float, types: Sequence[str]) -> Iterator[EventRecord]:
        return (e for e in self._events if start <= e.timestamp < end and e.type in types)

    async def count_events_by_bucket(
        self, from_time: float, to_time: float, bucket_seconds: float, types: Sequence[str]
    ) -> list[EventCount]:
        counts = Counter(
            (bucket_of(e.timestamp, bucket_seconds), e.type)
            for e in self._in_range(from_time, to_time, types)
        )
        return [EventCount(k, t, n) for (k, t), n in counts.items()]

    async def count_attempts_by_bucket(
        self, from_time: float, to_time: float, bucket_seconds: float
    ) -> list[AttemptCount]:
        counts = Counter(
            (bucket_of(e.timestamp, bucket_seconds), *_outcome(e))
            for e in self._in_range(from_time, to_time, ATTEMPT_TYPES)
        )
        return [AttemptCount(k, o, s, n) for (k, o, s), n in counts.items()]

    async def count_attempts_by_domain(
        self, from_time: float, to_time: float, limit: int
    ) -> list[AttemptCount]:
        counts = Counter(
            (str(e.fields.get("recipient_domain") or ""), *_outcome(e), _peer(e))
            for e in self._in_range(from_time, to_time, ATTEMPT_TYPES)
        )
        totals: Counter[str] = Counter()
        for (domain, _, _, _), n in counts.items():
            totals[domain] += n
        top = set(sorted(totals, key=lambda d: (-totals[d], d))[: max(limit, 0)])
        return [AttemptCount(d, o, s, n, p) for (d, o, s, p), n in counts.items() if d in top]

    async def top_reasons(
        self, from_time: float, to_time: float, types: Sequence[str], limit: int
    ) -> list[ReasonCount]:
        counts = Counter(
            str(e.fields["reason"])
            for e in self._in_range(from_time, to_time, types)
            if e.fields.get("reason") is not None
        )
        ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
        return [ReasonCount(r, n) for r, n in ranked[: max(limit, 0)]]


def _outcome(event: EventRecord) -> tuple[str, str]:
    tls = event.fields.get("tls") or {}
    return attempt_outcome(event.type, event.fields), str(tls.get("policy_source") or "")


def _peer(event: EventRecord) -> str:
    return str((event.fields.get("tls") or {}).get("peer_name") or "")
