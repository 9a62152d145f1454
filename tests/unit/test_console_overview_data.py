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
