"""What the console's overview shows, computed from the store: mail accepted, delivered,
deferred and bounced per hour (last 48 hours) and per day (last 30 days); the TLS coverage
of the attempts over the same spans (verified TLS, unverified TLS, plaintext, refused by
policy; see ``model.event_tally``) and over 30 days by policy source; the queue's depth and
oldest message; the most frequent deferral reasons of the last 48 hours.

Every number comes from a handful of grouped store reads (``contracts.event_tallies``,
``contracts.gauges``), six in all, whatever the number of buckets. Buckets are UTC hours and
days; the current (partial) hour and day are the last bucket.

The 30 days' counts are the costly part (a scan of a month of events), and all but the last
day's never change: the event stream is append-only and events are stamped when written. So
``SettledBuckets`` keeps, per store and per process, the rows of the days that ended more
than ``SETTLE`` seconds ago; after the first view, a view reads the current day and the 48
hours only.
"""

from __future__ import annotations

import weakref
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from sealpost.model.event_tally import AttemptCount, EventCount, ReasonCount
from sealpost.model.queue_depth import QueueDepth
from sealpost.store.contracts.event_tallies import EventTallies
from sealpost.store.contracts.gauges import StoreGauges

HOUR = 3600.0
DAY = 86400.0
HOURS_SHOWN = 48
DAYS_SHOWN = 30
TOP_REASONS = 8
SETTLE = 3600.0  # a bucket that ended this long ago gets no more events

# The volume series and the event types each counts.
VOLUME: dict[str, tuple[str, ...]] = {
    "accepted": ("injection",),
    "delivered": ("delivery",),
    "deferred": ("delay",),
    "bounced": ("bounce", "out_of_band"),
}
# The TLS coverage series (outcomes of model.event_tally; "other" is no TLS question).
COVERAGE: dict[str, str] = {
    "verified": "verified TLS",
    "unverified": "unverified TLS",
    "plaintext": "plaintext",
    "refused": "refused by policy",
}
# policy.levels.PolicySource values in words; "" is an event from before policies were kept.
SOURCES: dict[str, str] = {
    "mta-sts": "MTA-STS",
    "dane": "DANE",
    "operator": "config rule",
    "requiretls": "REQUIRETLS",
    "message": "per-message option",
    "default": "opportunistic (default)",
    "": "unknown",
}


class OverviewStore(EventTallies, StoreGauges, Protocol):
    """What the overview reads of the store."""


@dataclass(frozen=True, slots=True)
class Timeline:
    """Counts per bucket: ``labels[i]`` names the bucket starting at ``starts[i]``;
    ``series`` maps a series' name to its counts, one per bucket."""

    starts: tuple[float, ...]
    labels: tuple[str, ...]
    series: dict[str, list[int]]

    def total(self, name: str) -> int:
        return sum(self.series[name])


@dataclass(frozen=True, slots=True)
class SourceRow:
    """TLS coverage of the attempts under one policy source."""

    source: str  # in words (SOURCES)
    counts: dict[str, int]  # COVERAGE key -> attempts

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True, slots=True)
class Overview:
    now: float
    hourly: Timeline  # VOLUME, last 48 hours
    daily: Timeline  # VOLUME, last 30 days
    tls_hourly: Timeline  # COVERAGE, last 48 hours
    tls_daily: Timeline  # COVERAGE, last 30 days
    by_source: tuple[SourceRow, ...]  # COVERAGE over the last 30 days, busiest first
    queue: QueueDepth
    deferrals: tuple[ReasonCount, ...]  # last 48 hours

    @property
    def oldest_age(self) -> float:
        return self.queue.oldest_age(self.now)

    @property
    def verified_share(self) -> float | None:
        """Verified TLS as a share of the 30 days' TLS-relevant attempts (None: none)."""
        total = sum(self.tls_daily.total(k) for k in COVERAGE)
        return None if total == 0 else self.tls_daily.total("verified") / total


def buckets(now: float, width: float, count: int) -> tuple[float, ...]:
    """The starts of the ``count`` buckets of ``width`` seconds ending with ``now``'s."""
    last = (now // width) * width
    return tuple(last - (count - 1 - i) * width for i in range(count))


def label(start: float, width: float) -> str:
    moment = datetime.fromtimestamp(start, UTC)
    return moment.strftime("%H:00") if width < DAY else moment.strftime("%b %d")


Row = EventCount | AttemptCount
Fetch = Callable[[float, float], Awaitable[Sequence[Row]]]


def _start(row: Row) -> float:
    return row.bucket if isinstance(row, EventCount) else float(row.key)


@dataclass
class SettledBuckets:
    """The rows of settled buckets (ended ``SETTLE`` seconds before now), by bucket start;
    a settled bucket with no events is kept as an empty list."""

    kept: dict[float, list[Row]] = field(default_factory=dict)

    async def rows(
        self, starts: Sequence[float], width: float, now: float, fetch: Fetch
    ) -> list[Row]:
        settled = [s for s in starts if s + width <= now - SETTLE]
        missing = [s for s in settled if s not in self.kept]
        if missing:
            found: dict[float, list[Row]] = {s: [] for s in missing}
            for row in await fetch(missing[0], missing[-1] + width):
                if _start(row) in found:
                    found[_start(row)].append(row)
            self.kept.update(found)
        for old in [s for s in self.kept if s < starts[0]]:
            del self.kept[old]
        fresh_from = settled[-1] + width if settled else starts[0]
        fresh = await fetch(fresh_from, starts[-1] + width)
        return [row for s in settled for row in self.kept[s]] + list(fresh)


_CACHES: weakref.WeakKeyDictionary[object, dict[str, SettledBuckets]] = weakref.WeakKeyDictionary()


def _settled(store: object, name: str) -> SettledBuckets:
    return _CACHES.setdefault(store, {}).setdefault(name, SettledBuckets())


async def overview(store: OverviewStore, now: float) -> Overview:
    hours = buckets(now, HOUR, HOURS_SHOWN)
    days = buckets(now, DAY, DAYS_SHOWN)
    types = [t for kinds in VOLUME.values() for t in kinds]
    hour_end = hours[-1] + HOUR
    hourly = await store.count_events_by_bucket(hours[0], hour_end, HOUR, types)
    tls_hourly = await store.count_attempts_by_bucket(hours[0], hour_end, HOUR)

    async def events(start: float, end: float) -> Sequence[Row]:
        return await store.count_events_by_bucket(start, end, DAY, types)

    async def attempts(start: float, end: float) -> Sequence[Row]:
        return await store.count_attempts_by_bucket(start, end, DAY)

    daily_rows = await _settled(store, "events").rows(days, DAY, now, events)
    tls_rows = await _settled(store, "attempts").rows(days, DAY, now, attempts)
    daily = [r for r in daily_rows if isinstance(r, EventCount)]
    tls_daily = [r for r in tls_rows if isinstance(r, AttemptCount)]
    deferrals = await store.top_reasons(hours[0], hour_end, ["delay"], TOP_REASONS)
    return Overview(
        now=now,
        hourly=volume_timeline(hours, HOUR, hourly),
        daily=volume_timeline(days, DAY, daily),
        tls_hourly=coverage_timeline(hours, HOUR, tls_hourly),
        tls_daily=coverage_timeline(days, DAY, tls_daily),
        by_source=by_source(tls_daily),
        queue=await store.queue_depth(),
        deferrals=tuple(deferrals),
    )


def volume_timeline(starts: Sequence[float], width: float, rows: Sequence[EventCount]) -> Timeline:
    index = {start: i for i, start in enumerate(starts)}
    kind_of = {t: name for name, kinds in VOLUME.items() for t in kinds}
    series = {name: [0] * len(starts) for name in VOLUME}
    for row in rows:
        i = index.get(row.bucket)
        if i is not None and row.type in kind_of:
            series[kind_of[row.type]][i] += row.count
    return Timeline(tuple(starts), tuple(label(s, width) for s in starts), series)


def coverage_timeline(
    starts: Sequence[float], width: float, rows: Sequence[AttemptCount]
) -> Timeline:
    index = {start: i for i, start in enumerate(starts)}
    series = {name: [0] * len(starts) for name in COVERAGE}
    for row in rows:
        i = index.get(float(row.key))
        if i is not None and row.outcome in series:
            series[row.outcome][i] += row.count
    return Timeline(tuple(starts), tuple(label(s, width) for s in starts), series)


def by_source(rows: Sequence[AttemptCount]) -> tuple[SourceRow, ...]:
    found: dict[str, dict[str, int]] = {}
    for row in rows:
        if row.outcome not in COVERAGE:
            continue
        name = SOURCES.get(row.policy_source, row.policy_source)
        counts = found.setdefault(name, dict.fromkeys(COVERAGE, 0))
        counts[row.outcome] += row.count
    ranked = sorted(found.items(), key=lambda item: (-sum(item[1].values()), item[0]))
    return tuple(SourceRow(name, counts) for name, counts in ranked)
