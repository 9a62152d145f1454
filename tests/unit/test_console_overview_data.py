"""The overview's numbers from a memory store: buckets by hour and day, TLS coverage by
outcome and policy source, the queue and the top deferral reasons."""

from __future__ import annotations

import asyncio

from sealpost.console.overview_data import DAY, HOUR, buckets, overview
from sealpost.model.events import EventRecord
from sealpost.store import open_store

NOW = 1_760_000_400.0 + 1800  # half past an hour


def _attempt(kind, at, version=None, verified=None, source="default", **extra):
    tls = {"version": version, "verified": verified, "policy_source": source}
    return EventRecord(kind, "m", at, {"tls": tls, "recipient_domain": "a.test", **extra})


def test_buckets_end_with_the_current_one():
    hours = buckets(NOW, HOUR, 3)
    assert hours == (NOW - 1800 - 2 * HOUR, NOW - 1800 - HOUR, NOW - 1800)


def test_overview_counts_volume_and_tls_coverage():
    events = [
        EventRecord("injection", "m", NOW - 10, {}),
        EventRecord("injection", "m", NOW - HOUR, {}),
        _attempt("delivery", NOW - 5, "TLSv1.3", True, "mta-sts"),
        _attempt("delivery", NOW - HOUR, None, None, "default"),
        _attempt("delay", NOW - 20, None, None, "dane", tlsrpt_failures=["x"], reason="TLS"),
        _attempt("delay", NOW - 30, reason="busy"),
        _attempt("delay", NOW - 40, reason="busy"),
        _attempt("bounce", NOW - 3 * DAY, reason="gone"),
        EventRecord("injection", "m", NOW - 40 * DAY, {}),  # before the 30 days
    ]

    async def main():
        store = open_store("memory://")
        await store.add_events(events)
        return await overview(store, NOW)

    view = asyncio.run(main())
    assert len(view.hourly.starts) == 48 and len(view.daily.starts) == 30
    assert view.hourly.series["accepted"][-2:] == [1, 1]
    assert view.hourly.series["deferred"][-1] == 3
    assert view.hourly.total("bounced") == 0
    assert view.daily.total("bounced") == 1 and view.daily.total("accepted") == 2
    assert view.tls_daily.total("verified") == 1
    assert view.tls_daily.total("plaintext") == 1
    assert view.tls_daily.total("refused") == 1
    assert view.verified_share == 1 / 3
    sources = {row.source: row.counts for row in view.by_source}
    assert sources["MTA-STS"]["verified"] == 1
    assert sources["DANE"]["refused"] == 1
    assert sources["opportunistic (default)"]["plaintext"] == 1
    assert [(r.reason, r.count) for r in view.deferrals] == [("busy", 2), ("TLS", 1)]
    assert view.queue.queued == 0 and view.oldest_age == 0


def test_settled_days_are_read_once_and_the_current_day_every_time():
    from sealpost.console.overview_data import SETTLE, SettledBuckets
    from sealpost.model.event_tally import EventCount

    days = buckets(NOW, DAY, 3)
    calls: list[tuple[float, float]] = []

    async def fetch(start, end):
        calls.append((start, end))
        return [EventCount(s, "delivery", 1) for s in days if start <= s < end]

    cache = SettledBuckets()

    async def main():
        first = await cache.rows(days, DAY, NOW, fetch)
        second = await cache.rows(days, DAY, NOW + 60, fetch)
        return first, second

    first, second = asyncio.run(main())
    assert len(first) == len(second) == 3
    settled_end = days[1] + DAY  # NOW is 9.5 hours into its day: the two before it settled
    assert days[2] + DAY > NOW - SETTLE
    assert calls == [(days[0], settled_end), (settled_end, days[2] + DAY), (days[2], days[2] + DAY)]
